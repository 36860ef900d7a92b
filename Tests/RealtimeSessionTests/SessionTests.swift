import Foundation
import RealtimeAudio
import Testing
@testable import RealtimeSession

func violations(_ report: ValidationReport) -> [String] { report.violations.map(\.description) }

@Suite("Session")
struct SessionTests {
    @Test("an empty body gets every default")
    func defaults() throws {
        let session = try Session(json: "{}")
        #expect(session.json.serialized() == """
            {"modalities":["audio","text"],"input_audio_format":"pcm16","output_audio_format":"pcm16","input_audio_transcription":null,\
            "input_audio_noise_reduction":null,"turn_detection":{"type":"server_vad","threshold":0.5,"prefix_padding_ms":300,"silence_duration_ms":500,"create_response":true,\
            "interrupt_response":true},"tools":[],"tool_choice":"auto","temperature":0.8,"max_response_output_tokens":"inf","speed":1,"tracing":null}
            """)
    }

    @Test("a full document decodes, normalizes and reads back to the same session; unknown fields are kept and warned")
    func roundTrip() throws {
        let text = """
            {"modalities":["text"],"instructions":"Be brief.","voice":"alloy","input_audio_format":"g711_ulaw",
             "output_audio_format":"g711_alaw","input_audio_transcription":{"model":"whisper-1","language":"fr","prompt":"x"},
             "turn_detection":{"type":"server_vad","threshold":0.7,"prefix_padding_ms":200,"silence_duration_ms":800,
               "create_response":false,"interrupt_response":true,"idle_timeout_ms":6000,"vendor_hint":1},
             "tools":[{"type":"function","name":"lookup","description":"Find","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}],
             "tool_choice":{"type":"function","name":"lookup"},"temperature":1.1,"max_response_output_tokens":512,"speed":1.25,
             "tracing":{"workflow_name":"w","group_id":"g","metadata":{"k":"v"}},
             "client_secret":{"value":"ek_123","expires_at":1735689600},"x_team":"voice"}
            """
        let (parsed, report) = Session.validate(json: text)
        let session = try #require(parsed, "\(violations(report))")
        #expect(report.warnings.map(\.description) == ["turn_detection.vendor_hint: unknown field (kept as is)", "x_team: unknown field (kept as is)"])
        #expect(session.modalities == .text && session.inputAudioFormat == .g711_ulaw && session.outputAudioFormat == .g711_alaw)
        #expect(session.turnDetection == .serverVAD({
            var s = Session.ServerVADSettings()
            s.threshold = 0.7; s.prefixPaddingMs = 200; s.silenceDurationMs = 800; s.createResponse = false
            s.idleTimeoutMs = 6000; s.unknownFields = [.init("vendor_hint", .number("1"))]
            return s
        }()))
        #expect(session.toolChoice == .function(name: "lookup") && session.maxResponseOutputTokens == .limit(512))
        #expect(session.clientSecret == Session.ClientSecret(value: "ek_123", expiresAt: 1735689600))
        let again = try Session(json: session.json.serialized())
        #expect(again == session)
        #expect(session.json["x_team"] == .string("voice"))
        #expect(session.json["turn_detection"]?["vendor_hint"] == .number("1"))
    }

    @Test("every violation is reported at once, each with its path")
    func everyViolation() {
        let (session, report) = Session.validate(json: """
            {"modalities":["audio"],"input_audio_format":"opus","turn_detection":{"type":"server_vad","threshold":1.3,
             "silence_duration_ms":-5,"eagerness":"low"},"temperature":2,"speed":0.1,"max_response_output_tokens":5000,
             "tool_choice":"maybe","tools":[{"type":"function","name":"a","parameters":[1]},{"type":"web","name":"a"}],
             "tracing":7,"instructions":42}
            """)
        #expect(session == nil)
        #expect(Set(violations(report)) == [
            "modalities: must be [\"text\"] or [\"audio\", \"text\"]",
            "input_audio_format: 'opus' is not one of pcm16, g711_ulaw, g711_alaw",
            "turn_detection.threshold: 1.3 is outside 0...1",
            "turn_detection.silence_duration_ms: -5 is outside 0...60000",
            "turn_detection.eagerness: applies to semantic_vad only",
            "temperature: 2 is outside 0.6...1.2",
            "speed: 0.1 is outside 0.25...1.5",
            "max_response_output_tokens: 5000 is outside 1...4096",
            "tool_choice: must be auto, none, required or {\"type\": \"function\", \"name\": ...}",
            "tools[0].parameters: must be a JSON Schema object, not an array",
            "tools[1].type: 'web' is not one of function",
            "tools[1].name: 'a' is already the name of another tool",
            "tracing: must be null, \"auto\" or an object",
            "instructions: must be a string, not a number",
        ])
    }

    @Test("semantic_vad decodes and validates; the pipeline says its detector is energy-based")
    func semanticVAD() throws {
        let session = try Session(json: #"{"turn_detection":{"type":"semantic_vad","eagerness":"high"}}"#)
        #expect(session.turnDetection == .semanticVAD(eagerness: .high, createResponse: true, interruptResponse: true, unknownFields: []))
        let settings = try session.detectorSettings()
        #expect(settings.configuration?.silenceDurationMs == 250)
        #expect(settings.note?.contains("energy-based") == true)
        let (_, bad) = Session.validate(json: #"{"turn_detection":{"type":"semantic_vad","eagerness":"eager","threshold":0.5}}"#)
        #expect(Set(violations(bad)) == ["turn_detection.eagerness: 'eager' is not one of low, medium, high, auto",
                                        "turn_detection.threshold: applies to server_vad only"])
        #expect(try Session(json: #"{"turn_detection":null}"#).detectorSettings().configuration == nil)
    }

    @Test("a named tool_choice must be one of the tools; tracing takes auto or an object")
    func toolsAndTracing() throws {
        let (_, report) = Session.validate(json: #"{"tools":[{"type":"function","name":"a"}],"tool_choice":{"type":"function","name":"b"}}"#)
        #expect(violations(report) == ["tool_choice.name: 'b' is not one of the session's tools"])
        #expect(try Session(json: #"{"tracing":"auto"}"#).tracing == .auto)
        #expect(try Session(json: #"{"tracing":null,"max_response_output_tokens":"inf"}"#).tracing == nil)
    }

    @Test("the session builds its pipelines: formats, rates, speed, idle timeout")
    func pipelines() throws {
        let session = try Session(json: #"{"input_audio_format":"g711_alaw","output_audio_format":"g711_ulaw","speed":0.75,"turn_detection":{"type":"server_vad","idle_timeout_ms":3000}}"#)
        let inbound = try session.makeInbound()
        #expect(inbound.format == .g711_alaw && inbound.inputRate == .hz8000 && inbound.idleTimeoutMs == 3000)
        let outbound = try session.makeOutbound()
        #expect(outbound.format == .g711_ulaw && outbound.clientRate == .hz8000 && outbound.speed == 0.75)
    }

    @Test("Codable: JSONDecoder validates (the error names the paths), JSONEncoder writes the normalized document")
    func codable() throws {
        let session = try JSONDecoder().decode(Session.self, from: Data(#"{"speed":1.5,"voice":"verse"}"#.utf8))
        #expect(session.speed == 1.5 && session.voice == "verse")
        let encoded = try JSONEncoder().encode(session)
        #expect(try JSONDecoder().decode(Session.self, from: encoded) == session)
        do {
            _ = try JSONDecoder().decode(Session.self, from: Data(#"{"speed":3,"temperature":0}"#.utf8))
            Issue.record("decoded an invalid session")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription == "temperature: 0 is outside 0.6...1.2; speed: 3 is outside 0.25...1.5")
        }
    }

    @Test("numbers without a JSON spelling are written as null; the session that holds one still writes valid JSON")
    func nonFiniteNumbers() throws {
        #expect(JSONValue(Double.nan) == .null)
        #expect(JSONValue(Double.infinity) == .null)
        #expect(JSONValue(-Double.infinity) == .null)
        #expect(JSONValue(0.5) == .number("0.5"))
        var session = Session()
        session.temperature = .nan
        let text = session.json.serialized()
        #expect(throws: Never.self) { try JSONValue(parsing: text) }
        #expect(text.contains(#""temperature":null"#))
    }

    @Test("JSON strings: a quote, an escape, a control character or UTF-8 at every offset of a long plain run")
    func jsonStringsAtEveryOffset() throws {
        // Plain ASCII is skipped eight bytes at a time: whatever breaks the run must be seen wherever it falls.
        for length in 0..<40 {
            let plain = String((0..<length).map { Character(UnicodeScalar(UInt8(48 + $0 % 75))) }).replacingOccurrences(of: "\\", with: "-")
            #expect(try JSONValue(parsing: "[\"" + plain + "\"]") == .array([.string(plain)]))
            for p in 0...length {
                let head = String(plain.prefix(p)), tail = String(plain.dropFirst(p))
                #expect(try JSONValue(parsing: "[\"" + head + "\\\"" + tail + "\"]") == .array([.string(head + "\"" + tail)]))
                #expect(try JSONValue(parsing: "[\"" + head + "é€😀" + tail + "\"]") == .array([.string(head + "é€😀" + tail)]))
                #expect(throws: JSONSyntaxError(offset: 2 + p, expected: "no control characters in a string")) {
                    try JSONValue(parsing: "[\"" + head + "\n" + tail + "\"]")
                }
                // The string ends at the first unescaped quote, wherever it is.
                #expect(throws: JSONSyntaxError.self) { try JSONValue(parsing: "[\"" + head + "\"" + tail + "\"]") }
            }
        }
    }

    @Test("JSON: syntax errors name the offset; strings, escapes and number spellings survive")
    func json() throws {
        #expect(throws: JSONSyntaxError(offset: 7, expected: "',' or '}'")) { try JSONValue(parsing: #"{"a":1 "b":2}"#) }
        #expect(throws: JSONSyntaxError(offset: 0, expected: "a value")) { try JSONValue(parsing: "") }
        #expect(throws: JSONSyntaxError(offset: 6, expected: "the end of the document")) { try JSONValue(parsing: "[1,2] x") }
        let value = try JSONValue(parsing: #"{"t":"é\u00e9\ud83d\ude00\n\"","n":1.50e+3,"z":-0}"#)
        #expect(value["t"] == .string("éé😀\n\""))
        #expect(value["n"] == .number("1.50e+3") && value["n"]?.doubleValue == 1500)
        #expect(try JSONValue(parsing: value.serialized()) == value)
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        #expect(throws: JSONSyntaxError.self) { try JSONValue(parsing: deep) }
    }

    @Test("random corruption of a valid document never crashes and is either valid or reported")
    func corruption() {
        let text = Array(#"{"input_audio_format":"g711_ulaw","turn_detection":{"type":"server_vad","threshold":0.6},"tools":[{"type":"function","name":"x"}],"speed":1.2}"#.utf8)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var bytes = text
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...127, using: &rng)
            }
            let (session, report) = Session.validate(json: String(decoding: bytes, as: UTF8.self))
            #expect((session != nil) == report.isValid)
        }
    }
}

@Suite("Assistant and RealtimeResponse")
struct AssistantTests {
    static let valid = """
        {"generation_config":"gpt-voice","generation_config_pretools":"gpt-mini","description":"Front desk",
         "system_prompt":"You are helpful.","temperature":0.4,"max_responses":20,"initial_message":"Hi!",
         "faq_available":true,"colors":{"primary":"#123456"},"logo":"https://example.com/logo.png","tools":[1,2],"pretools":[]}
        """

    @Test("a valid request passes against the registered presets")
    func valid() throws {
        let (assistant, report) = Assistant.validate(json: Self.valid, context: ValidationContext(generationConfigs: ["gpt-voice", "gpt-mini"]))
        let a = try #require(assistant, "\(violations(report))")
        #expect(report.warnings.isEmpty)
        #expect(a.generationConfig == "gpt-voice" && a.flags["faq_available"] == true && a.tools == [1, 2])
        let (again, _) = Assistant.validate(json: a.json.serialized(), context: ValidationContext(generationConfigs: ["gpt-voice", "gpt-mini"]))
        #expect(again == a)
        // With no presets registered, any non-empty name passes with a warning.
        let (_, open) = Assistant.validate(json: Self.valid)
        #expect(open.isValid && open.warnings.count == 2)
    }

    @Test("every rule, reported at once")
    func everyViolation() {
        let json = """
            {"generation_config":"gpt-huge","description":"","system_prompt":"\(String(repeating: "x", count: 11401))",
             "temperature":2.5,"max_msg_length":3000000000,"info":"","matrix_mode_available":"yes","colors":[],
             "logo":"not a uri","tools":[1,1,"2"],"id":7,"created_at":"2025-13-01T00:00:00Z","retrieval_faq":null}
            """
        let (assistant, report) = Assistant.validate(json: json, context: ValidationContext(generationConfigs: ["gpt-voice"]))
        #expect(assistant == nil)
        #expect(Set(violations(report)) == [
            "generation_config: 'gpt-huge' is not a registered generation config (gpt-voice)",
            "generation_config_pretools: is required",
            "description: must be at least 1 character(s), not 0",
            "system_prompt: must be 1 to 11400 characters, not 11401",
            "temperature: 2.5 is outside 0...2",
            "max_msg_length: 3000000000 is outside -2147483648...2147483647",
            "info: must be at least 1 character(s), not 0",
            "matrix_mode_available: must be true or false, not a string",
            "colors: must be an object or null, not an array",
            "logo: 'not a uri' is not a URI (scheme:rest)",
            "tools[1]: 1 appears more than once (ids must be unique)",
            "tools[2]: must be an integer id, not a string",
            "id: is read-only: the server sets it, a create or update request may not",
            "created_at: is read-only: the server sets it, a create or update request may not",
            "retrieval_faq: is read-only: the server sets it, a create or update request may not",
            "created_at: '2025-13-01T00:00:00Z' is not an ISO 8601 date-time",
        ])
    }

    @Test("a stored assistant keeps its read-only fields")
    func stored() throws {
        let json = #"{"generation_config":"a","generation_config_pretools":"b","description":"d","system_prompt":"p","temperature":1,"id":42,"created_at":"2025-01-31T12:00:00.5+01:00","updated_at":"2025-02-01T00:00:00Z","retrieval_lessons":null}"#
        let (assistant, report) = Assistant.validate(json: json, context: ValidationContext(purpose: .stored))
        let a = try #require(assistant, "\(violations(report))")
        #expect(a.id == .number("42") && a.createdAt == "2025-01-31T12:00:00.5+01:00" && a.retrieval["retrieval_lessons"] == .null)
        #expect(a.json["retrieval_lessons"] == .null)
    }

    @Test("a realtime response validates its assistant in place (paths under assistant.)")
    func realtimeResponse() throws {
        let good = #"{"assistant":{"generation_config":"a","generation_config_pretools":"b","description":"d","system_prompt":"p","temperature":1,"id":1},"chat_id":99,"model":"gpt-realtime","system_prompt":"Be kind","temperature":0.7,"max_tokens":800,"additional_params":{"region":"eu","trace":null}}"#
        let (response, report) = RealtimeResponse.validate(json: good)
        let r = try #require(response, "\(violations(report))")
        #expect(r.chatID == .number("99") && r.model == "gpt-realtime" && r.additionalParams?.count == 2)
        let (_, bad) = RealtimeResponse.validate(json: #"{"assistant":{"generation_config":"a","description":"d","system_prompt":"p","temperature":3},"model":"","system_prompt":"x","additional_params":{"n":1}}"#)
        #expect(Set(violations(bad)) == [
            "assistant.generation_config_pretools: is required",
            "assistant.temperature: 3 is outside 0...2",
            "chat_id: is required",
            "model: must be at least 1 character(s), not 0",
            "additional_params.n: must be a string or null, not a number",
        ])
        // Through JSONDecoder the members of nested objects may come in another order (it reads them as a dictionary).
        let decoded = try JSONDecoder().decode(RealtimeResponse.self, from: Data(good.utf8))
        #expect(decoded.model == r.model && decoded.chatID == r.chatID && decoded.assistant.id == r.assistant.id)
        #expect(Set(decoded.additionalParams?.map(\.key) ?? []) == ["region", "trace"])
    }
}
