@_spi(Testing) import ALSA
import ArgumentParser
import Foundation
import RealtimeAudio
import RealtimeSession
import SoundFile

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the PCM devices ALSA knows, with their descriptions.",
        discussion: "Names go to --device of record, play and listen. ALSA_CONFIG_PATH, if set, replaces the system configuration."
    )

    @Flag(help: "One JSON object per line instead of a table.")
    var json = false

    func run() throws {
        try Console.run {
            let hints = try PCMDevice.devices()
            if hints.isEmpty {
                if !json { print("no PCM devices are configured") }
                return
            }
            for hint in hints {
                let direction = hint.direction ?? "Input/Output"
                if json {
                    print(JSONValue.object([.init("name", .string(hint.name)), .init("direction", .string(direction)), .init("description", .string(hint.description))]).serialized())
                } else {
                    print("\(hint.name)\t\(direction)\t\(hint.description)")
                }
            }
        }
    }
}

/// Converts between the device's interleaved frames (S16 or Float, any channel count) and the pipeline's mono
/// Float, with buffers sized once.
struct DeviceFrames {
    let parameters: PCMParameters
    private(set) var int16: [Int16]
    private(set) var float: [Float]

    init(_ parameters: PCMParameters, frames: Int) {
        self.parameters = parameters
        let count = frames * parameters.channels
        int16 = [Int16](repeating: 0, count: parameters.format == .s16LE ? count : 0)
        float = [Float](repeating: 0, count: count)
    }

    var capacity: Int { float.count / parameters.channels }

    /// Reads up to `capacity` frames and writes their mono mix to `mono`; returns the frames read (0 at the end
    /// of a file-backed source).
    mutating func read(from device: PCMDevice, into mono: UnsafeMutableBufferPointer<Float>) throws -> Int {
        let channels = parameters.channels
        let frames: Int
        if parameters.format == .s16LE {
            frames = try int16.withUnsafeMutableBufferPointer { try device.read(into: $0) }
            let count = frames * channels
            int16.withUnsafeBufferPointer { src in
                float.withUnsafeMutableBufferPointer { PCM16.convert(UnsafeBufferPointer(rebasing: src[..<count]), into: $0) }
            }
        } else {
            frames = try float.withUnsafeMutableBufferPointer { try device.read(into: $0) }
        }
        float.withUnsafeBufferPointer { src in
            _ = Downmix.mono(UnsafeBufferPointer(rebasing: src[..<(frames * channels)]), channels: channels, into: mono)
        }
        return frames
    }

    /// Writes mono samples to every channel of the device, in as many passes as the buffers need.
    mutating func write(_ mono: UnsafeBufferPointer<Float>, to device: PCMDevice) throws {
        let channels = parameters.channels
        var offset = 0
        while offset < mono.count {
            let n = min(capacity, mono.count - offset)
            float.withUnsafeMutableBufferPointer { out in
                for i in 0..<n {
                    for c in 0..<channels { out[i * channels + c] = mono[offset + i] }
                }
            }
            if parameters.format == .s16LE {
                float.withUnsafeBufferPointer { src in
                    int16.withUnsafeMutableBufferPointer { PCM16.convert(UnsafeBufferPointer(rebasing: src[..<(n * channels)]), into: $0) }
                }
                try int16.withUnsafeBufferPointer { try device.write(UnsafeBufferPointer(rebasing: $0[..<(n * channels)])) }
            } else {
                try float.withUnsafeBufferPointer { try device.write(UnsafeBufferPointer(rebasing: $0[..<(n * channels)])) }
            }
            offset += n
        }
    }
}

/// Sleeps to absolute deadlines so a source that does not pace itself (alsa-lib's `file` PCM) delivers audio at
/// the speed of a real device: capture of sample `n` completes at `start + n / rate`.
struct Pacer {
    let rate: Int
    let start = DispatchTime.now().uptimeNanoseconds

    /// Waits until `frames` frames would have been captured, and returns that moment (ns, monotonic).
    func wait(untilFrame frames: Int) -> UInt64 {
        let deadline = start + UInt64(frames) * 1_000_000_000 / UInt64(rate)
        let now = DispatchTime.now().uptimeNanoseconds
        if deadline > now { usleep(useconds_t((deadline - now) / 1000)) }
        return deadline
    }
}

func monotonicNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Device faults on demand, for the fault tests: `RTAUDIO_ALSA_FAULT=N:CODE` makes the N-th read or write (from 1)
/// fail with ALSA code CODE (`-32` an xrun, `-5` an I/O error), through the same recovery path as a real one.
struct FaultPlan {
    private var at: Int?
    private var code: Int32 = 0
    private var count = 0

    init() {
        guard let text = ProcessInfo.processInfo.environment["RTAUDIO_ALSA_FAULT"] else { return }
        let parts = text.split(separator: ":")
        guard parts.count == 2, let n = Int(parts[0]), let c = Int32(parts[1]) else { return }
        at = n
        code = c
    }

    /// Called before each device call.
    mutating func arm(_ device: PCMDevice) {
        count += 1
        if count == at { device.injectedFault = code }
    }
}

/// The capture side of `record` and `listen`: reads a period at a time (mixed to mono), applies the fault plan and
/// the optional pacing, and ends at the limit, on a signal, at the end of a file-backed source, or when the device
/// fails for good (the error is kept in ``failure`` for the caller to report after saving what it has).
struct CaptureSource {
    let device: PCMDevice
    private var frames: DeviceFrames
    private let limit: Int
    private let pacer: Pacer?
    private var faults = FaultPlan()
    private(set) var captured = 0
    private(set) var failure: Error?

    init(device: PCMDevice, parameters: PCMParameters, seconds: Double?, realtime: Bool) {
        self.device = device
        frames = DeviceFrames(parameters, frames: parameters.periodFrames)
        // The commands check `seconds` (finite, at most a year); the clamp keeps a conversion from ever trapping.
        limit = seconds.map { Int(min(max(0, $0 * Double(parameters.rate)), 1e15).rounded()) } ?? Int.max
        pacer = realtime ? Pacer(rate: parameters.rate) : nil
    }

    /// Frames per block.
    var capacity: Int { frames.capacity }

    /// Reads the next block into `mono`: its length and when its last sample was captured, or nil at the end.
    mutating func next(into mono: UnsafeMutableBufferPointer<Float>) -> (count: Int, capturedAt: UInt64)? {
        guard captured < limit, Interruption.received == nil else { return nil }
        faults.arm(device)
        let n: Int
        do {
            n = try frames.read(from: device, into: mono)
        } catch {
            failure = error
            return nil
        }
        guard n > 0 else { return nil }
        let count = min(n, limit - captured)
        captured += count
        return (count, pacer?.wait(untilFrame: captured) ?? monotonicNanoseconds())
    }
}

/// The longest `--duration` taken: a year, far past any recording, and small enough that seconds × rate never
/// overflows.
let longestDurationSeconds = 31_536_000.0

struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record from an ALSA capture device into a file, until --duration or Ctrl-C.",
        discussion: """
            The file is written under a temporary name and renamed when recording ends, also on Ctrl-C or SIGTERM: \
            the result always has a valid header and all the captured audio. When the device cannot run at --rate, \
            it records at its own rate and the audio is converted with the voice resampler. --channels is what is \
            asked of the device; the file is mono (the channels are mixed).
            """
    )

    @Argument(help: "The file to write; its extension picks the container (.wav, .flac, .raw, .ulaw, .alaw).")
    var output: String

    @Option(help: "ALSA capture device.")
    var device = "default"

    @Option(parsing: .unconditional, help: "Sample rate of the file in Hz.")
    var rate = 24000

    @Option(parsing: .unconditional, help: "Channels to capture from the device (mixed down to mono).")
    var channels = 1

    @Flag(help: "Replace an existing output even if it is read-only.")
    var force = false

    @Option(help: "Encoding: pcm16, g711_ulaw, g711_alaw or float (default: from the extension, else pcm16).")
    var format: String?

    @Option(parsing: .unconditional, help: "Stop after this many seconds (default: until Ctrl-C or the end of the source).")
    var duration: Double?

    @Flag(help: ArgumentHelp("Pace reads to the wall clock (for sources that do not pace themselves).", visibility: .hidden))
    var realtime = false

    func run() throws {
        try Console.run(record)
    }

    private func record() throws {
        let (kind, outputFormat) = try FileKind.resolveOutput(output, format: format)
        _ = try SampleRate(hertz: rate)
        guard (1...8).contains(channels) else { throw UserError("--channels must be 1...8, not \(channels)") }
        if let duration { _ = try Numbers.check(duration, "--duration", in: 0.001...longestDurationSeconds) }
        try Outputs.check(output, inputs: [], force: force)

        let pcm = try PCMDevice(name: device, direction: .capture)
        let granted = try pcm.configure(format: .s16LE, rate: rate, channels: channels, periodMs: 20)
        let resampler = granted.rate == rate ? nil
            : try Resampler(from: SampleRate(hertz: granted.rate), to: SampleRate(hertz: rate))
        var source = CaptureSource(device: pcm, parameters: granted, seconds: duration, realtime: realtime)
        var mono = [Float](repeating: 0, count: source.capacity)

        Interruption.install()
        let writer = try SoundFileWriter(path: output, container: kind.container, encoding: outputFormat.encoding, sampleRate: rate)
        let sink = FileSink(writer: writer, format: outputFormat)
        var stage = ConversionStage(channels: 1, resampler: resampler, chunkFrames: source.capacity)
        var meter = LevelMeter()
        while let (n, _) = mono.withUnsafeMutableBufferPointer({ source.next(into: $0) }) {
            try mono.withUnsafeBufferPointer { m in
                let block = UnsafeBufferPointer(rebasing: m[..<n])
                meter.add(block)
                try stage.push(block, to: sink.write)
            }
            if Console.standardErrorIsTerminal {
                Console.progress(String(format: "recording: %.1f s, %.0f dBFS", Double(source.captured) / Double(granted.rate), meter.rmsDBFS))
                meter = LevelMeter()
            }
        }
        Console.clearProgress()
        let seconds = Double(source.captured) / Double(granted.rate)
        // A source that ends before it gave anything (alsa-lib's `null` PCM never writes a frame) is an error,
        // not an empty recording; one that ends early says so.
        if source.captured == 0, source.failure == nil, Interruption.received == nil {
            writer.discard()
            throw UserError("the capture device '\(device)' delivered no audio; '\(output)' was not written")
        }
        try stage.finish(to: sink.write)
        try writer.commit()
        if let duration, source.failure == nil, Interruption.received == nil, seconds + 0.0005 < duration {
            Console.warn(String(format: "the capture device stopped delivering audio after %.3f s of the %g s asked", seconds, duration))
        }
        if pcm.xrunCount > 0 { Console.warn("\(pcm.xrunCount) overrun(s) while recording: the audio has gaps there") }
        if let failure = source.failure {
            throw UserError("\(failure); the \(String(format: "%.2f", Double(source.captured) / Double(granted.rate))) s recorded before it are in '\(output)'")
        }
    }
}

struct Play: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Play a sound file on an ALSA playback device.",
        discussion: """
            Anything libsndfile reads (mixed down to mono). --speed changes the tempo and keeps the pitch. When the \
            device cannot run at the file's rate, the audio is converted with the voice resampler. Ctrl-C stops at \
            once (what the device holds is dropped, not played out).
            """
    )

    @Argument(help: "The file to play: anything libsndfile reads, or headerless .raw/.pcm/.ulaw/.alaw.")
    var input: String

    @Option(help: "ALSA playback device.")
    var device = "default"

    @Option(parsing: .unconditional, help: "Playback speed 0.25...1.5, pitch kept.")
    var speed: Double = 1

    @OptionGroup var inputOptions: InputOptions

    func run() throws {
        try Console.run(play)
    }

    private func play() throws {
        let reader = try inputOptions.open(input)
        let rate = reader.info.sampleRate
        let scaler = speed == 1 ? nil : try SpeedScaler(sampleRate: SampleRate(hertz: rate), speed: speed)
        let pcm = try PCMDevice(name: device, direction: .playback)
        let granted = try pcm.configure(format: .s16LE, rate: rate, channels: 1, periodMs: 20)
        let resampler = granted.rate == rate ? nil
            : try Resampler(from: SampleRate(hertz: rate), to: SampleRate(hertz: granted.rate))
        var frames = DeviceFrames(granted, frames: max(granted.periodFrames, 256))
        var stage = ConversionStage(channels: reader.info.channels, scaler: scaler, resampler: resampler)
        Interruption.install()
        var faults = FaultPlan()
        let sink: SampleSink = { samples in
            if let signal = Interruption.received { throw Stopped(signal: signal) }
            faults.arm(pcm)
            try frames.write(samples, to: pcm)
        }
        do {
            while try stage.pump(from: reader, to: sink) > 0 {}
            try stage.finish(to: sink)
            try pcm.drain()
        } catch let stop as Stopped {
            pcm.drop()
            throw ExitCode(128 + stop.signal)
        }
        if pcm.xrunCount > 0 { Console.warn("\(pcm.xrunCount) underrun(s) during playback") }
    }

    private struct Stopped: Error { let signal: Int32 }
}
