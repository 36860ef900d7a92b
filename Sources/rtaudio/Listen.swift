import ALSA
import ArgumentParser
import Foundation
import RealtimeAudio
import SoundFile

struct Listen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Live turn detection on an ALSA capture device: the server VAD's events as JSON lines.",
        discussion: """
            Prints {"type":"input_audio_buffer.speech_started","audio_start_ms":N,"emitted_at_ms":T} and \
            {"type":"input_audio_buffer.speech_stopped","audio_end_ms":N,"emitted_at_ms":T} as they happen, with the \
            numbers `rtaudio vad` gives for the same audio (times in ms from the start of the capture). Runs until \
            --duration, Ctrl-C or the end of the source; a turn still open then ends at the end of the audio. \
            With --save-turns each turn (prefix padding included) is written as turn-NNN.wav, numbered on from the files already there (an earlier run's turns are kept). A terminal gets a live \
            level meter on stderr. Output is written by its own thread, so the capture loop never waits for it.
            """
    )

    @Option(help: "ALSA capture device.")
    var device = "default"

    @Option(parsing: .unconditional, help: "Sample rate asked of the device in Hz (the detector runs at whatever the device grants).")
    var rate = 16000

    @OptionGroup var turnDetection: TurnDetectionOptions

    @Option(parsing: .unconditional, help: "Stop after this many seconds of audio.")
    var duration: Double?

    @Option(name: .customLong("save-turns"), help: "Write each detected turn as a WAV file into this existing folder.")
    var saveTurns: String?

    @Flag(help: "At the end, print {\"type\":\"stats\",...}: event latency (capture of the deciding sample to the line written) and overruns.")
    var stats = false

    @Flag(help: ArgumentHelp("Pace reads to the wall clock (for sources that do not pace themselves).", visibility: .hidden))
    var realtime = false

    func run() throws {
        try Console.run(listen)
    }

    private func listen() throws {
        let config = try turnDetection.configuration()
        _ = try SampleRate(hertz: rate)
        if let duration { _ = try Numbers.check(duration, "--duration", in: 0.001...longestDurationSeconds) }
        if let saveTurns {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: saveTurns, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw UserError("--save-turns: '\(saveTurns)' is not an existing folder")
            }
        }
        let pcm = try PCMDevice(name: device, direction: .capture)
        let granted = try pcm.configure(format: .s16LE, rate: rate, channels: 1, periodMs: 20)
        // The detector takes 8 kHz and up in steps of 100 Hz; any other device rate goes through the resampler.
        let direct = try? ServerVAD(sampleRate: SampleRate(hertz: granted.rate), configuration: config)
        let vadRate = direct == nil ? 16000 : granted.rate
        var vad = try direct ?? ServerVAD(sampleRate: SampleRate(hertz: vadRate), configuration: config)
        var resampler = direct != nil ? nil : try Resampler(from: SampleRate(hertz: granted.rate), to: SampleRate(hertz: vadRate))

        var source = CaptureSource(device: pcm, parameters: granted, seconds: duration, realtime: realtime)
        var mono = [Float](repeating: 0, count: source.capacity)
        var converted = [Float](repeating: 0, count: resampler.map { $0.maximumOutputCount(forInput: source.capacity) } ?? 0)
        let output = EventWriter(turnFolder: saveTurns, rate: vadRate)
        Interruption.install()

        var fed = 0                       // samples given to the detector
        var turn: [Float] = []
        turn.reserveCapacity(vadRate * 30)
        var meter = LevelMeter()
        var lastMeter = 0

        /// Feeds the detector; `readTime` is when the block's last sample was captured.
        func detect(_ block: UnsafeBufferPointer<Float>, readTime: UInt64) {
            let endMs = (fed + block.count) * 1000 / vadRate
            var last = 0   // the samples of `block` already in `turn` or before it
            vad.process(block) { event, at, detector in
                let segment = UnsafeBufferPointer(rebasing: block[last..<at])
                last = at
                switch event {
                case .speechStarted(_, let emitted):
                    // The turn from its audio_start_ms on: the pre-roll the detector still holds.
                    turn.removeAll(keepingCapacity: true)
                    turn.append(contentsOf: repeatElement(0, count: detector.turnAudioCount))
                    _ = turn.withUnsafeMutableBufferPointer { detector.copyTurnAudio(into: $0) }
                    output.event(event.json, capturedAt: readTime - UInt64(max(0, endMs - emitted)) * 1_000_000)
                case .speechStopped(_, let emitted):
                    turn.append(contentsOf: segment)   // a turn was going on up to here
                    output.event(event.json, capturedAt: readTime - UInt64(max(0, endMs - emitted)) * 1_000_000)
                    if saveTurns != nil { output.turn(turn) }
                }
            }
            // No event in the rest: the detector was in the state it is in now all through it.
            if vad.isInTurn { turn.append(contentsOf: UnsafeBufferPointer(rebasing: block[last...])) }
            fed += block.count
        }

        while let (n, readTime) = mono.withUnsafeMutableBufferPointer({ source.next(into: $0) }) {
            mono.withUnsafeBufferPointer { m in
                let block = UnsafeBufferPointer(rebasing: m[..<n])
                meter.add(block)
                if resampler != nil {
                    let made = converted.withUnsafeMutableBufferPointer { resampler!.process(block, into: $0).produced }
                    converted.withUnsafeBufferPointer { detect(UnsafeBufferPointer(rebasing: $0[..<made]), readTime: readTime) }
                } else {
                    detect(block, readTime: readTime)
                }
            }
            if Console.standardErrorIsTerminal, source.captured - lastMeter >= granted.rate / 10 {
                output.meter(level: meter.rmsDBFS, inTurn: vad.isInTurn)
                meter = LevelMeter()
                lastMeter = source.captured
            }
        }
        if let last = vad.finish() {
            output.event(last.json, capturedAt: monotonicNanoseconds())
            if saveTurns != nil { output.turn(turn) }
        }
        let latencies = output.finish()
        if stats {
            let sorted = latencies.sorted()
            let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
            var line = JSONLine(type: "stats")
            line.add("events", sorted.count)
            line.add("event_latency_ms_median", median, decimals: 3)
            line.add("event_latency_ms_max", sorted.last ?? 0, decimals: 3)
            line.add("overruns", pcm.xrunCount)
            line.add("audio_s", Double(source.captured) / Double(granted.rate), decimals: 3)
            print(line.text)
        }
        if pcm.xrunCount > 0 { Console.warn("\(pcm.xrunCount) overrun(s): audio was lost there") }
        if let failure = source.failure { throw UserError(failure) }
    }
}

/// The output side of `listen`, on its own thread: JSON lines to stdout, turn files, the level meter. The capture
/// loop only appends to a queue, so a slow terminal or disk never makes it miss audio.
final class EventWriter: @unchecked Sendable {   // the queue is guarded by `condition`
    private enum Item {
        case line(String, capturedAt: UInt64)
        case turn([Float])
        case meter(String)
    }

    private let condition = NSCondition()
    private var queue: [Item] = []
    private var closed = false
    private var latencies: [Double] = []
    private var turns = 0
    private let turnFolder: String?
    private let rate: Int
    private let done = DispatchSemaphore(value: 0)

    init(turnFolder: String?, rate: Int) {
        self.turnFolder = turnFolder
        self.rate = rate
        let thread = Thread { [self] in drain() }
        thread.name = "rtaudio-listen-writer"
        thread.start()
    }

    func event(_ json: String, capturedAt: UInt64) { enqueue(.line(json, capturedAt: capturedAt)) }
    func turn(_ samples: [Float]) { enqueue(.turn(samples)) }

    func meter(level: Double, inTurn: Bool) {
        let bars = max(0, min(30, Int((level + 60) / 2)))
        let text = String(format: "%6.1f dBFS ", level) + String(repeating: "#", count: bars)
            + String(repeating: " ", count: 30 - bars) + (inTurn ? " speech" : "")
        enqueue(.meter(text))
    }

    private func enqueue(_ item: Item) {
        condition.lock()
        queue.append(item)
        condition.signal()
        condition.unlock()
    }

    /// Waits for everything queued to be written; returns the event latencies in ms.
    func finish() -> [Double] {
        condition.lock()
        closed = true
        condition.signal()
        condition.unlock()
        done.wait()
        return latencies
    }

    private func drain() {
        while true {
            condition.lock()
            while queue.isEmpty && !closed { condition.wait() }
            let items = queue
            queue.removeAll()
            let finished = closed && items.isEmpty
            condition.unlock()
            if finished { break }
            for item in items { write(item) }
        }
        Console.clearProgress()
        done.signal()
    }

    private var fileIndex = 0

    private func write(_ item: Item) {
        switch item {
        case .line(let json, let capturedAt):
            Console.clearProgress()
            FileHandle.standardOutput.write(Data((json + "\n").utf8))
            latencies.append(Double(monotonicNanoseconds() &- capturedAt) / 1e6)
        case .turn(let samples):
            turns += 1
            guard let turnFolder else { return }
            // Never over a file already there (an earlier run's turns): the next free number.
            var path: String
            repeat {
                fileIndex += 1
                path = (turnFolder as NSString).appendingPathComponent(String(format: "turn-%03d.wav", fileIndex))
            } while Outputs.isTaken(path)

            do {
                let writer = try SoundFileWriter(path: path, container: .wav, encoding: .pcm16, sampleRate: rate)
                var int16 = [Int16](repeating: 0, count: samples.count)
                samples.withUnsafeBufferPointer { src in int16.withUnsafeMutableBufferPointer { PCM16.convert(src, into: $0) } }
                try int16.withUnsafeBufferPointer { try writer.write($0) }
                try writer.commit()
            } catch {
                Console.warn("could not save turn \(turns): \(error)")
            }
        case .meter(let text):
            Console.progress(text)
        }
    }
}
