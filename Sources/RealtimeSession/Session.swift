import RealtimeAudio

/// A Realtime session's configuration (the "create realtime session" body, and the session object a response
/// returns with its `client_secret`), validated by the API's documented rules.
///
/// Decode with ``init(json:)`` (every violation at once, each with its path) or through `Codable`; ``json`` is the
/// normalized document: defaults filled in, unknown fields kept in place at the end.
public struct Session: Sendable, Equatable {
    public enum Modalities: String, Sendable, Equatable {
        case text
        case audioAndText
    }

    public struct Transcription: Sendable, Equatable {
        public var model: String
        public var language: String?
        public var prompt: String?
        public var unknownFields: [JSONValue.Member] = []
    }

    public enum Eagerness: String, Sendable, Equatable, CaseIterable {
        case low, medium, high, auto
    }

    public enum TurnDetection: Sendable, Equatable {
        case serverVAD(ServerVADSettings)
        case semanticVAD(eagerness: Eagerness, createResponse: Bool, interruptResponse: Bool, unknownFields: [JSONValue.Member])
    }

    public struct ServerVADSettings: Sendable, Equatable {
        public var threshold = 0.5
        public var prefixPaddingMs = 300
        public var silenceDurationMs = 500
        public var createResponse = true
        public var interruptResponse = true
        public var idleTimeoutMs: Int?
        public var unknownFields: [JSONValue.Member] = []
        public init() {}
    }

    public struct Tool: Sendable, Equatable {
        public var type: String
        public var name: String
        public var description: String?
        /// The JSON Schema of the arguments, as given.
        public var parameters: JSONValue?
        public var unknownFields: [JSONValue.Member] = []
    }

    public enum ToolChoice: Sendable, Equatable {
        case auto, none, required
        case function(name: String)
    }

    public enum MaxTokens: Sendable, Equatable {
        case limit(Int)
        case infinite
    }

    public enum Tracing: Sendable, Equatable {
        case auto
        case configuration(workflowName: String?, groupID: String?, metadata: JSONValue?)
    }

    public struct ClientSecret: Sendable, Equatable {
        public var value: String
        public var expiresAt: Int
    }

    public var modalities: Modalities = .audioAndText
    public var instructions: String?
    public var voice: String?
    public var inputAudioFormat: AudioFormat = .pcm16
    public var outputAudioFormat: AudioFormat = .pcm16
    public var inputAudioTranscription: Transcription?
    /// nil: `turn_detection: null` (the client commits turns itself).
    public var turnDetection: TurnDetection? = .serverVAD(ServerVADSettings())
    public var tools: [Tool] = []
    public var toolChoice: ToolChoice = .auto
    public var temperature = 0.8
    public var maxResponseOutputTokens: MaxTokens = .infinite
    public var speed = 1.0
    public var tracing: Tracing?
    /// Present on the response side.
    public var clientSecret: ClientSecret?
    /// Fields this model does not know, kept as they came.
    public var unknownFields: [JSONValue.Member] = []

    public init() {}

    /// Decodes and validates a session document.
    ///
    /// - Throws: ``ValidationError`` with every violation; warnings (unknown fields) are in ``warnings(json:)``.
    public init(json: String) throws(ValidationError) {
        let value: JSONValue
        do { value = try JSONValue(parsing: json) } catch { throw .syntax(error) }
        var report = ValidationReport()
        self.init(value, report: &report)
        guard report.isValid else { throw .invalid(report) }
    }

    /// Validates a document: the session when valid, and the report (violations and warnings) either way.
    public static func validate(json: String) -> (Session?, ValidationReport) {
        validateDocument(json) { Session($0, report: &$1) }
    }

    /// Validates a document from its bytes: invalid UTF-8 and repeated member names are violations with their byte
    /// offset (see ``JSONValue/init(parsing:)-([UInt8])``).
    public static func validate(json: [UInt8]) -> (Session?, ValidationReport) {
        validateDocument(json) { Session($0, report: &$1) }
    }

    /// Reads a session from a parsed document, recording violations in `report`.
    init(_ value: JSONValue, report: inout ValidationReport) {
        guard var f = Fields(value, path: "", &report) else { return }
        if let raw = f.raw("modalities") {
            if case .array(let items) = raw {
                let names = items.compactMap { item -> String? in if case .string(let s) = item { s } else { nil } }
                switch Set(names) {
                case ["text"] where names.count == items.count: modalities = .text
                case ["audio", "text"] where names.count == items.count && items.count == 2: modalities = .audioAndText
                default: report.violations.append(Violation(path: "modalities", rule: "must be [\"text\"] or [\"audio\", \"text\"]"))
                }
            } else {
                report.violations.append(Violation(path: "modalities", rule: "must be an array, not \(kind(raw))"))
            }
        }
        instructions = f.string("instructions", &report)
        voice = f.string("voice", &report)
        let formats = AudioFormat.allCases.map(\.rawValue)
        if let name = f.choice("input_audio_format", &report, formats) { inputAudioFormat = AudioFormat(rawValue: name)! }
        if let name = f.choice("output_audio_format", &report, formats) { outputAudioFormat = AudioFormat(rawValue: name)! }
        if let raw = f.raw("input_audio_transcription"), raw != .null, var t = Fields(raw, path: "input_audio_transcription", &report) {
            let model = t.string("model", &report, required: true, length: 1...Int.max)
            var transcription = Transcription(model: model ?? "", language: t.string("language", &report), prompt: t.string("prompt", &report))
            transcription.unknownFields = t.unknown(&report)
            inputAudioTranscription = transcription
        }
        if let raw = f.raw("turn_detection") {
            turnDetection = raw == .null ? nil : Self.turnDetection(raw, &report)
        }
        if let raw = f.raw("tools") {
            if case .array(let items) = raw {
                var names: Set<String> = []
                tools = items.enumerated().compactMap { index, item in
                    let path = "tools[\(index)]"
                    guard var t = Fields(item, path: path, &report) else { return nil }
                    let type = t.choice("type", &report, ["function"], required: true)
                    let name = t.string("name", &report, required: true, length: 1...64)
                    if let name, !names.insert(name).inserted {
                        report.violations.append(Violation(path: "\(path).name", rule: "'\(name)' is already the name of another tool"))
                    }
                    let description = t.string("description", &report)
                    var parameters: JSONValue?
                    if let p = t.raw("parameters"), p != .null {
                        if case .object = p { parameters = p } else {
                            report.violations.append(Violation(path: "\(path).parameters", rule: "must be a JSON Schema object, not \(kind(p))"))
                        }
                    }
                    return Tool(type: type ?? "function", name: name ?? "", description: description, parameters: parameters,
                                unknownFields: t.unknown(&report))
                }
            } else {
                report.violations.append(Violation(path: "tools", rule: "must be an array, not \(kind(raw))"))
            }
        }
        if let raw = f.raw("tool_choice") {
            switch raw {
            case .string("auto"): toolChoice = .auto
            case .string("none"): toolChoice = .none
            case .string("required"): toolChoice = .required
            case .object:
                if var c = Fields(raw, path: "tool_choice", &report) {
                    _ = c.choice("type", &report, ["function"], required: true)
                    if let name = c.string("name", &report, required: true, length: 1...Int.max) {
                        toolChoice = .function(name: name)
                        if !tools.isEmpty, !tools.contains(where: { $0.name == name }) {
                            report.violations.append(Violation(path: "tool_choice.name", rule: "'\(name)' is not one of the session's tools"))
                        }
                    }
                    _ = c.unknown(&report)
                }
            default:
                report.violations.append(Violation(path: "tool_choice", rule: "must be auto, none, required or {\"type\": \"function\", \"name\": ...}"))
            }
        }
        if let t = f.number("temperature", &report, range: 0.6...1.2) { temperature = t }
        if let raw = f.raw("max_response_output_tokens") {
            if raw == .string("inf") {
                maxResponseOutputTokens = .infinite
            } else if case .number = raw, let n = f.integer("max_response_output_tokens", &report, range: 1...4096) {
                maxResponseOutputTokens = .limit(n)
            } else if case .number = raw {
                // the integer reader reported it
            } else {
                report.violations.append(Violation(path: "max_response_output_tokens", rule: "must be an integer 1...4096 or \"inf\""))
            }
        }
        if let s = f.number("speed", &report, range: 0.25...1.5) { speed = s }
        if let raw = f.raw("tracing"), raw != .null {
            switch raw {
            case .string("auto"): tracing = .auto
            case .object:
                if var t = Fields(raw, path: "tracing", &report) {
                    let workflow = t.string("workflow_name", &report)
                    let group = t.string("group_id", &report)
                    var metadata: JSONValue?
                    if let m = t.raw("metadata"), m != .null {
                        if case .object = m { metadata = m } else {
                            report.violations.append(Violation(path: "tracing.metadata", rule: "must be an object, not \(kind(m))"))
                        }
                    }
                    _ = t.unknown(&report)
                    tracing = .configuration(workflowName: workflow, groupID: group, metadata: metadata)
                }
            default:
                report.violations.append(Violation(path: "tracing", rule: "must be null, \"auto\" or an object"))
            }
        }
        if let raw = f.raw("client_secret"), raw != .null, var c = Fields(raw, path: "client_secret", &report) {
            let value = c.string("value", &report, required: true, length: 1...Int.max)
            let expires = c.integer("expires_at", &report, range: 0...Int.max, required: true)
            _ = c.unknown(&report)
            if let value, let expires { clientSecret = ClientSecret(value: value, expiresAt: expires) }
        }
        unknownFields = f.unknown(&report)
    }

    private static func turnDetection(_ raw: JSONValue, _ report: inout ValidationReport) -> TurnDetection? {
        guard var t = Fields(raw, path: "turn_detection", &report) else { return nil }
        let type = t.choice("type", &report, ["server_vad", "semantic_vad"], required: true)
        let create = t.bool("create_response", &report) ?? true
        let interrupt = t.bool("interrupt_response", &report) ?? true
        var result: TurnDetection?
        if type == "semantic_vad" {
            var eagerness = Eagerness.auto
            if let name = t.choice("eagerness", &report, Eagerness.allCases.map(\.rawValue)) { eagerness = Eagerness(rawValue: name)! }
            for key in ["threshold", "prefix_padding_ms", "silence_duration_ms"] where t.has(key) {
                report.violations.append(Violation(path: "turn_detection.\(key)", rule: "applies to server_vad only"))
            }
            result = .semanticVAD(eagerness: eagerness, createResponse: create, interruptResponse: interrupt, unknownFields: t.unknown(&report))
        } else {
            var s = ServerVADSettings()
            s.createResponse = create
            s.interruptResponse = interrupt
            if let v = t.number("threshold", &report, range: 0...1) { s.threshold = v }
            if let v = t.integer("prefix_padding_ms", &report, range: 0...5000) { s.prefixPaddingMs = v }
            if let v = t.integer("silence_duration_ms", &report, range: 0...60000) { s.silenceDurationMs = v }
            s.idleTimeoutMs = t.integer("idle_timeout_ms", &report, range: 1...Int(Int32.max))
            if t.has("eagerness") {
                report.violations.append(Violation(path: "turn_detection.eagerness", rule: "applies to semantic_vad only"))
            }
            s.unknownFields = t.unknown(&report)
            if type != nil { result = .serverVAD(s) }
        }
        return result
    }

    /// The normalized document: every field, defaults filled in, unknown fields at the end as they came.
    public var json: JSONValue {
        var o = ObjectBuilder()
        o.add("modalities", .array((modalities == .text ? ["text"] : ["audio", "text"]).map(JSONValue.string)))
        o.add("instructions", instructions)
        o.add("voice", voice)
        o.add("input_audio_format", inputAudioFormat.rawValue)
        o.add("output_audio_format", outputAudioFormat.rawValue)
        if let t = inputAudioTranscription {
            var b = ObjectBuilder()
            b.add("model", t.model)
            b.add("language", t.language)
            b.add("prompt", t.prompt)
            b.append(t.unknownFields)
            o.add("input_audio_transcription", b.value)
        } else {
            o.add("input_audio_transcription", JSONValue.null)
        }
        switch turnDetection {
        case nil:
            o.add("turn_detection", JSONValue.null)
        case .serverVAD(let s)?:
            var b = ObjectBuilder()
            b.add("type", "server_vad")
            b.add("threshold", s.threshold)
            b.add("prefix_padding_ms", s.prefixPaddingMs)
            b.add("silence_duration_ms", s.silenceDurationMs)
            b.add("create_response", s.createResponse)
            b.add("interrupt_response", s.interruptResponse)
            b.add("idle_timeout_ms", s.idleTimeoutMs)
            b.append(s.unknownFields)
            o.add("turn_detection", b.value)
        case .semanticVAD(let eagerness, let create, let interrupt, let extra)?:
            var b = ObjectBuilder()
            b.add("type", "semantic_vad")
            b.add("eagerness", eagerness.rawValue)
            b.add("create_response", create)
            b.add("interrupt_response", interrupt)
            b.append(extra)
            o.add("turn_detection", b.value)
        }
        o.add("tools", .array(tools.map { tool in
            var b = ObjectBuilder()
            b.add("type", tool.type)
            b.add("name", tool.name)
            b.add("description", tool.description)
            b.add("parameters", tool.parameters)
            b.append(tool.unknownFields)
            return b.value
        }))
        switch toolChoice {
        case .auto: o.add("tool_choice", "auto")
        case .none: o.add("tool_choice", "none")
        case .required: o.add("tool_choice", "required")
        case .function(let name): o.add("tool_choice", .object([.init("type", .string("function")), .init("name", .string(name))]))
        }
        o.add("temperature", temperature)
        switch maxResponseOutputTokens {
        case .infinite: o.add("max_response_output_tokens", "inf")
        case .limit(let n): o.add("max_response_output_tokens", n)
        }
        o.add("speed", speed)
        switch tracing {
        case nil: o.add("tracing", JSONValue.null)
        case .auto?: o.add("tracing", "auto")
        case .configuration(let workflow, let group, let metadata)?:
            var b = ObjectBuilder()
            b.add("workflow_name", workflow)
            b.add("group_id", group)
            b.add("metadata", metadata)
            o.add("tracing", b.value)
        }
        if let secret = clientSecret {
            o.add("client_secret", .object([.init("value", .string(secret.value)), .init("expires_at", JSONValue(secret.expiresAt))]))
        }
        o.append(unknownFields)
        return o.value
    }
}

// MARK: - The audio pipelines a session's settings describe

extension Session {
    /// The server VAD settings the inbound pipeline runs with, and a note when they are not what the session
    /// literally asked for (semantic_vad: this core's detector is energy-based).
    public var detectorSettings: (configuration: ServerVADConfiguration?, idleTimeoutMs: Int?, note: String?) {
        switch turnDetection {
        case nil:
            return (nil, nil, nil)
        case .serverVAD(let s)?:
            let configuration = try? ServerVADConfiguration(threshold: s.threshold, prefixPaddingMs: s.prefixPaddingMs,
                                                            silenceDurationMs: s.silenceDurationMs)
            return (configuration, s.idleTimeoutMs, nil)
        case .semanticVAD(let eagerness, _, _, _)?:
            // Eagerness is how soon the model answers: here, how long a silence ends the turn.
            let silence = switch eagerness {
            case .low: 1000
            case .medium, .auto: 500
            case .high: 250
            }
            let configuration = try? ServerVADConfiguration(threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: silence)
            return (configuration, nil, "turn_detection.type semantic_vad: this core's detector is energy-based (server_vad); eagerness \(eagerness.rawValue) runs it with silence_duration_ms \(silence)")
        }
    }

    /// The caller-to-model pipeline for this session (`input_audio_format`, `turn_detection`).
    ///
    /// - Parameter inputRate: the client's rate when it is not the format's default.
    public func makeInbound(inputRate: SampleRate? = nil, echoThresholdBoost: Double = 0.2) throws(PipelineError) -> InboundAudio {
        let detector = detectorSettings
        return try InboundAudio(format: inputAudioFormat, inputRate: inputRate, turnDetection: detector.configuration,
                                idleTimeoutMs: detector.idleTimeoutMs, echoThresholdBoost: echoThresholdBoost)
    }

    /// The model-to-caller pipeline for this session (`output_audio_format`, `speed`).
    public func makeOutbound(clientRate: SampleRate? = nil) throws(PipelineError) -> OutboundAudio {
        try OutboundAudio(format: outputAudioFormat, clientRate: clientRate, speed: speed)
    }
}
