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

    @Option(help: "Output sample rate in Hz (default: the input's rate).")
    var rate: Int?

    @Option(help: "Resampler preset: fast, voice or high (default: voice).")
    var quality: String = ResamplerQuality.voice.rawValue

    @OptionGroup var inputOptions: InputOptions

    func run() throws {
        try Console.run(convert)
    }

    private func convert() throws {
        guard let kind = FileKind(path: output) else {
            let valid = FileKind.extensions.map { ".\($0)" }.joined(separator: ", ")
            throw UserError("cannot tell the container of '\(output)' from its extension (valid: \(valid))")
        }
        let outputFormat = try format.map(OutputFormat.init(parsing:)) ?? kind.impliedFormat ?? .pcm16
        if let implied = kind.impliedFormat, implied != outputFormat {
            throw UserError("'\(output)' is a \(implied.rawValue) file by its extension, but --format is \(outputFormat.rawValue)")
        }
        if kind.container == .flac, outputFormat != .pcm16 {
            throw UserError("FLAC output is 16-bit: use --format pcm16 (or a .wav output for \(outputFormat.rawValue))")
        }

        let preset = try ResamplerQuality(name: quality)
        if let rate { _ = try SampleRate(hertz: rate) }
        let reader = try inputOptions.open(input)
        let inputRate = reader.info.sampleRate
        let outputRate = rate ?? inputRate
        if outputFormat.g711 != nil, outputRate != AudioFormat.g711_ulaw.defaultSampleRate.hertz {
            Console.warn("writing \(outputFormat.rawValue) at \(outputRate) Hz; G.711 is 8000 Hz on the wire")
        }
        let resampler = outputRate == inputRate ? nil
            : try Resampler(from: SampleRate(hertz: inputRate), to: SampleRate(hertz: outputRate), quality: preset)

        Interruption.install()
        let writer = try SoundFileWriter(path: output, container: kind.container, encoding: outputFormat.encoding,
                                         sampleRate: outputRate)
        var stage = ConversionStage(channels: reader.info.channels, format: outputFormat, resampler: resampler)
        let totalFrames = reader.info.frames
        var lastShown = -1
        while true {
            if let signal = Interruption.received {
                writer.discard()
                Console.clearProgress()
                throw UserError("interrupted by signal \(signal); '\(output)' was not written")
            }
            let frames = try stage.pump(from: reader, to: writer)
            if frames == 0 { break }
            if totalFrames > 0 {
                let percent = Int(writer.framesWritten * 100 / totalFrames)
                if percent != lastShown {
                    Console.progress("converting: \(percent) %")
                    lastShown = percent
                }
            }
        }
        try stage.finish(to: writer)
        Console.clearProgress()
        try writer.commit()
    }
}

/// The per-chunk path of `convert`: read interleaved Float, mix to mono, resample, encode, write. Its buffers are
/// sized once, so memory stays flat whatever the file's length.
struct ConversionStage {
    static let chunkFrames = 4096

    let channels: Int
    let format: OutputFormat
    private var resampler: Resampler?
    private var interleaved: [Float]
    private var mono: [Float]
    private var resampled: [Float]
    private var int16: [Int16]
    private var codes: [UInt8]

    init(channels: Int, format: OutputFormat, resampler: Resampler?) {
        self.channels = channels
        self.format = format
        self.resampler = resampler
        interleaved = [Float](repeating: 0, count: Self.chunkFrames * channels)
        mono = [Float](repeating: 0, count: Self.chunkFrames)
        // The most one chunk (or the final drain) can yield at the output rate.
        let most = resampler.map { r in
            Int((Double(Self.chunkFrames) * Double(r.outputRate) / Double(r.inputRate)).rounded(.up)) + Int(r.latency.rounded(.up)) + 2
        } ?? Self.chunkFrames
        resampled = [Float](repeating: 0, count: most)
        int16 = [Int16](repeating: 0, count: most)
        codes = [UInt8](repeating: 0, count: most)
    }

    /// Moves one chunk; returns the input frames moved, 0 at the end of the input.
    mutating func pump(from reader: SoundFileReader, to writer: SoundFileWriter) throws -> Int {
        let frames = try interleaved.withUnsafeMutableBufferPointer { try reader.read(into: $0) }
        guard frames > 0 else { return 0 }
        let channels = self.channels
        interleaved.withUnsafeBufferPointer { src in
            mono.withUnsafeMutableBufferPointer { mono in
                _ = Downmix.mono(UnsafeBufferPointer(rebasing: src[..<(frames * channels)]), channels: channels, into: mono)
            }
        }
        if resampler == nil {
            try mono.withUnsafeBufferPointer { try emit(UnsafeBufferPointer(rebasing: $0[..<frames]), to: writer) }
            return frames
        }
        let n = mono.withUnsafeBufferPointer { src in
            resampled.withUnsafeMutableBufferPointer { dst in
                resampler!.process(UnsafeBufferPointer(rebasing: src[..<frames]), into: dst).produced
            }
        }
        try emitResampled(n, to: writer)
        return frames
    }

    /// Drains the resampler's tail at the end of the input.
    mutating func finish(to writer: SoundFileWriter) throws {
        guard resampler != nil else { return }
        let n = resampled.withUnsafeMutableBufferPointer { resampler!.finish(into: $0) }
        try emitResampled(n, to: writer)
    }

    private mutating func emitResampled(_ count: Int, to writer: SoundFileWriter) throws {
        let copy = resampled
        try copy.withUnsafeBufferPointer { try emit(UnsafeBufferPointer(rebasing: $0[..<count]), to: writer) }
    }

    /// Encodes mono samples in the output format and writes them.
    private mutating func emit(_ samples: UnsafeBufferPointer<Float>, to writer: SoundFileWriter) throws {
        let count = samples.count
        guard count > 0 else { return }
        switch format {
        case .float:
            try writer.write(samples)
        case .pcm16:
            try int16.withUnsafeMutableBufferPointer { out in
                PCM16.convert(samples, into: out)
                try writer.write(UnsafeBufferPointer(rebasing: out[..<count]))
            }
        case .g711_ulaw, .g711_alaw:
            let codec = format.g711!
            try codes.withUnsafeMutableBufferPointer { out in
                codec.encode(samples, into: out)
                try writer.write(encoded: UnsafeBufferPointer(rebasing: out[..<count]))
            }
        }
    }
}
