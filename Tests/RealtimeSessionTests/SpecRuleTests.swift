import RealtimeAudio
import Testing
@testable import RealtimeSession

/// One rule of a spec, tried on a valid document: `path` set to `value` (JSON text; nil removes it) either still
/// validates (`violation` nil) or breaks exactly that one rule, named with its path.
struct RuleCase: Sendable, CustomTestStringConvertible {
    let path: String
    let value: String?
    let violation: String?
    /// Where the violation is named, when deeper than `path`.
    let at: String?
    init(_ path: String, _ value: String?, _ violation: String? = nil, at: String? = nil) {
        self.path = path
        self.value = value
        self.violation = violation
        self.at = at
    }
    var testDescription: String { "\(path) = \(value.map { $0.count > 40 ? String($0.prefix(40)) + "..." : $0 } ?? "(absent)") -> \(violation ?? "valid")" }

    /// The violations (and whether a model came back) of `base` with this case applied.
    func check(_ base: String, _ validate: (String) -> (Bool, ValidationReport)) throws {
        var document = try JSONValue(parsing: base)
        document = Self.setting(document, path.split(separator: ".").map(String.init)[...], try value.map { try JSONValue(parsing: $0) })
        let (valid, report) = validate(document.serialized())
        if let violation {
            #expect(!valid)
            #expect(report.violations.map(\.description) == ["\(at ?? path): \(violation)"])
        } else {
            #expect(valid, "\(report.violations.map(\.description))")
        }
    }

    static func setting(_ value: JSONValue, _ path: ArraySlice<String>, _ new: JSONValue?) -> JSONValue {
        guard let key = path.first, case .object(var members) = value else { return value }
        let index = members.firstIndex { $0.key == key }
        if path.count == 1 {
            switch (index, new) {
            case (let i?, let new?): members[i].value = new
            case (let i?, nil): members.remove(at: i)
            case (nil, let new?): members.append(.init(key, new))
            case (nil, nil): break
            }
        } else {
            let child = index.map { members[$0].value } ?? .object([])
            let updated = setting(child, path.dropFirst(), new)
            if let index { members[index].value = updated } else { members.append(.init(key, updated)) }
        }
        return .object(members)
    }
}

let longPrompt = "\"" + String(repeating: "x", count: 11400) + "\""
let tooLongPrompt = "\"" + String(repeating: "x", count: 11401) + "\""

@Suite("The assistant spec, rule by rule")
struct AssistantSpecTests {
    static let base = """
        {"generation_config":"gpt-voice","generation_config_pretools":"gpt-mini","description":"Front desk",
         "system_prompt":"You are helpful.","temperature":0.4}
        """
    static let context = ValidationContext(generationConfigs: ["gpt-voice", "gpt-mini"])

    static let requestCases: [RuleCase] = {
        var cases: [RuleCase] = []
        for key in ["generation_config", "generation_config_pretools"] {
            cases += [RuleCase(key, nil, "is required"), RuleCase(key, "null", "must be a string, not null"),
                      RuleCase(key, "\"\"", "must be at least 1 character(s), not 0"),
                      RuleCase(key, "\"gpt-huge\"", "'gpt-huge' is not a registered generation config (gpt-mini, gpt-voice)"),
                      RuleCase(key, "7", "must be a string, not a number"), RuleCase(key, "\"gpt-mini\"")]
        }
        cases += [
            RuleCase("description", nil, "is required"), RuleCase("description", "null", "must be a string, not null"),
            RuleCase("description", "\"\"", "must be at least 1 character(s), not 0"), RuleCase("description", "\"x\""),
            RuleCase("system_prompt", nil, "is required"), RuleCase("system_prompt", "null", "must be a string, not null"),
            RuleCase("system_prompt", "\"\"", "must be 1 to 11400 characters, not 0"),
            RuleCase("system_prompt", tooLongPrompt, "must be 1 to 11400 characters, not 11401"),
            RuleCase("system_prompt", "\"x\""), RuleCase("system_prompt", longPrompt),
            RuleCase("temperature", nil, "is required"), RuleCase("temperature", "null", "must be a number, not null"),
            RuleCase("temperature", "-0.1", "-0.1 is outside 0...2"), RuleCase("temperature", "2.01", "2.01 is outside 0...2"),
            RuleCase("temperature", "\"1\"", "must be a number, not a string"),
            RuleCase("temperature", "0"), RuleCase("temperature", "2"),
        ]
        for key in ["max_responses", "max_msg_length", "max_consecutive_tool_calls"] {
            cases += [RuleCase(key, "2147483648", "2147483648 is outside -2147483648...2147483647"),
                      RuleCase(key, "-2147483649", "-2147483649 is outside -2147483648...2147483647"),
                      RuleCase(key, "1.5", "must be an integer, not 1.5"), RuleCase(key, "\"3\"", "must be an integer, not a string"),
                      RuleCase(key, "2147483647"), RuleCase(key, "-2147483648"), RuleCase(key, "null")]
        }
        for key in Assistant.textFields {
            cases += [RuleCase(key, "\"\"", "must be at least 1 character(s), not 0"), RuleCase(key, "5", "must be a string, not a number"),
                      RuleCase(key, "\"x\""), RuleCase(key, "null")]
        }
        for key in Assistant.flagFields {
            cases += [RuleCase(key, "\"yes\"", "must be true or false, not a string"), RuleCase(key, "true"), RuleCase(key, "null")]
        }
        cases += [
            RuleCase("colors", "[]", "must be an object or null, not an array"), RuleCase("colors", "{}"), RuleCase("colors", "null"),
            RuleCase("logo", "\"not a uri\"", "'not a uri' is not a URI (scheme:rest)"),
            RuleCase("logo", "\"https://e.com/\(String(repeating: "a", count: 500))\"", "must be 1 to 500 characters, not 514"),
            RuleCase("logo", "\"\"", "must be 1 to 500 characters, not 0"),
            RuleCase("logo", "\"https://example.com/logo.png\""), RuleCase("logo", "null"),
        ]
        for key in ["tools", "pretools"] {
            cases += [RuleCase(key, "5", "must be an array of integer ids, not a number")]
            cases += [RuleCase(key, "[1,2]"), RuleCase(key, "[]"), RuleCase(key, "null")]
        }
        for key in ["id", "created_at", "updated_at", "retrieval_faq", "retrieval_fixed_faq", "retrieval_lessons"] {
            cases.append(RuleCase(key, "null", "is read-only: the server sets it, a create or update request may not"))
        }
        return cases
    }()

    @Test("request", arguments: requestCases)
    func request(_ rule: RuleCase) throws {
        try rule.check(Self.base) { let (a, r) = Assistant.validate(json: $0, context: Self.context); return (a != nil, r) }
    }

    @Test("ids are unique integers (the element's path is named)")
    func ids() {
        for key in ["tools", "pretools"] {
            let (_, report) = Assistant.validate(json: Self.base.dropLast() + ",\"\(key)\":[1,1,\"2\",2.5]}", context: Self.context)
            #expect(report.violations.map(\.description) == ["\(key)[1]: 1 appears more than once (ids must be unique)",
                                                              "\(key)[2]: must be an integer id, not a string",
                                                              "\(key)[3]: must be an integer id, not a number"])
        }
    }

    static let storedCases: [RuleCase] = [
        RuleCase("id", "42"), RuleCase("created_at", "\"2025-01-31T12:00:00Z\""), RuleCase("updated_at", "\"2025-01-31T12:00:00.25+05:30\""),
        RuleCase("retrieval_faq", "null"), RuleCase("retrieval_fixed_faq", "[1]"), RuleCase("retrieval_lessons", "{}"),
        RuleCase("created_at", "\"2025-13-01T00:00:00Z\"", "'2025-13-01T00:00:00Z' is not an ISO 8601 date-time"),
        RuleCase("updated_at", "\"yesterday\"", "'yesterday' is not an ISO 8601 date-time"),
        // A stored assistant is a whole one: its required fields are required too.
        RuleCase("system_prompt", nil, "is required"), RuleCase("temperature", nil, "is required"),
    ]

    @Test("stored", arguments: storedCases)
    func stored(_ rule: RuleCase) throws {
        try rule.check(Self.base) { let (a, r) = Assistant.validate(json: $0, context: ValidationContext(generationConfigs: ["gpt-voice", "gpt-mini"], purpose: .stored)); return (a != nil, r) }
    }

    static let partialCases: [RuleCase] = [
        RuleCase("generation_config", nil), RuleCase("generation_config_pretools", nil), RuleCase("description", nil),
        RuleCase("system_prompt", nil), RuleCase("temperature", nil),
        RuleCase("description", "null", "must be a string, not null"), RuleCase("temperature", "null", "must be a number, not null"),
        RuleCase("system_prompt", tooLongPrompt, "must be 1 to 11400 characters, not 11401"),
        RuleCase("id", "1", "is read-only: the server sets it, a create or update request may not"),
    ]

    @Test("partial update (PATCH): required fields may be left out, not nulled", arguments: partialCases)
    func partial(_ rule: RuleCase) throws {
        try rule.check(Self.base) { let (a, r) = Assistant.validate(json: $0, context: ValidationContext(generationConfigs: ["gpt-voice", "gpt-mini"], purpose: .partialUpdate)); return (a != nil, r) }
    }

    @Test("an empty partial update is valid; an empty request lists the five required fields")
    func empty() {
        #expect(Assistant.validate(json: "{}", context: ValidationContext(purpose: .partialUpdate)).1.isValid)
        #expect(Assistant.validate(json: "{}").1.violations.map(\.description) == [
            "generation_config: is required", "generation_config_pretools: is required", "description: is required",
            "system_prompt: is required", "temperature: is required",
        ])
    }
}

@Suite("The realtime-response spec, rule by rule")
struct RealtimeResponseSpecTests {
    static let base = """
        {"assistant":\(AssistantSpecTests.base),"chat_id":99,"model":"gpt-realtime","system_prompt":"Be kind",
         "temperature":0.7,"max_tokens":800,"additional_params":{"region":"eu","trace":null}}
        """

    static let cases: [RuleCase] = [
        RuleCase("assistant", nil, "is required"), RuleCase("assistant", "[]", "must be an object, not an array"),
        RuleCase("assistant.temperature", "3", "3 is outside 0...2"), RuleCase("assistant.description", nil, "is required"),
        RuleCase("assistant.id", "7"),
        RuleCase("chat_id", nil, "is required"), RuleCase("chat_id", "1.5", "must be an integer or a string, not 1.5"),
        RuleCase("chat_id", "true", "must be an integer or a string, not a boolean"),
        RuleCase("chat_id", "\"\"", "must be at least 1 character(s), not 0"),
        RuleCase("chat_id", "\"c-1\""), RuleCase("chat_id", "0"),
        RuleCase("model", nil, "is required"), RuleCase("model", "\"\"", "must be at least 1 character(s), not 0"),
        RuleCase("model", "null", "must be a string, not null"), RuleCase("model", "\"m\""),
        RuleCase("system_prompt", nil, "is required"), RuleCase("system_prompt", "\"\"", "must be at least 1 character(s), not 0"),
        RuleCase("temperature", "2.5", "2.5 is outside 0...2"), RuleCase("temperature", "-1", "-1 is outside 0...2"),
        RuleCase("temperature", nil), RuleCase("temperature", "null"), RuleCase("temperature", "2"),
        RuleCase("max_tokens", "0", "0 is outside 1...2147483647"), RuleCase("max_tokens", "2147483648", "2147483648 is outside 1...2147483647"),
        RuleCase("max_tokens", "1"), RuleCase("max_tokens", nil),
        RuleCase("additional_params", "[]", "must be an object or null, not an array"),
        RuleCase("additional_params.n", "1", "must be a string or null, not a number"),
        RuleCase("additional_params", "null"), RuleCase("additional_params", "{}"),
    ]

    @Test("response", arguments: cases)
    func response(_ rule: RuleCase) throws {
        try rule.check(Self.base) { let (r, report) = RealtimeResponse.validate(json: $0); return (r != nil, report) }
    }
}

@Suite("The session specs, beta and GA, rule by rule")
struct SessionSpecTests {
    static let beta = """
        {"model":"gpt-4o-realtime-preview","modalities":["audio","text"],"instructions":"Be brief.","voice":"alloy",
         "input_audio_format":"pcm16","output_audio_format":"pcm16","input_audio_transcription":null,
         "input_audio_noise_reduction":null,"turn_detection":{"type":"server_vad"},
         "tools":[{"type":"function","name":"lookup"}],"tool_choice":"auto","temperature":0.8,
         "max_response_output_tokens":"inf","speed":1,"tracing":null}
        """
    static let ga = """
        {"type":"realtime","model":"gpt-realtime","output_modalities":["audio"],"instructions":"Be brief.",
         "audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":null,"noise_reduction":null,
           "turn_detection":{"type":"server_vad"}},"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin","speed":1}},
         "tools":[{"type":"function","name":"lookup"}],"tool_choice":"auto","max_output_tokens":"inf","tracing":null,"truncation":"auto"}
        """

    /// Rules of the turn_detection object, under `prefix` (beta `turn_detection`, GA `audio.input.turn_detection`).
    static func turnDetection(_ prefix: String) -> [RuleCase] {
        [
            RuleCase(prefix, "null"), RuleCase(prefix, "5", "must be an object, not a number"),
            RuleCase("\(prefix).type", nil, "is required"), RuleCase("\(prefix).type", "\"push_to_talk\"", "'push_to_talk' is not one of server_vad, semantic_vad"),
            RuleCase("\(prefix).threshold", "1.3", "1.3 is outside 0...1"), RuleCase("\(prefix).threshold", "-0.1", "-0.1 is outside 0...1"),
            RuleCase("\(prefix).threshold", "0"), RuleCase("\(prefix).threshold", "1"),
            RuleCase("\(prefix).prefix_padding_ms", "5001", "5001 is outside 0...5000"), RuleCase("\(prefix).prefix_padding_ms", "-1", "-1 is outside 0...5000"),
            RuleCase("\(prefix).prefix_padding_ms", "2.5", "must be an integer, not 2.5"), RuleCase("\(prefix).prefix_padding_ms", "5000"),
            RuleCase("\(prefix).silence_duration_ms", "60001", "60001 is outside 0...60000"), RuleCase("\(prefix).silence_duration_ms", "0"),
            RuleCase("\(prefix).idle_timeout_ms", "0", "0 is outside 1...2147483647"), RuleCase("\(prefix).idle_timeout_ms", "5000"),
            RuleCase("\(prefix).create_response", "1", "must be true or false, not a number"), RuleCase("\(prefix).interrupt_response", "false"),
            RuleCase("\(prefix).eagerness", "\"low\"", "applies to semantic_vad only"),
        ]
    }

    static let sharedCases: [RuleCase] = [
        RuleCase("model", "\"\"", "must be at least 1 character(s), not 0"), RuleCase("model", nil),
        RuleCase("instructions", "42", "must be a string, not a number"), RuleCase("instructions", nil),
        RuleCase("tools", "{}", "must be an array, not an object"), RuleCase("tools", "[]"),
        RuleCase("tools", "[{\"type\":\"web\",\"name\":\"a\"}]", "'web' is not one of function", at: "tools[0].type"),
        RuleCase("tools", "[{\"type\":\"function\",\"name\":\"\(String(repeating: "n", count: 65))\"}]", "must be 1 to 64 characters, not 65", at: "tools[0].name"),
        RuleCase("tools", "[{\"type\":\"function\",\"name\":\"a\",\"parameters\":[1]}]", "must be a JSON Schema object, not an array", at: "tools[0].parameters"),
        RuleCase("tools", "[{\"type\":\"function\",\"name\":\"a\"},{\"type\":\"function\",\"name\":\"a\"}]", "'a' is already the name of another tool", at: "tools[1].name"),
        RuleCase("tool_choice", "{\"type\":\"function\",\"name\":\"other\"}", "'other' is not one of the session's tools", at: "tool_choice.name"),
        RuleCase("tool_choice", "\"maybe\"", "must be auto, none, required or {\"type\": \"function\", \"name\": ...}"),
        RuleCase("tool_choice", "\"none\""), RuleCase("tool_choice", "\"required\""),
        RuleCase("tool_choice", "{\"type\":\"function\",\"name\":\"lookup\"}"),
        RuleCase("tracing", "7", "must be null, \"auto\" or an object"), RuleCase("tracing", "\"auto\""),
        RuleCase("tracing", "{\"workflow_name\":\"w\",\"metadata\":{\"k\":\"v\"}}"),
        RuleCase("tracing", "{\"metadata\":[]}", "must be an object, not an array", at: "tracing.metadata"),
        RuleCase("client_secret", "{\"value\":\"ek_1\",\"expires_at\":1735689600}"),
    ]

    static let betaCases: [RuleCase] = sharedCases + turnDetection("turn_detection") + [
        RuleCase("modalities", "[\"audio\"]", "must be [\"text\"] or [\"audio\", \"text\"]"),
        RuleCase("modalities", "\"text\"", "must be [\"text\"] or [\"audio\", \"text\"]"),
        RuleCase("modalities", "[\"text\",\"text\"]", "must be [\"text\"] or [\"audio\", \"text\"]"),
        RuleCase("modalities", "[\"text\"]"), RuleCase("modalities", "[\"text\",\"audio\"]"),
        RuleCase("input_audio_format", "\"opus\"", "'opus' is not one of pcm16, g711_ulaw, g711_alaw"),
        RuleCase("output_audio_format", "\"pcm24\"", "'pcm24' is not one of pcm16, g711_ulaw, g711_alaw"),
        RuleCase("input_audio_format", "\"g711_ulaw\""), RuleCase("output_audio_format", "\"g711_alaw\""),
        RuleCase("input_audio_transcription", "{}", "is required", at: "input_audio_transcription.model"),
        RuleCase("input_audio_transcription", "{\"model\":\"whisper-1\",\"language\":\"fr\"}"),
        RuleCase("input_audio_noise_reduction", "{\"type\":\"loud\"}", "'loud' is not one of near_field, far_field", at: "input_audio_noise_reduction.type"),
        RuleCase("input_audio_noise_reduction", "{\"type\":\"near_field\"}"), RuleCase("input_audio_noise_reduction", "{\"type\":\"far_field\"}"),
        RuleCase("temperature", "0.5", "0.5 is outside 0.6...1.2"), RuleCase("temperature", "1.21", "1.21 is outside 0.6...1.2"),
        RuleCase("temperature", "0.6"), RuleCase("temperature", "1.2"),
        RuleCase("max_response_output_tokens", "0", "0 is outside 1...4096"), RuleCase("max_response_output_tokens", "4097", "4097 is outside 1...4096"),
        RuleCase("max_response_output_tokens", "\"lots\"", "must be an integer 1...4096 or \"inf\""),
        RuleCase("max_response_output_tokens", "1"), RuleCase("max_response_output_tokens", "4096"),
        RuleCase("speed", "0.2", "0.2 is outside 0.25...1.5"), RuleCase("speed", "1.6", "1.6 is outside 0.25...1.5"),
        RuleCase("speed", "0.25"), RuleCase("speed", "1.5"),
        RuleCase("voice", "5", "must be a string, not a number"),
        RuleCase("type", "\"realtime\"", "is a GA session member: this document is read as the beta shape"),
        RuleCase("audio", "{}", "is a GA session member: this document is read as the beta shape"),
    ]

    static let gaCases: [RuleCase] = sharedCases + turnDetection("audio.input.turn_detection") + [
        RuleCase("type", nil, "is required"), RuleCase("type", "\"transcription\"", "'transcription' is not one of realtime"),
        RuleCase("output_modalities", "[\"audio\",\"text\"]", "must be [\"text\"] or [\"audio\"]"),
        RuleCase("output_modalities", "[\"text\"]"),
        RuleCase("audio", "5", "must be an object, not a number"), RuleCase("audio", nil), RuleCase("audio.input", "[]", "must be an object, not an array"),
        RuleCase("audio.input.format", "\"pcm16\"", "must be an object, not a string"),
        RuleCase("audio.input.format", "{\"type\":\"audio/opus\"}", "'audio/opus' is not one of audio/pcm, audio/pcmu, audio/pcma", at: "audio.input.format.type"),
        RuleCase("audio.input.format.type", nil, "is required"),
        RuleCase("audio.input.format.rate", "8000", "8000 is not 16000 or 24000"),
        RuleCase("audio.input.format.rate", "16000"), RuleCase("audio.input.format.rate", nil),
        RuleCase("audio.output.format.rate", "44100", "44100 is not 16000 or 24000"), RuleCase("audio.output.format.rate", "16000"),
        RuleCase("audio.input.format", "{\"type\":\"audio/pcmu\",\"rate\":16000}", "audio/pcmu is 8000 Hz, not 16000", at: "audio.input.format.rate"),
        RuleCase("audio.input.format", "{\"type\":\"audio/pcmu\"}"), RuleCase("audio.output.format", "{\"type\":\"audio/pcma\",\"rate\":8000}"),
        RuleCase("audio.input.noise_reduction", "{\"type\":\"loud\"}", "'loud' is not one of near_field, far_field", at: "audio.input.noise_reduction.type"),
        RuleCase("audio.input.noise_reduction", "{\"type\":\"near_field\"}"), RuleCase("audio.input.noise_reduction", "{\"type\":\"far_field\"}"),
        RuleCase("audio.input.transcription", "{}", "is required", at: "audio.input.transcription.model"), RuleCase("audio.input.transcription", "{\"model\":\"gpt-4o-transcribe\"}"),
        RuleCase("audio.output.voice", "5", "must be a string, not a number"),
        RuleCase("audio.output.speed", "1.6", "1.6 is outside 0.25...1.5"), RuleCase("audio.output.speed", "0.25"),
        RuleCase("max_output_tokens", "4097", "4097 is outside 1...4096"), RuleCase("max_output_tokens", "1"),
        RuleCase("truncation", "\"sometimes\"", "must be \"auto\", \"disabled\" or {\"type\": \"retention_ratio\", ...}"),
        RuleCase("truncation", "{\"type\":\"retention_ratio\",\"retention_ratio\":1.5}", "1.5 is outside 0...1", at: "truncation.retention_ratio"),
        RuleCase("truncation", "\"disabled\""), RuleCase("truncation", "{\"type\":\"retention_ratio\",\"retention_ratio\":0.5}"),
        RuleCase("prompt", "{}", "is required", at: "prompt.id"), RuleCase("prompt", "\"p\"", "must be an object, not a string"),
        RuleCase("prompt", "{\"id\":\"pmpt_1\",\"version\":\"2\",\"variables\":{\"city\":\"Paris\"}}"),
        RuleCase("include", "[\"x\"]", "must be one of item.input_audio_transcription.logprobs", at: "include[0]"),
        RuleCase("include", "[\"item.input_audio_transcription.logprobs\",\"item.input_audio_transcription.logprobs\"]", "'item.input_audio_transcription.logprobs' appears more than once", at: "include[1]"), RuleCase("include", "[\"item.input_audio_transcription.logprobs\"]"),
        RuleCase("input_audio_format", "\"pcm16\"", "is a beta session member: the GA shape has it at audio.input.format"),
        RuleCase("temperature", "0.8", "is a beta session member: the GA session has none"),
    ]

    @Test("beta", arguments: betaCases)
    func beta(_ rule: RuleCase) throws {
        try rule.check(Self.beta) { let (s, r) = Session.validate(json: $0, shape: .beta); return (s != nil, r) }
    }

    @Test("GA", arguments: gaCases)
    func ga(_ rule: RuleCase) throws {
        try rule.check(Self.ga) { let (s, r) = Session.validate(json: $0, shape: .ga); return (s != nil, r) }
    }
}
