import Foundation
import ArgumentParser
import RealtimeAudio
import SoundFile

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert an audio file to a Realtime API wire format, streaming in chunks.",
        discussion: """
            The output container follows OUTPUT's extension: .wav (WAV with the chosen encoding), .flac (16-bit), \
            .raw/.pcm/.ulaw/.alaw (headerless; .ulaw and .alaw imply their format). Multi-channel input is mixed \
            down to mono. The output is written to a temporary file beside OUTPUT and renamed when complete, so a \
            failed or interrupted run leaves OUTPUT untouched.
            """
    )

    @Argument(help: "The file to read: anything libsndfile reads, or headerless .raw/.pcm/.ulaw/.alaw.")
    var input: String

    @Argument(help: "The file to write; its extension picks the container.")
    var output: String

    @Option(help: "Output encoding: pcm16, g711_ulaw, g711_alaw or float (default: from the extension, else pcm16).")
    var format: String?

    @Option(parsing: .unconditional, help: "Output sample rate in Hz (default: the input's rate).")
    var rate: Int?

    @Option(help: "Resampler preset: fast, voice or high (default: voice).")
    var quality: String = ResamplerQuality.voice.rawValue

    @Option(parsing: .unconditional, help: "Playback speed 0.25...1.5, pitch kept (default: 1, a copy). Applied at the input rate, before --rate.")
    var speed: Double = 1

    /// Streams in 20 ms chunks and writes the speed scaler's latency trace there as JSON (for the speed scorer).
    @Option(name: .customLong("latency-stats"), help: .hidden)
    var latencyStats: String?

    @Flag(help: "Replace OUTPUT even if it is read-only (never an input).")
    var force = false

    @OptionGroup var inputOptions: InputOptions

    func run() throws {
        try Console.run(convert)
    }

    private func convert() throws {
        let (kind, outputFormat) = try FileKind.resolveOutput(output, format: format)

        let preset = try ResamplerQuality(name: quality)
        if let rate { _ = try SampleRate(hertz: rate) }
        _ = try Numbers.check(speed, "--speed", in: SpeedScaler.speedRange)
        try Outputs.check(output, inputs: [("input", input)], force: force)
        if let latencyStats { try Outputs.check(latencyStats, inputs: [("input", input), ("output", output)]) }
        let reader = try inputOptions.open(input)
        let inputRate = reader.info.sampleRate
        let outputRate = rate ?? inputRate
        if outputFormat.g711 != nil, outputRate != AudioFormat.g711_ulaw.defaultSampleRate.hertz {
            Console.warn("writing \(outputFormat.rawValue) at \(outputRate) Hz; G.711 is 8000 Hz on the wire")
        }
        let resampler = outputRate == inputRate ? nil
            : try Resampler(from: SampleRate(hertz: inputRate), to: SampleRate(hertz: outputRate), quality: preset)
        let scaler = speed == 1 ? nil : try SpeedScaler(sampleRate: SampleRate(hertz: inputRate), speed: speed)

        Interruption.install()
        let writer = try SoundFileWriter(path: output, container: kind.container, encoding: outputFormat.encoding,
                                         sampleRate: outputRate)
        let sink = FileSink(writer: writer, format: outputFormat)
        var stage = ConversionStage(channels: reader.info.channels, scaler: scaler, resampler: resampler,
                                    chunkFrames: latencyStats == nil ? ConversionStage.chunkFrames : inputRate / 50,
                                    tracesLatency: latencyStats != nil)
        let totalFrames = reader.info.frames
        var lastShown = -1
        while true {
            if let signal = Interruption.received {
                writer.discard()
                Console.clearProgress()
                throw UserError("interrupted by signal \(signal); '\(output)' was not written")
            }
            let frames = try stage.pump(from: reader, to: sink.write)
            if frames == 0 { break }
            if totalFrames > 0 {
                let percent = Int(writer.framesWritten * 100 / totalFrames)
                if percent != lastShown {
                    Console.progress("converting: \(percent) %")
                    lastShown = percent
                }
            }
        }
        try stage.finish(to: sink.write)
        Console.clearProgress()
        try writer.commit()
        if let latencyStats { try (stage.trace ?? LatencyTrace()).write(to: latencyStats, rate: inputRate, speed: speed) }
    }
}

/// Input fed and stretched output made after each chunk: the streaming latency the speed scorer reads.
struct LatencyTrace {
    var fed: [Int] = []
    var made: [Int] = []

    /// Writes `first_out_ms` (input fed before the first output) and the lag `fed - speed × made` in ms (median,
    /// max, min over the part of the stream at least 0.5 s from either end), in the speed scorer's format.
    func write(to path: String, rate: Int, speed: Double) throws {
        let ms = { (samples: Double) in samples * 1000 / Double(rate) }
        let first = zip(fed, made).first { $0.1 > 0 }.map { ms(Double($0.0)) } ?? -1
        let total = Double(fed.last ?? 0)
        let lags = zip(fed, made).filter { Double($0.0) >= 0.5 * Double(rate) && Double($0.0) <= total - 0.5 * Double(rate) }
            .map { ms(Double($0.0) - speed * Double($0.1)) }.sorted()
        let median = lags.isEmpty ? -1 : lags[lags.count / 2]
        let text = "{\"first_out_ms\": \(first), \"lag_med_ms\": \(median), \"lag_max_ms\": \(lags.last ?? -1), \"lag_min_ms\": \(lags.first ?? -1)}\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

/// Where a conversion's mono Float output goes: encoded into a file, or played.
typealias SampleSink = (UnsafeBufferPointer<Float>) throws -> Void

/// The per-chunk path of `convert` and `play`: read interleaved Float, mix to mono, change speed and rate (the
/// library's ``SpeedResampler``, the chain the outbound pipeline runs), hand to a sink. Its buffers are sized once,
/// so memory stays flat whatever the file's length.
struct ConversionStage {
    static let chunkFrames = 4096

    let channels: Int
    let chunkFrames: Int
    private var chain: SpeedResampler
    private var interleaved: [Float]
    private var mono: [Float]
    private var converted: [Float]
    /// Recorded only when asked (`--latency-stats`): it grows with the stream.
    private(set) var trace: LatencyTrace?

    init(channels: Int, scaler: SpeedScaler? = nil, resampler: Resampler?, chunkFrames: Int = Self.chunkFrames,
         tracesLatency: Bool = false) {
        self.channels = channels
        trace = tracesLatency ? LatencyTrace() : nil
        self.chunkFrames = chunkFrames
        chain = SpeedResampler(scaler: scaler, resampler: resampler, maximumChunk: chunkFrames)
        interleaved = [Float](repeating: 0, count: chunkFrames * channels)
        mono = [Float](repeating: 0, count: chunkFrames)
        // The chain's bound, valid in every state and for its drain: a chunk or the final drain always fits.
        converted = [Float](repeating: 0, count: chain.maximumOutputCount(forInput: chunkFrames))
    }

    /// Moves one chunk; returns the input frames moved, 0 at the end of the input.
    mutating func pump(from reader: SoundFileReader, to sink: SampleSink) throws -> Int {
        let frames = try interleaved.withUnsafeMutableBufferPointer { try reader.read(into: $0) }
        guard frames > 0 else { return 0 }
        let channels = self.channels
        interleaved.withUnsafeBufferPointer { src in
            mono.withUnsafeMutableBufferPointer { mono in
                _ = Downmix.mono(UnsafeBufferPointer(rebasing: src[..<(frames * channels)]), channels: channels, into: mono)
            }
        }
        let input = mono
        try input.withUnsafeBufferPointer { try push(UnsafeBufferPointer(rebasing: $0[..<frames]), to: sink) }
        return frames
    }

    /// Moves mono samples that come from elsewhere than a file (a capture device), in chunks of any size.
    mutating func push(_ samples: UnsafeBufferPointer<Float>, to sink: SampleSink) throws {
        var rest = samples
        while !rest.isEmpty {
            let piece = UnsafeBufferPointer(rebasing: rest[..<min(rest.count, chunkFrames)])
            let (used, made) = converted.withUnsafeMutableBufferPointer { chain.process(piece, into: $0) }
            let block = converted
            try block.withUnsafeBufferPointer { try sink(UnsafeBufferPointer(rebasing: $0[..<made])) }
            rest = UnsafeBufferPointer(rebasing: rest[used...])
        }
        if trace != nil, let scaler = chain.scaler {
            trace?.fed.append(scaler.inputCount)
            trace?.made.append(scaler.outputCount)
        }
    }

    /// Drains the scaler's and then the resampler's tail at the end of the input.
    mutating func finish(to sink: SampleSink) throws {
        let n = converted.withUnsafeMutableBufferPointer { chain.finish(into: $0) }
        let block = converted
        try block.withUnsafeBufferPointer { try sink(UnsafeBufferPointer(rebasing: $0[..<n])) }
    }
}

/// Encodes Float samples (interleaved, any channel count) in an output format and writes them to a file.
final class FileSink {
    let writer: SoundFileWriter
    let format: OutputFormat
    private var int16: [Int16] = []
    private var codes: [UInt8] = []

    init(writer: SoundFileWriter, format: OutputFormat) {
        self.writer = writer
        self.format = format
    }

    func write(_ samples: UnsafeBufferPointer<Float>) throws {
        let count = samples.count
        guard count > 0 else { return }
        switch format {
        case .float:
            try writer.write(samples)
        case .pcm16:
            if int16.count < count { int16 = [Int16](repeating: 0, count: count) }
            try int16.withUnsafeMutableBufferPointer { out in
                PCM16.convert(samples, into: out)
                try writer.write(UnsafeBufferPointer(rebasing: out[..<count]))
            }
        case .g711_ulaw, .g711_alaw:
            if codes.count < count { codes = [UInt8](repeating: 0, count: count) }
            let codec = format.g711!
            try codes.withUnsafeMutableBufferPointer { out in
                codec.encode(samples, into: out)
                try writer.write(encoded: UnsafeBufferPointer(rebasing: out[..<count]))
            }
        }
    }
}
