import ArgumentParser
import Foundation
import RealtimeAudio
import RealtimeSession
import SoundFile

struct SessionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "Validate Realtime session, assistant and response documents, and run audio through a session's pipelines.",
        subcommands: [Validate.self, Convert.self, Run.self]
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

        @Flag(help: "An assistant partial update (PATCH): required fields may be left out; those present are checked.")
        var partial = false

        @Option(help: "The session shape: beta, ga, or auto (GA when the document has a GA-only member such as type or audio).")
        var shape = "auto"

        func run() throws {
            try Console.run {
                let text = try Documents.read(file)
                if stored && partial { throw UserError("--stored and --partial exclude each other") }
                let context = ValidationContext(generationConfigs: generationConfigs.isEmpty ? nil : Set(generationConfigs),
                                                purpose: stored ? .stored : partial ? .partialUpdate : .request)
                let sessionShape = try SessionCommand.shape(shape)
                let normalized: JSONValue?
                let report: ValidationReport
                switch kind {
                case "session":
                    let (value, r) = Session.validate(json: text, shape: sessionShape)
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

    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert a session document between the beta and the GA shape.",
            discussion: """
                Prints the session, validated and normalized, in the other shape. What that shape cannot say (a 16 kHz \
                rate in the beta shape, temperature in the GA shape, truncation, prompt, include) is named on stderr, \
                one line per field; with --strict that is an error (exit 1). Violations: one per line, exit 1.
                """
        )

        @Argument(help: "The session JSON file ('-' for standard input).")
        var file: String

        @Option(help: "The shape to write: ga or beta.")
        var to: String

        @Option(help: "The shape of the input: beta, ga, or auto.")
        var from = "auto"

        @Flag(help: "Fail (exit 1) when the target shape cannot say everything the document says.")
        var strict = false

        func run() throws {
            try Console.run {
                guard let target = Session.Shape(rawValue: to) else { throw UserError("unknown --to '\(to)' (valid: ga, beta)") }
                let (value, report) = Session.validate(json: try Documents.read(file), shape: try SessionCommand.shape(from))
                for warning in report.warnings { Console.warn(warning.description) }
                guard let session = value, report.isValid else {
                    let lines = report.violations.map { "rtaudio: invalid: \($0)" }.joined(separator: "\n")
                    FileHandle.standardError.write(Data((lines + "\n").utf8))
                    throw ExitCode.failure
                }
                let (json, lost) = session.converted(to: target)
                if strict, !lost.isEmpty {
                    let lines = lost.map { "rtaudio: cannot convert: \($0)" }.joined(separator: "\n")
                    FileHandle.standardError.write(Data((lines + "\n").utf8))
                    throw ExitCode.failure
                }
                for warning in lost { Console.warn(warning.description) }
                print(json.serialized(pretty: true))
            }
        }
    }

    /// `--shape` / `--from`: nil for auto.
    static func shape(_ name: String) throws -> Session.Shape? {
        if name == "auto" { return nil }
        guard let shape = Session.Shape(rawValue: name) else { throw UserError("unknown shape '\(name)' (valid: beta, ga, auto)") }
        return shape
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a caller's audio (and a model reply) through a session's pipelines and print the events.",
            discussion: """
                The session may be in the beta or the GA shape. The input is converted to the session's input \
                format at its wire rate (G.711: 8 kHz; pcm16: the session's rate, 24 or 16 kHz) and sent in 20 ms \
                chunks through the inbound pipeline (decode, resample to the model rate, server VAD): its events are \
                printed as JSON lines with the Realtime API's names. With --reply (pcm16 at the session's output \
                rate), the model's audio goes in 20 ms chunks through the outbound pipeline (speed, resample, output \
                format) into --output.
                """
        )

        @Argument(help: "The session JSON (as for `session validate --kind session`).")
        var config: String

        @Option(help: "The caller's audio: any file libsndfile reads, or headerless .raw/.pcm/.ulaw/.alaw.")
        var input: String

        @Option(help: "The model's reply to send back: any file libsndfile reads, or headerless .raw/.pcm/.ulaw/.alaw.")
        var reply: String?

        @Option(help: "Where the reply goes, as the caller would receive it (.wav, .raw, .ulaw, .alaw).")
        var output: String?

        @Option(name: .customLong("idle-timer-at-ms"), parsing: .unconditional,
                help: "Arm the idle timer at this input time, in ms (idle_timeout_ms must be set).")
        var idleTimerAtMs: Int?

        @Flag(help: "Replace an existing --output even if it is read-only.")
        var force = false

        @OptionGroup var inputOptions: InputOptions

        func run() throws {
            try Console.run(runSession)
        }

        private func runSession() throws {
            // Every check before the first event is printed: a bad --output must not cost a run.
            if (reply == nil) != (output == nil) { throw UserError("--reply and --output go together") }
            if let idleTimerAtMs { _ = try Numbers.check(idleTimerAtMs, "--idle-timer-at-ms", in: 0...Int.max / 1_000_000) }
            let (parsed, report) = Session.validate(json: try Documents.read(config))
            for warning in report.warnings { Console.warn(warning.description) }
            guard let session = parsed else {
                throw UserError(report.violations.map(\.description).joined(separator: "; "))
            }
            if idleTimerAtMs != nil, try session.detectorSettings().idleTimeoutMs == nil {
                throw UserError("--idle-timer-at-ms needs the session's turn_detection.idle_timeout_ms")
            }
            var replyKind: (FileKind, OutputFormat)?
            if let output {
                replyKind = try FileKind.resolveOutput(output, format: formatName(session.outputAudioFormat))
                let inputs = [("--input", input), ("session", config)] + (reply.map { [("--reply", $0)] } ?? [])
                try Outputs.check(output, inputs: inputs, force: force)
            }
            let callerAudio = try inputOptions.open(input)
            let replyAudio = try reply.map { try InputOptions.openAudio($0) }
            for note in try session.pipelineNotes() { Console.warn(note) }

            // Inbound: the caller's audio as the session's wire format, 20 ms at a time, streamed from the file.
            var inbound = try session.makeInbound()
            let inFormat = session.inputAudioFormat
            var caller = try WireStream(reader: callerAudio, format: inFormat, rate: inbound.inputRate)
            let chunk = inFormat.bytesPerSample * inbound.inputRate.hertz / 50
            let modelBytesPerMs = 2 * inbound.modelRate.hertz / 1000
            var events = InboundEvents()
            var toModel = [UInt8](repeating: 0, count: inbound.maximumOutputBytes)
            var piece = [UInt8](repeating: 0, count: chunk)
            var modelBytes = 0
            var armed = false
            Interruption.install()
            while true {
                if let signal = Interruption.received { throw UserError("interrupted by signal \(signal)") }
                if let at = idleTimerAtMs, !armed, inbound.inputMs >= at { inbound.armIdleTimer(); armed = true }
                let n = try caller.read(into: &piece)
                if n == 0 { break }
                modelBytes += try piece.withUnsafeBufferPointer { src in
                    try toModel.withUnsafeMutableBufferPointer { try inbound.append(UnsafeBufferPointer(rebasing: src[..<n]), into: $0, events: &events) }
                }
                events.forEach { print($0.json) }
            }
            modelBytes += try toModel.withUnsafeMutableBufferPointer { try inbound.finish(into: $0, events: &events) }
            events.forEach { print($0.json) }
            var committed = JSONLine(type: "input_audio_buffer.committed")
            committed.add("audio_ms", modelBytes / modelBytesPerMs)
            print(committed.text)

            guard let replyAudio, let output, let (kind, outputFormat) = replyKind else { return }
            var outbound = try session.makeOutbound()
            var model = try WireStream(reader: replyAudio, format: .pcm16, rate: outbound.modelRate)
            let writer = try SoundFileWriter(path: output, container: kind.container, encoding: outputFormat.encoding,
                                             sampleRate: outbound.clientRate.hertz)
            let replyBytesPerMs = 2 * outbound.modelRate.hertz / 1000
            let deltaBytes = 20 * replyBytesPerMs
            var delta = [UInt8](repeating: 0, count: deltaBytes)
            var toClient = [UInt8](repeating: 0, count: outbound.maximumOutputBytes)
            func write(_ count: Int) throws {
                try toClient.withUnsafeBufferPointer { try writer.write(encoded: UnsafeBufferPointer(rebasing: $0[..<count])) }
            }
            var modelTotal = 0
            while true {
                if let signal = Interruption.received {
                    writer.discard()
                    throw UserError("interrupted by signal \(signal); '\(output)' was not written")
                }
                let n = try model.read(into: &delta)
                if n == 0 { break }
                modelTotal += n
                try write(try delta.withUnsafeBufferPointer { src in
                    try toClient.withUnsafeMutableBufferPointer { try outbound.append(UnsafeBufferPointer(rebasing: src[..<n]), into: $0) }
                })
            }
            let played = outbound.producedSamples
            let audioEnd = outbound.audioEndMs(playedSamples: played)
            try write(try toClient.withUnsafeMutableBufferPointer { try outbound.finish(into: $0) })
            try writer.commit()
            var done = JSONLine(type: "response.audio.done")
            done.add("model_audio_ms", modelTotal / replyBytesPerMs)
            done.add("speed", session.speed)
            done.add("client_samples", Int(writer.framesWritten))
            done.add("audio_end_ms_before_tail", audioEnd)
            done.add("client_samples_before_tail", played)
            print(done.text)
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

/// A sound file as a stream of the wire bytes of `format` at `rate`: mixed to mono, resampled with
/// the voice preset when the file has another rate, encoded; read a chunk at a time, so memory stays flat whatever
/// the file's length.
struct WireStream {
    private let reader: SoundFileReader
    private let format: AudioFormat
    private var stage: ConversionStage
    /// Encoded bytes made and not yet read: at most one pump's worth.
    private var pending: [UInt8] = []
    private var start = 0
    private var ended = false

    init(reader: SoundFileReader, format: AudioFormat, rate: SampleRate) throws {
        self.reader = reader
        self.format = format
        let resampler = reader.info.sampleRate == rate.hertz ? nil
            : try Resampler(from: SampleRate(hertz: reader.info.sampleRate), to: rate)
        stage = ConversionStage(channels: reader.info.channels, resampler: resampler)
    }

    /// Fills `buffer` with the next bytes (all of it unless the stream ends); returns the count, 0 at the end.
    mutating func read(into buffer: inout [UInt8]) throws -> Int {
        while pending.count - start < buffer.count, !ended {
            if start > 0 {
                pending.removeFirst(start)
                start = 0
            }
            let format = self.format
            var made: [UInt8] = []
            let sink: SampleSink = { samples in
                if let law = format.g711 {
                    let base = made.count
                    made += repeatElement(0, count: samples.count)
                    made.withUnsafeMutableBufferPointer { law.encode(samples, into: UnsafeMutableBufferPointer(rebasing: $0[base...])) }
                } else {
                    let base = made.count
                    made += repeatElement(0, count: 2 * samples.count)
                    _ = made.withUnsafeMutableBufferPointer { PCM16.encode(samples, into: UnsafeMutableBufferPointer(rebasing: $0[base...])) }
                }
            }
            if try stage.pump(from: reader, to: sink) == 0 {
                try stage.finish(to: sink)
                ended = true
            }
            pending += made
        }
        let n = min(buffer.count, pending.count - start)
        buffer.withUnsafeMutableBufferPointer { dst in
            pending.withUnsafeBufferPointer { src in
                if n > 0 { dst.baseAddress!.update(from: src.baseAddress! + start, count: n) }
            }
        }
        start += n
        return n
    }
}
