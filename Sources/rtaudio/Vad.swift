import ArgumentParser
import Foundation
import RealtimeAudio
import SoundFile

struct Vad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vad",
        abstract: "Detect turns in a sound file with the server VAD and print the Realtime API's events as JSON lines.",
        discussion: """
            Prints {"type":"input_audio_buffer.speech_started","audio_start_ms":N,"emitted_at_ms":T} and \
            {"type":"input_audio_buffer.speech_stopped","audio_end_ms":N,"emitted_at_ms":T}, one per line, times in \
            milliseconds from the start of the file. audio_start_ms is the onset minus the prefix padding (at least \
            0); audio_end_ms is the end of speech plus the silence duration. A file that ends inside a turn ends \
            with a speech_stopped at the end of the audio. Multi-channel input is mixed down to mono.
            """
    )

    @Argument(help: "The file to analyse: anything libsndfile reads, or headerless .raw/.pcm/.ulaw/.alaw.")
    var file: String

    @OptionGroup var turnDetection: TurnDetectionOptions

    @Option(help: "Write an SVG timeline (envelope, level, noise floor, threshold, turns) to this path.")
    var plot: String?

    @Flag(help: "Also print the per-frame decisions ({\"type\":\"frames\",...}) and CPU time ({\"type\":\"stats\",...}).")
    var stats = false

    @Option(help: ArgumentHelp("Detector constants as name=value pairs, comma-separated (see ServerVAD.Tuning).", visibility: .hidden))
    var tuning: String?

    @Flag(help: "Replace an existing --plot file even if it is read-only.")
    var force = false

    @OptionGroup var inputOptions: InputOptions

    func run() throws {
        try Console.run(detect)
    }

    private func detect() throws {
        let config = try turnDetection.configuration()
        if let plot { try Outputs.check(plot, inputs: [("input", file)], force: force) }
        let reader = try inputOptions.open(file)
        let rate = reader.info.sampleRate
        var vad = try ServerVAD(sampleRate: SampleRate(hertz: rate), configuration: config, tuning: parseTuning())
        let channels = reader.info.channels
        // Whole 10 ms frames per read, so `lastFrame` after each frame feeds the plot and the frame string.
        let frame = rate / 100
        let framesPerRead = 50
        var interleaved = [Float](repeating: 0, count: frame * framesPerRead * channels)
        var mono = [Float](repeating: 0, count: frame * framesPerRead)
        var timeline = Timeline()
        var speech: [UInt8] = []
        var cpu = 0.0
        var total = 0
        func emit(_ event: TurnEvent) {
            print(event.json)
            timeline.add(event)
        }
        while true {
            let n = try interleaved.withUnsafeMutableBufferPointer { try reader.read(into: $0) }
            if n == 0 { break }
            interleaved.withUnsafeBufferPointer { src in
                mono.withUnsafeMutableBufferPointer { dst in
                    _ = Downmix.mono(UnsafeBufferPointer(rebasing: src[..<(n * channels)]), channels: channels, into: dst)
                }
            }
            total += n
            var offset = 0
            while offset < n {
                let end = min(n, offset + frame)
                let started = cpuSeconds()
                var events: [TurnEvent] = []
                mono.withUnsafeBufferPointer { m in
                    vad.process(UnsafeBufferPointer(rebasing: m[offset..<end])) { event, _, _ in events.append(event) }
                }
                cpu += cpuSeconds() - started
                events.forEach(emit)
                if end - offset == frame {
                    speech.append(vad.isInTurn ? UInt8(ascii: "1") : UInt8(ascii: "0"))
                    if plot != nil, let f = vad.lastFrame {
                        let peak = mono[offset..<end].reduce(Float(0)) { max($0, abs($1)) }
                        timeline.add(frame: .init(peak: Double(peak), level: f.levelDB, floor: f.noiseFloorDB,
                                                     score: f.scoreDB, inTurn: f.inTurn))
                    }
                }
                offset = end
            }
        }
        let durationMs = total * 1000 / max(rate, 1)
        if let last = vad.finish() { emit(last) }
        if stats {
            var frames = JSONLine(type: "frames")
            frames.add("frame_ms", 10)
            frames.add("speech", String(decoding: speech, as: UTF8.self))
            print(frames.text)
            var line = JSONLine(type: "stats")
            line.add("cpu_s", cpu, decimals: 6)
            line.add("audio_s", Double(total) / Double(max(rate, 1)), decimals: 3)
            print(line.text)
        }
        if let plot {
            timeline.durationMs = durationMs
            timeline.startDB = vad.startDB
            try Outputs.writeText(timeline.svg(title: (file as NSString).lastPathComponent), to: plot)
        }
    }

    /// The detector's constants `--tuning` sets, by name: real ones, then whole numbers of frames.
    private static var realConstants: [String: WritableKeyPath<ServerVAD.Tuning, Double>] {
        [
            "centreDB": \.centreDB, "noiseQuantile": \.noiseQuantile, "noiseQuantileStepDB": \.noiseQuantileStepDB,
            "noisePeakContinueDB": \.noisePeakContinueDB, "noisePeakStartDB": \.noisePeakStartDB,
            "noiseSwingDB": \.noiseSwingDB, "slopeDB": \.slopeDB, "hysteresisDB": \.hysteresisDB,
            "backtrackDB": \.backtrackDB, "floorFall": \.floorFall, "fastFallDB": \.fastFallDB,
            "floorStepDown": \.floorStepDown, "floorRiseNoise": \.floorRiseNoise,
            "floorRiseSpeech": \.floorRiseSpeech, "floorRiseLongTurn": \.floorRiseLongTurn,
            "floorMinimumDB": \.floorMinimumDB, "bandSNRCeilingDB": \.bandSNRCeilingDB,
            "floorSmoothing": \.floorSmoothing, "noiseMarginDB": \.noiseMarginDB, "relativeDropDB": \.relativeDropDB,
            "peakDecayDB": \.peakDecayDB, "tailReferenceDB": \.tailReferenceDB, "tailMsPerDB": \.tailMsPerDB,
            "tailMaximumMs": \.tailMaximumMs, "stationaryRangeDB": \.stationaryRangeDB,
            "minimumBiasDB": \.minimumBiasDB,
        ]
    }
    private static var wholeConstants: [String: WritableKeyPath<ServerVAD.Tuning, Int>] {
        [
            "noiseWarmupFrames": \.noiseWarmupFrames, "confirmationFrames": \.confirmationFrames,
            "backtrackFrames": \.backtrackFrames, "longTurnFrames": \.longTurnFrames, "scoreBands": \.scoreBands,
            "stationaryFrames": \.stationaryFrames, "continueFrames": \.continueFrames,
            "minimumWindowFrames": \.minimumWindowFrames,
        ]
    }

    private func parseTuning() throws -> ServerVAD.Tuning {
        var t = ServerVAD.Tuning()
        guard let tuning else { return t }
        for pair in tuning.split(separator: ",") {
            let parts = pair.split(separator: "=")
            guard parts.count == 2, let v = Double(parts[1]) else { throw UserError("--tuning: '\(pair)' is not name=value") }
            let name = "--tuning \(parts[0])"
            // Checked before any conversion: a Double past Int's range traps when converted.
            func whole() throws -> Int { try Numbers.integer(v, name, in: 0...1_000_000) }
            guard v.isFinite else { throw UserError("\(name) must be a finite number, not \(parts[1])") }
            if let constant = Self.realConstants[String(parts[0])] {
                t[keyPath: constant] = v
            } else if let constant = Self.wholeConstants[String(parts[0])] {
                t[keyPath: constant] = try whole()
            } else {
                throw UserError("--tuning: unknown constant '\(parts[0])'")
            }
        }
        return t
    }
}

/// CPU time of this thread, in seconds.
func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

