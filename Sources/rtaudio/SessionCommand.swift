import ArgumentParser
import Foundation
import RealtimeAudio
import RealtimeSession
import SoundFile

struct SessionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "Validate Realtime session, assistant and response documents, and run audio through a session's pipelines.",
        subcommands: [Validate.self, Run.self]
    )

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a JSON document: print it normalized (defaults filled in), or every violation.",
            discussion: """
                Violations go to stderr, one per line with its JSON path (turn_detection.threshold: 1.3 is outside \
                0...1), and the exit code is 1. Unknown fields are kept and reported as warnings on stderr.
                """
        )

        @Argument(help: "The JSON file ('-' for standard input).")
        var file: String

        @Option(help: "What the document is: session, assistant or realtime-response.")
        var kind = "session"

        @Option(name: .customLong("generation-config"), help: "A registered generation-config preset an assistant may name (repeatable).")
        var generationConfigs: [String] = []

        @Flag(help: "The document is an object as the server stores it (read-only fields allowed), not a create/update request.")
        var stored = false

        func run() throws {
            try Console.run {
                let text = try readDocument(file)
                let context = ValidationContext(generationConfigs: generationConfigs.isEmpty ? nil : Set(generationConfigs),
                                                purpose: stored ? .stored : .request)
                let normalized: JSONValue?
                let report: ValidationReport
                switch kind {
                case "session":
                    let (value, r) = Session.validate(json: text)
                    (normalized, report) = (value?.json, r)
                case "assistant":
                    let (value, r) = Assistant.validate(json: text, context: context)
                    (normalized, report) = (value?.json, r)
                case "realtime-response":
                    let (value, r) = RealtimeResponse.validate(json: text, context: context)
                    (normalized, report) = (value?.json, r)
                default:
                    throw UserError("unknown --kind '\(kind)' (valid: session, assistant, realtime-response)")
                }
                for warning in report.warnings { Console.warn(warning.description) }
                guard let normalized, report.isValid else {
                    let lines = report.violations.map { "rtaudio: invalid: \($0)" }.joined(separator: "\n")
                    FileHandle.standardError.write(Data((lines + "\n").utf8))
                    throw ExitCode.failure
                }
                print(normalized.serialized(pretty: true))
            }
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a caller's audio (and a model reply) through a session's pipelines and print the events.",
            discussion: """
                The input is converted to the session's input_audio_format at its wire rate and sent in 20 ms \
                chunks through the inbound pipeline (decode, resample to 24 kHz, server VAD): its events are printed \
                as JSON lines with the Realtime API's names. With --reply, the model's audio goes in 20 ms chunks \
                through the outbound pipeline (speed, resample, output_audio_format) into --output.
                """
        )

        @Argument(help: "The session JSON (as for `session validate --kind session`).")
        var config: String

        @Option(help: "The caller's audio: any file libsndfile reads.")
        var input: String

        @Option(help: "The model's reply to send back: any file libsndfile reads.")
        var reply: String?

        @Option(help: "Where the reply goes, as the caller would receive it (.wav, .raw, .ulaw, .alaw).")
        var output: String?

        @Option(name: .customLong("idle-timer-at-ms"), help: "Arm the idle timer at this input time (idle_timeout_ms must be set).")
        var idleTimerAtMs: Int?

        func run() throws {
            try Console.run(runSession)
        }

        private func runSession() throws {
            if (reply == nil) != (output == nil) { throw UserError("--reply and --output go together") }
            let (parsed, report) = Session.validate(json: try readDocument(config))
            for warning in report.warnings { Console.warn(warning.description) }
            guard let session = parsed else {
                throw UserError(report.violations.map(\.description).joined(separator: "; "))
            }
            if let note = session.detectorSettings.note { Console.warn(note) }
            var inbound = try session.makeInbound()
            let wire = try wireBytes(input, format: session.inputAudioFormat)
            let chunk = session.inputAudioFormat.bytesPerSample * session.inputAudioFormat.defaultSampleRate.hertz / 50
            var events = InboundEvents()
            var toModel = [UInt8](repeating: 0, count: inbound.outputCapacity(forInputBytes: chunk) + 64)
            var modelBytes = 0
            var start = 0
            var armed = false
            while start < wire.count {
                if let at = idleTimerAtMs, !armed, inbound.inputMs >= at { inbound.armIdleTimer(); armed = true }
                let end = min(wire.count, start + chunk)
                modelBytes += try wire[start..<end].withUnsafeBufferPointer { src in
                    try toModel.withUnsafeMutableBufferPointer { try inbound.append(src, into: $0, events: &events) }
                }
                events.forEach { print($0.json) }
                start = end
            }
            var tail = [UInt8](repeating: 0, count: inbound.finishCapacity + 16)
            modelBytes += try tail.withUnsafeMutableBufferPointer { try inbound.finish(into: $0, events: &events) }
            events.forEach { print($0.json) }
            print("{\"type\":\"input_audio_buffer.committed\",\"audio_ms\":\(modelBytes / 48)}")

            guard let reply, let output else { return }
            let (kind, outputFormat) = try FileKind.resolveOutput(output, format: formatName(session.outputAudioFormat))
            var outbound = try session.makeOutbound()
            let model = try wireBytes(reply, format: .pcm16)
            let writer = try SoundFileWriter(path: output, container: kind.container, encoding: outputFormat.encoding,
                                             sampleRate: outbound.clientRate.hertz)
            let deltaBytes = 960   // 20 ms of 24 kHz pcm16
            var toClient = [UInt8](repeating: 0, count: outbound.outputCapacity(forInputBytes: deltaBytes) + 64)
            func write(_ count: Int) throws {
                try toClient.withUnsafeBufferPointer { try writer.write(encoded: UnsafeBufferPointer(rebasing: $0[..<count])) }
            }
            start = 0
            while start < model.count {
                let end = min(model.count, start + deltaBytes)
                let n = try model[start..<end].withUnsafeBufferPointer { src in
                    try toClient.withUnsafeMutableBufferPointer { try outbound.append(src, into: $0) }
                }
                try write(n)
                start = end
            }
            let played = outbound.producedSamples
            let audioEnd = outbound.audioEndMs(playedSamples: played)
            toClient = [UInt8](repeating: 0, count: outbound.finishCapacity)
            try write(try toClient.withUnsafeMutableBufferPointer { try outbound.finishResponse(into: $0) })
            try writer.commit()
            print("{\"type\":\"response.audio.done\",\"model_audio_ms\":\(model.count / 48),\"speed\":\(JSONValue(session.speed)),\"client_samples\":\(writer.framesWritten),\"audio_end_ms_before_tail\":\(audioEnd),\"client_samples_before_tail\":\(played)}")
        }

        private func formatName(_ format: AudioFormat) -> String {
            switch format {
            case .pcm16: "pcm16"
            case .g711_ulaw: "g711_ulaw"
            case .g711_alaw: "g711_alaw"
            }
        }
    }
}

/// A file's text, or standard input for "-".
func readDocument(_ path: String) throws -> String {
    if path == "-" { return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw UserError("cannot read '\(path)': \(FileManager.default.fileExists(atPath: path) ? "permission denied" : "No such file or directory")")
    }
    return String(decoding: data, as: UTF8.self)
}

/// A sound file as the wire bytes of `format` at its Realtime API rate (mixed to mono, resampled with the voice
/// preset when the file has another rate).
func wireBytes(_ path: String, format: AudioFormat) throws -> [UInt8] {
    let reader = try SoundFileReader(path: path)
    let channels = reader.info.channels
    var mono: [Float] = []
    var interleaved = [Float](repeating: 0, count: 4096 * channels)
    var block = [Float](repeating: 0, count: 4096)
    while true {
        let n = try interleaved.withUnsafeMutableBufferPointer { try reader.read(into: $0) }
        if n == 0 { break }
        interleaved.withUnsafeBufferPointer { src in
            block.withUnsafeMutableBufferPointer { _ = Downmix.mono(UnsafeBufferPointer(rebasing: src[..<(n * channels)]), channels: channels, into: $0) }
        }
        mono += block[..<n]
    }
    let rate = format.defaultSampleRate
    if reader.info.sampleRate != rate.hertz {
        var resampler = try Resampler(from: SampleRate(hertz: reader.info.sampleRate), to: rate)
        mono = resampler.convert(mono)
    }
    return format.g711.map { $0.encode(mono) } ?? PCM16.encode(mono)
}
