import RealtimeAudio

// Reading and writing the two session shapes. The members both shapes share (model, instructions, tools,
// tool_choice, tracing, client_secret) are read in `Session.init`; each shape's own members here.

extension Session {
    // MARK: - Beta

    mutating func readBeta(_ f: inout Fields, _ report: inout ValidationReport) {
        for key in Self.gaOnlyMembers.sorted() where f.has(key) {
            report.violations.append(Violation(path: key, rule: "is a GA session member: this document is read as the beta shape"))
        }
        if let raw = f.raw("modalities") {
            let names = Self.strings(raw)
            switch names.map(Set.init) {
            case ["text"]? where names?.count == 1: modalities = .text
            case ["audio", "text"]? where names?.count == 2: modalities = .audioAndText
            default: report.violations.append(Violation(path: "modalities", rule: "must be [\"text\"] or [\"audio\", \"text\"]"))
            }
        }
        voice = f.string("voice", &report)
        let formats = AudioFormat.allCases.map(\.rawValue)
        if let name = f.choice("input_audio_format", &report, formats) { inputAudioFormat = AudioFormat(rawValue: name)! }
        if let name = f.choice("output_audio_format", &report, formats) { outputAudioFormat = AudioFormat(rawValue: name)! }
        if let raw = f.raw("input_audio_transcription") {
            inputAudioTranscription = Self.transcription(raw, path: "input_audio_transcription", &report)
        }
        if let raw = f.raw("input_audio_noise_reduction") {
            readNoiseReduction(raw, path: "input_audio_noise_reduction", &report)
        }
        if let raw = f.raw("turn_detection") {
            turnDetection = raw == .null ? nil : Self.turnDetection(raw, path: "turn_detection", &report)
        }
        if let t = f.number("temperature", &report, range: 0.6...1.2) { temperature = t }
        if let tokens = Self.maxTokens(&f, "max_response_output_tokens", &report) { maxResponseOutputTokens = tokens }
        if let s = f.number("speed", &report, range: 0.25...1.5) { speed = s }
    }

    var betaJSON: JSONValue {
        var o = ObjectBuilder()
        o.add("model", model)
        o.add("modalities", .array((modalities == .text ? ["text"] : ["audio", "text"]).map(JSONValue.string)))
        o.add("instructions", instructions)
        o.add("voice", voice)
        o.add("input_audio_format", inputAudioFormat.rawValue)
        o.add("output_audio_format", outputAudioFormat.rawValue)
        o.add("input_audio_transcription", Self.json(inputAudioTranscription))
        o.add("input_audio_noise_reduction", noiseReductionJSON)
        o.add("turn_detection", Self.json(turnDetection))
        o.add("tools", toolsJSON)
        o.add("tool_choice", toolChoiceJSON)
        o.add("temperature", temperature)
        o.add("max_response_output_tokens", Self.json(maxResponseOutputTokens))
        o.add("speed", speed)
        o.add("tracing", tracingJSON)
        o.add("client_secret", clientSecretJSON)
        o.append(unknownFields)
        return o.value
    }

    // MARK: - GA

    mutating func readGA(_ f: inout Fields, _ report: inout ValidationReport) {
        for (beta, ga) in Self.betaToGA where f.has(beta) {
            let rule = ga.map { "is a beta session member: the GA shape has it at \($0)" } ?? "is a beta session member: the GA session has none"
            report.violations.append(Violation(path: beta, rule: rule))
        }
        _ = f.choice("type", &report, ["realtime"], required: true)
        if let raw = f.raw("output_modalities") {
            switch Self.strings(raw) {
            case ["text"]?: modalities = .text
            case ["audio"]?: modalities = .audioAndText
            default: report.violations.append(Violation(path: "output_modalities", rule: "must be [\"text\"] or [\"audio\"]"))
            }
        }
        if let raw = f.raw("audio"), raw != .null, var audio = Fields(raw, path: "audio", &report) {
            if let raw = audio.raw("input"), raw != .null, var input = Fields(raw, path: "audio.input", &report) {
                if let raw = input.raw("format") {
                    (inputAudioFormat, inputAudioRate) = readFormat(raw, path: "audio.input.format", &report)
                }
                if let raw = input.raw("transcription") {
                    inputAudioTranscription = Self.transcription(raw, path: "audio.input.transcription", &report)
                }
                if let raw = input.raw("noise_reduction") { readNoiseReduction(raw, path: "audio.input.noise_reduction", &report) }
                if let raw = input.raw("turn_detection") {
                    turnDetection = raw == .null ? nil : Self.turnDetection(raw, path: "audio.input.turn_detection", &report)
                }
                keepUnknown(input, "audio.input", &report)
            }
            if let raw = audio.raw("output"), raw != .null, var output = Fields(raw, path: "audio.output", &report) {
                if let raw = output.raw("format") {
                    (outputAudioFormat, outputAudioRate) = readFormat(raw, path: "audio.output.format", &report)
                }
                voice = output.string("voice", &report)
                if let s = output.number("speed", &report, range: 0.25...1.5) { speed = s }
                keepUnknown(output, "audio.output", &report)
            }
            keepUnknown(audio, "audio", &report)
        }
        if let tokens = Self.maxTokens(&f, "max_output_tokens", &report) { maxResponseOutputTokens = tokens }
        if let raw = f.raw("truncation") { readTruncation(raw, &report) }
        if let raw = f.raw("prompt"), raw != .null {
            if var p = Fields(raw, path: "prompt", &report) {
                _ = p.string("id", &report, required: true, nullable: false, length: 1...Int.max)
                _ = p.string("version", &report)
                if let v = p.raw("variables"), v != .null {
                    if case .object = v {} else {
                        report.violations.append(Violation(path: "prompt.variables", rule: "must be an object, not \(kind(v))"))
                    }
                }
                _ = p.unknown(&report)
                prompt = raw
            }
        }
        if let raw = f.raw("include"), raw != .null {
            let allowed = ["item.input_audio_transcription.logprobs"]
            if case .array(let items) = raw {
                for (i, item) in items.enumerated() {
                    if case .string(let name) = item, allowed.contains(name) {
                        if include.contains(name) {
                            report.violations.append(Violation(path: "include[\(i)]", rule: "'\(name)' appears more than once"))
                        } else {
                            include.append(name)
                        }
                    } else {
                        report.violations.append(Violation(path: "include[\(i)]", rule: "must be one of \(allowed.joined(separator: ", "))"))
                    }
                }
            } else {
                report.violations.append(Violation(path: "include", rule: "must be an array, not \(kind(raw))"))
            }
        }
    }

    var gaJSON: JSONValue {
        var input = ObjectBuilder()
        input.add("format", formatJSON(inputAudioFormat, inputAudioRate, "audio.input.format"))
        input.add("transcription", Self.json(inputAudioTranscription))
        input.add("noise_reduction", noiseReductionJSON)
        input.add("turn_detection", Self.json(turnDetection))
        input.append(nestedUnknownFields["audio.input"] ?? [])
        var output = ObjectBuilder()
        output.add("format", formatJSON(outputAudioFormat, outputAudioRate, "audio.output.format"))
        output.add("voice", voice)
        output.add("speed", speed)
        output.append(nestedUnknownFields["audio.output"] ?? [])
        var audio = ObjectBuilder()
        audio.add("input", input.value)
        audio.add("output", output.value)
        audio.append(nestedUnknownFields["audio"] ?? [])

        var o = ObjectBuilder()
        o.add("type", "realtime")
        o.add("model", model)
        o.add("output_modalities", .array([.string(modalities == .text ? "text" : "audio")]))
        o.add("instructions", instructions)
        o.add("audio", audio.value)
        o.add("tools", toolsJSON)
        o.add("tool_choice", toolChoiceJSON)
        o.add("max_output_tokens", Self.json(maxResponseOutputTokens))
        o.add("tracing", tracingJSON)
        switch truncation {
        case .auto: o.add("truncation", "auto")
        case .disabled: o.add("truncation", "disabled")
        case .retentionRatio(let ratio, let extra):
            var t = ObjectBuilder()
            t.add("type", "retention_ratio")
            t.add("retention_ratio", ratio)
            t.append(extra)
            o.add("truncation", t.value)
        }
        o.add("prompt", prompt)
        if !include.isEmpty { o.add("include", .array(include.map(JSONValue.string))) }
        o.add("client_secret", clientSecretJSON)
        o.append(unknownFields)
        return o.value
    }

    /// `{"type": "audio/pcm", "rate": 24000}`, `{"type": "audio/pcmu"}`, `{"type": "audio/pcma"}`.
    private mutating func readFormat(_ raw: JSONValue, path: String, _ report: inout ValidationReport) -> (AudioFormat, SampleRate) {
        guard var f = Fields(raw, path: path, &report) else { return (.pcm16, .hz24000) }
        let type = f.choice("type", &report, ["audio/pcm", "audio/pcmu", "audio/pcma"], required: true)
        var rate = SampleRate.hz24000
        if type == "audio/pcm" {
            if let hz = f.integer("rate", &report) {
                if hz == 16000 { rate = .hz16000 } else if hz != 24000 {
                    report.violations.append(Violation(path: "\(path).rate", rule: "\(hz) is not 16000 or 24000"))
                }
            }
        } else if let type, let hz = f.integer("rate", &report), hz != 8000 {
            report.violations.append(Violation(path: "\(path).rate", rule: "\(type) is 8000 Hz, not \(hz)"))
        }
        keepUnknown(f, path, &report)
        switch type {
        case "audio/pcmu": return (.g711_ulaw, rate)
        case "audio/pcma": return (.g711_alaw, rate)
        default: return (.pcm16, rate)
        }
    }

    private func formatJSON(_ format: AudioFormat, _ rate: SampleRate, _ path: String) -> JSONValue {
        var o = ObjectBuilder()
        switch format {
        case .pcm16:
            o.add("type", "audio/pcm")
            o.add("rate", rate.hertz)
        case .g711_ulaw: o.add("type", "audio/pcmu")
        case .g711_alaw: o.add("type", "audio/pcma")
        }
        o.append(nestedUnknownFields[path] ?? [])
        return o.value
    }

    private mutating func readTruncation(_ raw: JSONValue, _ report: inout ValidationReport) {
        switch raw {
        case .string("auto"): truncation = .auto
        case .string("disabled"): truncation = .disabled
        case .object:
            guard var t = Fields(raw, path: "truncation", &report) else { return }
            let type = t.choice("type", &report, ["retention_ratio"], required: true)
            let ratio = t.number("retention_ratio", &report, range: 0...1, required: true)
            let extra = t.unknown(&report)
            if type != nil, let ratio { truncation = .retentionRatio(ratio, unknownFields: extra) }
        default:
            report.violations.append(Violation(path: "truncation", rule: "must be \"auto\", \"disabled\" or {\"type\": \"retention_ratio\", ...}"))
        }
    }

    // MARK: - Members of both shapes

    /// `{"type": "near_field" | "far_field"}` or null.
    private mutating func readNoiseReduction(_ raw: JSONValue, path: String, _ report: inout ValidationReport) {
        guard raw != .null, var f = Fields(raw, path: path, &report) else { return }
        if let name = f.choice("type", &report, InboundAudio.NoiseReduction.allCases.map(\.rawValue), required: true) {
            inputAudioNoiseReduction = InboundAudio.NoiseReduction(rawValue: name)
        }
        keepUnknown(f, Self.noiseReductionKey, &report)
    }

    private var noiseReductionJSON: JSONValue {
        guard let reduction = inputAudioNoiseReduction else { return .null }
        return .object([.init("type", .string(reduction.rawValue))] + (nestedUnknownFields[Self.noiseReductionKey] ?? []))
    }

    /// Warns about the members of a nested object nobody read and keeps them under `key`.
    private mutating func keepUnknown(_ f: Fields, _ key: String, _ report: inout ValidationReport) {
        let extra = f.unknown(&report)
        if !extra.isEmpty { nestedUnknownFields[key] = extra }
    }

    mutating func readTools(_ f: inout Fields, _ report: inout ValidationReport) {
        guard let raw = f.raw("tools") else { return }
        guard case .array(let items) = raw else {
            report.violations.append(Violation(path: "tools", rule: "must be an array, not \(kind(raw))"))
            return
        }
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
    }

    mutating func readToolChoice(_ f: inout Fields, _ report: inout ValidationReport) {
        guard let raw = f.raw("tool_choice") else { return }
        switch raw {
        case .string("auto"): toolChoice = .auto
        case .string("none"): toolChoice = .none
        case .string("required"): toolChoice = .required
        case .object:
            guard var c = Fields(raw, path: "tool_choice", &report) else { return }
            _ = c.choice("type", &report, ["function"], required: true)
            if let name = c.string("name", &report, required: true, length: 1...Int.max) {
                toolChoice = .function(name: name)
                if !tools.contains(where: { $0.name == name }) {
                    report.violations.append(Violation(path: "tool_choice.name", rule: "'\(name)' is not one of the session's tools"))
                }
            }
            _ = c.unknown(&report)
        default:
            report.violations.append(Violation(path: "tool_choice", rule: "must be auto, none, required or {\"type\": \"function\", \"name\": ...}"))
        }
    }

    mutating func readTracing(_ f: inout Fields, _ report: inout ValidationReport) {
        guard let raw = f.raw("tracing"), raw != .null else { return }
        switch raw {
        case .string("auto"): tracing = .auto
        case .object:
            guard var t = Fields(raw, path: "tracing", &report) else { return }
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
        default:
            report.violations.append(Violation(path: "tracing", rule: "must be null, \"auto\" or an object"))
        }
    }

    static func transcription(_ raw: JSONValue, path: String, _ report: inout ValidationReport) -> Transcription? {
        guard raw != .null, var t = Fields(raw, path: path, &report) else { return nil }
        let model = t.string("model", &report, required: true, length: 1...Int.max)
        var transcription = Transcription(model: model ?? "", language: t.string("language", &report), prompt: t.string("prompt", &report))
        transcription.unknownFields = t.unknown(&report)
        return transcription
    }

    static func turnDetection(_ raw: JSONValue, path: String, _ report: inout ValidationReport) -> TurnDetection? {
        guard var t = Fields(raw, path: path, &report) else { return nil }
        let type = t.choice("type", &report, ["server_vad", "semantic_vad"], required: true)
        let create = t.bool("create_response", &report) ?? true
        let interrupt = t.bool("interrupt_response", &report) ?? true
        if type == "semantic_vad" {
            var eagerness = Eagerness.auto
            if let name = t.choice("eagerness", &report, Eagerness.allCases.map(\.rawValue)) { eagerness = Eagerness(rawValue: name)! }
            for key in ["threshold", "prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms"] where t.has(key) {
                report.violations.append(Violation(path: t.at(key), rule: "applies to server_vad only"))
            }
            return .semanticVAD(eagerness: eagerness, createResponse: create, interruptResponse: interrupt, unknownFields: t.unknown(&report))
        }
        // The detector's own ranges: the session accepts exactly what the pipeline can run.
        var s = ServerVADSettings()
        s.createResponse = create
        s.interruptResponse = interrupt
        if let v = t.number("threshold", &report, range: ServerVADConfiguration.thresholdRange) { s.threshold = v }
        if let v = t.integer("prefix_padding_ms", &report, range: ServerVADConfiguration.prefixPaddingMsRange) { s.prefixPaddingMs = v }
        if let v = t.integer("silence_duration_ms", &report, range: ServerVADConfiguration.silenceDurationMsRange) { s.silenceDurationMs = v }
        s.idleTimeoutMs = t.integer("idle_timeout_ms", &report, range: 1...Int(Int32.max))
        if t.has("eagerness") {
            report.violations.append(Violation(path: t.at("eagerness"), rule: "applies to semantic_vad only"))
        }
        s.unknownFields = t.unknown(&report)
        return type == nil ? nil : .serverVAD(s)
    }

    /// An integer 1...4096 or `"inf"`.
    static func maxTokens(_ f: inout Fields, _ key: String, _ report: inout ValidationReport) -> MaxTokens? {
        guard let raw = f.raw(key), raw != .null else { return nil }
        if raw == .string("inf") { return .infinite }
        if case .number = raw {
            return f.integer(key, &report, range: 1...4096).flatMap { (1...4096).contains($0) ? .limit($0) : nil }
        }
        report.violations.append(Violation(path: f.at(key), rule: "must be an integer 1...4096 or \"inf\""))
        return nil
    }

    /// The strings of an array of strings; nil when `raw` is anything else.
    static func strings(_ raw: JSONValue) -> [String]? {
        guard case .array(let items) = raw else { return nil }
        let names = items.compactMap { item -> String? in if case .string(let s) = item { s } else { nil } }
        return names.count == items.count ? names : nil
    }

    static func json(_ t: Transcription?) -> JSONValue {
        guard let t else { return .null }
        var b = ObjectBuilder()
        b.add("model", t.model)
        b.add("language", t.language)
        b.add("prompt", t.prompt)
        b.append(t.unknownFields)
        return b.value
    }

    static func json(_ detection: TurnDetection?) -> JSONValue {
        var b = ObjectBuilder()
        switch detection {
        case nil:
            return .null
        case .serverVAD(let s)?:
            b.add("type", "server_vad")
            b.add("threshold", s.threshold)
            b.add("prefix_padding_ms", s.prefixPaddingMs)
            b.add("silence_duration_ms", s.silenceDurationMs)
            b.add("create_response", s.createResponse)
            b.add("interrupt_response", s.interruptResponse)
            b.add("idle_timeout_ms", s.idleTimeoutMs)
            b.append(s.unknownFields)
        case .semanticVAD(let eagerness, let create, let interrupt, let extra)?:
            b.add("type", "semantic_vad")
            b.add("eagerness", eagerness.rawValue)
            b.add("create_response", create)
            b.add("interrupt_response", interrupt)
            b.append(extra)
        }
        return b.value
    }

    static func json(_ tokens: MaxTokens) -> JSONValue {
        switch tokens {
        case .infinite: .string("inf")
        case .limit(let n): JSONValue(n)
        }
    }

    private var toolsJSON: JSONValue {
        .array(tools.map { tool in
            var b = ObjectBuilder()
            b.add("type", tool.type)
            b.add("name", tool.name)
            b.add("description", tool.description)
            b.add("parameters", tool.parameters)
            b.append(tool.unknownFields)
            return b.value
        })
    }

    private var toolChoiceJSON: JSONValue {
        switch toolChoice {
        case .auto: .string("auto")
        case .none: .string("none")
        case .required: .string("required")
        case .function(let name): .object([.init("type", .string("function")), .init("name", .string(name))])
        }
    }

    private var tracingJSON: JSONValue {
        switch tracing {
        case nil: return .null
        case .auto?: return .string("auto")
        case .configuration(let workflow, let group, let metadata)?:
            var b = ObjectBuilder()
            b.add("workflow_name", workflow)
            b.add("group_id", group)
            b.add("metadata", metadata)
            return b.value
        }
    }

    private var clientSecretJSON: JSONValue? {
        clientSecret.map { .object([.init("value", .string($0.value)), .init("expires_at", JSONValue($0.expiresAt))]) }
    }
}
