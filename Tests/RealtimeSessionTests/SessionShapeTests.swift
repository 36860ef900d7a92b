import Foundation
import RealtimeAudio
import Testing
@testable import RealtimeSession
import TestSupport

@Suite("Session shapes: GA beside beta, conversion, 16 and 24 kHz pipelines")
struct SessionShapeTests {
    /// Every member of the beta shape set away from its default, unknown members at each level.
    static let fullBeta = """
        {"model":"gpt-4o-realtime-preview","modalities":["text"],"instructions":"Be brief.","voice":"alloy",
         "input_audio_format":"g711_ulaw","output_audio_format":"g711_alaw",
         "input_audio_transcription":{"model":"whisper-1","language":"fr","prompt":"x","x_t":1},
         "input_audio_noise_reduction":{"type":"far_field"},
         "turn_detection":{"type":"server_vad","threshold":0.7,"prefix_padding_ms":200,"silence_duration_ms":800,
           "create_response":false,"interrupt_response":true,"idle_timeout_ms":6000,"vendor_hint":1},
         "tools":[{"type":"function","name":"lookup","description":"Find","parameters":{"type":"object"},"strict":true}],
         "tool_choice":{"type":"function","name":"lookup"},"temperature":0.8,"max_response_output_tokens":512,"speed":1.25,
         "tracing":{"workflow_name":"w","group_id":"g","metadata":{"k":"v"}},
         "client_secret":{"value":"ek_123","expires_at":1735689600},"x_team":"voice"}
        """

    static let fullGA = """
        {"type":"realtime","model":"gpt-realtime","output_modalities":["audio"],"instructions":"Be brief.",
         "audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":{"model":"gpt-4o-transcribe"},
           "noise_reduction":{"type":"near_field"},"turn_detection":{"type":"semantic_vad","eagerness":"high","create_response":true,
           "interrupt_response":false}},"output":{"format":{"type":"audio/pcmu"},"voice":"marin","speed":0.75}},
         "tools":[],"tool_choice":"none","max_output_tokens":"inf","tracing":"auto","truncation":"auto","x_team":"voice"}
        """

    @Test("the shape is detected: GA from a GA-only member, beta otherwise")
    func detection() throws {
        #expect(try Session(json: Self.fullBeta).shape == .beta)
        #expect(try Session(json: Self.fullGA).shape == .ga)
        #expect(try Session(json: "{}").shape == .beta)
        #expect(try Session(json: #"{"type":"realtime"}"#).shape == .ga)
        // A GA-only member makes the document GA, and its beta members are then named, not taken.
        let (_, mixed) = Session.validate(json: #"{"audio":{},"input_audio_format":"pcm16","speed":1}"#)
        #expect(mixed.violations.map(\.description) == [
            "input_audio_format: is a beta session member: the GA shape has it at audio.input.format",
            "speed: is a beta session member: the GA shape has it at audio.output.speed",
            "type: is required",
        ])
    }

    @Test("an empty GA session gets every default")
    func gaDefaults() throws {
        let session = try Session(json: #"{"type":"realtime"}"#)
        #expect(session.json.serialized() == """
            {"type":"realtime","output_modalities":["audio"],"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},\
            "transcription":null,"noise_reduction":null,"turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,\
            "silence_duration_ms":500,"create_response":true,"interrupt_response":true}},"output":{"format":{"type":"audio/pcm","rate":24000},\
            "speed":1}},"tools":[],"tool_choice":"auto","max_output_tokens":"inf","tracing":null,"truncation":"auto"}
            """)
    }

    @Test("JSON round trips are equal in both shapes, unknown members kept where they came")
    func roundTrips() throws {
        for text in [Self.fullBeta, Self.fullGA] {
            let (parsed, report) = Session.validate(json: text)
            let session = try #require(parsed, "\(report.violations)")
            let again = try Session(json: session.json.serialized())
            #expect(again == session)
            #expect(again.json == session.json)
        }
        let ga = try Session(json: Self.fullGA.replacingOccurrences(of: #""speed":0.75}"#, with: #""speed":0.75,"x_out":2}"#))
        #expect(ga.nestedUnknownFields["audio.output"] == [.init("x_out", .number("2"))])
        #expect(ga.json["audio"]?["output"]?["x_out"] == .number("2"))
    }

    @Test("beta -> GA -> beta and GA -> beta -> GA are equal where lossless, with no warning")
    func lossless() throws {
        for (text, from, to) in [(Self.fullBeta, Session.Shape.beta, Session.Shape.ga), (Self.fullGA, .ga, .beta)] {
            let session = try Session(json: text, shape: from)
            let (other, lost) = session.converted(to: to)
            #expect(lost.isEmpty, "\(lost)")
            let converted = try Session(json: other.serialized(), shape: to)
            #expect(converted.shape == to)
            let (back, lostBack) = converted.converted(to: from)
            #expect(lostBack.isEmpty)
            #expect(back == session.json)
            var same = converted
            same.shape = from
            #expect(same == session)
        }
        // What each field becomes.
        let ga = try Session(json: Self.fullBeta).json(shape: .ga)
        #expect(ga["output_modalities"] == .array([.string("text")]))
        #expect(ga["audio"]?["input"]?["format"] == .object([.init("type", .string("audio/pcmu"))]))
        #expect(ga["audio"]?["output"]?["format"] == .object([.init("type", .string("audio/pcma"))]))
        #expect(ga["audio"]?["input"]?["noise_reduction"]?["type"] == .string("far_field"))
        #expect(ga["audio"]?["input"]?["turn_detection"]?["idle_timeout_ms"] == .number("6000"))
        #expect(ga["audio"]?["output"]?["voice"] == .string("alloy") && ga["audio"]?["output"]?["speed"] == .number("1.25"))
        #expect(ga["max_output_tokens"] == .number("512") && ga["temperature"] == nil && ga["x_team"] == .string("voice"))
        let beta = try Session(json: Self.fullGA).json(shape: .beta)
        #expect(beta["modalities"] == .array([.string("audio"), .string("text")]) && beta["output_audio_format"] == .string("g711_ulaw"))
        #expect(beta["turn_detection"]?["eagerness"] == .string("high") && beta["truncation"] == nil)
    }

    @Test("what the other shape cannot say is named, field by field")
    func lossy() throws {
        let beta = try Session(json: #"{"temperature":1.1}"#)
        #expect(beta.conversionWarnings(to: .ga).map(\.description) == ["temperature: the GA session has no temperature: 1.1 is dropped"])
        let ga = try Session(json: """
            {"type":"realtime","audio":{"input":{"format":{"type":"audio/pcm","rate":16000},"x_in":1},"output":{"format":{"type":"audio/pcm","rate":16000}}},
             "truncation":"disabled","prompt":{"id":"pmpt_1"},"include":["item.input_audio_transcription.logprobs"]}
            """)
        #expect(ga.conversionWarnings(to: .beta).map(\.description) == [
            "audio.input.format.rate: the beta shape's pcm16 is 24000 Hz: 16000 cannot be written",
            "audio.output.format.rate: the beta shape's pcm16 is 24000 Hz: 16000 cannot be written",
            "truncation: the beta shape has no truncation: dropped",
            "prompt: the beta shape has no prompt: dropped",
            "include: the beta shape has no include: dropped",
            "audio.input.x_in: unknown field with no place in the beta shape: dropped",
        ])
        #expect(ga.conversionWarnings(to: .ga).isEmpty)
    }

    @Test("Codable decodes either shape and encodes the one it came in")
    func codable() throws {
        let session = try JSONDecoder().decode(Session.self, from: Data(Self.fullGA.utf8))
        #expect(session.shape == .ga && session.outputAudioFormat == .g711_ulaw && session.speed == 0.75)
        let encoded = try JSONEncoder().encode(session)
        #expect(try JSONDecoder().decode(Session.self, from: encoded) == session)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Session.self, from: Data(#"{"type":"realtime","audio":{"output":{"speed":3}}}"#.utf8))
        }
    }

    @Test("the pipelines take the model rate from the session: 16 kHz and 24 kHz, both shapes")
    func modelRates() throws {
        for (rate, text) in [(16000, #"{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcm","rate":16000}},"output":{"format":{"type":"audio/pcm","rate":16000}}}}"#),
                             (24000, #"{"type":"realtime"}"#), (24000, #"{"input_audio_format":"pcm16"}"#)] {
            let session = try Session(json: text)
            #expect(session.modelInputRate.hertz == rate && session.modelOutputRate.hertz == rate)
            // A Twilio leg: µ-law at 8 kHz in and out, the model at the session's rate.
            var inbound = try session.makeInbound(clientFormat: .g711_ulaw)
            #expect(inbound.inputRate == .hz8000 && inbound.modelRate.hertz == rate)
            var outbound = try session.makeOutbound(clientFormat: .g711_ulaw)
            #expect(outbound.clientRate == .hz8000 && outbound.modelRate.hertz == rate)
            // One second of caller audio becomes one second at the model rate; one second of model audio one at 8 kHz.
            var toModel: [UInt8] = []
            var events = InboundEvents()
            let second = [UInt8](repeating: 0xFF, count: 8000)
            try inbound.append(second, to: &toModel, events: &events)
            var tail = [UInt8](repeating: 0, count: inbound.maximumOutputCount(forInput: 0))
            let n = try tail.withUnsafeMutableBufferPointer { try inbound.finish(into: $0, events: &events) }
            #expect(toModel.count + n == 2 * rate)
            var toCaller: [UInt8] = []
            for _ in 0..<50 { try outbound.append([UInt8](repeating: 0, count: 2 * rate / 50), to: &toCaller) }
            var end = [UInt8](repeating: 0, count: outbound.maximumOutputBytes)
            let m = try end.withUnsafeMutableBufferPointer { try outbound.finish(into: $0) }
            #expect(toCaller.count + m == 8000)
            // The session's own client: pcm16 at the session's rate, no resampling either way.
            let direct = try session.makeInbound()
            #expect(direct.inputRate.hertz == rate && direct.modelRate.hertz == rate)
        }
        // G.711 sessions: the client speaks G.711 at 8 kHz, the model side is pcm16 at the default 24 kHz.
        let g711 = try Session(json: #"{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcma"}}}}"#)
        let inbound = try g711.makeInbound()
        #expect(inbound.format == .g711_alaw && inbound.inputRate == .hz8000 && inbound.modelRate == .hz24000)
    }

    @Test("noise_reduction is carried into the inbound pipeline, which says it does not reduce noise")
    func noiseReduction() throws {
        let session = try Session(json: #"{"type":"realtime","audio":{"input":{"noise_reduction":{"type":"far_field"}}}}"#)
        let inbound = try session.makeInbound()
        #expect(inbound.requestedNoiseReduction == .farField && !inbound.reducesNoise)
        #expect(try session.pipelineNotes().contains { $0.contains("noise_reduction far_field") && $0.contains("not denoised") })
        #expect(try Session(json: "{}").pipelineNotes().isEmpty)
        #expect(try Session(json: "{}").makeInbound().requestedNoiseReduction == nil)
    }

    @Test("turn detection never turns off silently: a session built in code with a bad value is a typed error")
    func detectorErrors() throws {
        var session = Session()
        var settings = Session.ServerVADSettings()
        settings.threshold = 1.5
        session.turnDetection = .serverVAD(settings)
        #expect(throws: PipelineError.turnDetection(.thresholdOutOfRange(1.5))) { try session.makeInbound() }
        #expect(throws: PipelineError.turnDetection(.thresholdOutOfRange(1.5))) { try session.detectorSettings() }
        // The session's defaults are the detector's.
        let d = ServerVADConfiguration.default
        #expect(Session.ServerVADSettings().threshold == d.threshold && Session.ServerVADSettings().prefixPaddingMs == d.prefixPaddingMs
                && Session.ServerVADSettings().silenceDurationMs == d.silenceDurationMs)
        #expect(try Session().detectorSettings().configuration == d)
    }

    @Test("random corruption of a GA document never crashes and is either valid or reported")
    func corruption() throws {
        let text = Array(Self.fullGA.utf8)
        var rng = SplitMix64(seed: 7)
        for _ in 0..<3000 {
            var bytes = text
            for _ in 0..<Int(rng.next() % 4 + 1) {
                bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(rng.next() % 128)
            }
            for shape in [Session.Shape?.none, .beta, .ga] {
                let (session, report) = Session.validate(json: bytes, shape: shape)
                #expect((session != nil) == report.isValid)
                guard let session else { continue }
                #expect(try Session(json: session.json.serialized()) == session)
                for target in Session.Shape.allCases {
                    #expect(Session.validate(json: session.json(shape: target).serialized(), shape: target).1.isValid)
                }
            }
        }
    }
}
