/// An assistant's configuration, validated by its documented rules.
///
/// Five fields are required and may not be null: `generation_config` and `generation_config_pretools` (each must
/// name a preset the caller has registered, ``ValidationContext/generationConfigs``), `description` (at least one
/// character), `system_prompt` (1 to 11,400 characters) and `temperature` (0...2). A partial update
/// (``ValidationContext/Purpose/partialUpdate``) may leave any of them out; those it sends are checked the same way.
/// Read-only fields (`id`, `created_at`, `updated_at`,
/// `retrieval_faq`, `retrieval_fixed_faq`, `retrieval_lessons`) are decoded and kept, but a create or update
/// request that sets them is told they are read-only.
public struct Assistant: Sendable, Equatable {
    /// Required (nil only in a partial update that leaves it out).
    public var generationConfig: String?
    /// Required (nil only in a partial update that leaves it out).
    public var generationConfigPretools: String?
    /// Required, at least one character.
    public var description: String?
    /// Required, 1 to 11,400 characters.
    public var systemPrompt: String?
    /// Required, 0...2.
    public var temperature: Double?
    /// `max_responses`: optional, a 32-bit integer (nil when absent or null).
    public var maxResponses: Int?
    /// `max_msg_length`: optional, a 32-bit integer (nil when absent or null).
    public var maxMsgLength: Int?
    /// `max_consecutive_tool_calls`: optional, a 32-bit integer (nil when absent or null).
    public var maxConsecutiveToolCalls: Int?
    /// `initial_message`, `end_message`, `add_to_user_message`, `not_info_message`,
    /// `strategy_to_optimize_tokens`, `info`: at least one character when present.
    public var texts: [String: String] = [:]
    /// `matrix_mode_available`, `faq_available`, `fixed_available`, `lessons_available`, `realtime_available`,
    /// `streaming_available`.
    public var flags: [String: Bool] = [:]
    /// `colors`: optional, an object (kept as sent) or null.
    public var colors: JSONValue?
    /// `logo`: optional, a URI (`scheme:rest`, no spaces) of 1 to 500 characters.
    public var logo: String?
    /// `tools`: optional, integer ids, each at most once.
    public var tools: [Int]?
    /// `pretools`: optional, integer ids, each at most once.
    public var pretools: [Int]?
    /// Read-only, as the server sent them.
    public var id: JSONValue?
    /// `created_at`: read-only, an ISO 8601 date-time (`2025-01-31T12:00:00Z`, optional fraction and offset).
    public var createdAt: String?
    /// `updated_at`: read-only, an ISO 8601 date-time.
    public var updatedAt: String?
    /// `retrieval_faq`, `retrieval_fixed_faq`, `retrieval_lessons`: read-only, kept as sent.
    public var retrieval: [String: JSONValue] = [:]
    /// Fields the rules do not name, in document order: kept (and written back by ``json``), each reported as a
    /// warning.
    public var unknownFields: [JSONValue.Member] = []

    static let textFields = ["initial_message", "end_message", "add_to_user_message", "not_info_message",
                             "strategy_to_optimize_tokens", "info"]
    static let flagFields = ["matrix_mode_available", "faq_available", "fixed_available", "lessons_available",
                             "realtime_available", "streaming_available"]
    static let retrievalFields = ["retrieval_faq", "retrieval_fixed_faq", "retrieval_lessons"]

    /// An empty assistant (every field absent); set fields, then check its ``json`` with `validate(json:context:)`
    /// where the rules matter.
    public init() {}

    /// Validates an assistant document: the assistant when valid, and the report either way.
    public static func validate(json: String, context: ValidationContext = ValidationContext()) -> (Assistant?, ValidationReport) {
        validateDocument(json) { Assistant($0, path: "", context: context, report: &$1) }
    }

    /// Validates an assistant document from its bytes (invalid UTF-8 and repeated names are violations).
    public static func validate(json: [UInt8], context: ValidationContext = ValidationContext()) -> (Assistant?, ValidationReport) {
        validateDocument(json) { Assistant($0, path: "", context: context, report: &$1) }
    }

    init(_ value: JSONValue, path: String, context: ValidationContext, report: inout ValidationReport) {
        guard var f = Fields(value, path: path, &report) else { return }
        let required = context.purpose != .partialUpdate
        for key in ["generation_config", "generation_config_pretools"] {
            // An empty name is already a length violation: not also an unregistered preset.
            guard let name = f.string(key, &report, required: required, nullable: false, length: 1...Int.max), !name.isEmpty else { continue }
            if let registered = context.generationConfigs {
                if !registered.contains(name) {
                    report.violations.append(Violation(path: f.at(key), rule: "'\(name)' is not a registered generation config (\(registered.sorted().joined(separator: ", ")))"))
                }
            } else {
                report.warnings.append(Violation(path: f.at(key), rule: "'\(name)' not checked: no generation configs registered"))
            }
            if key == "generation_config" { generationConfig = name } else { generationConfigPretools = name }
        }
        description = f.string("description", &report, required: required, nullable: false, length: 1...Int.max)
        systemPrompt = f.string("system_prompt", &report, required: required, nullable: false, length: 1...11400)
        temperature = f.number("temperature", &report, range: 0...2, required: required, nullable: false)
        let int32 = Int(Int32.min)...Int(Int32.max)
        maxResponses = f.integer("max_responses", &report, range: int32)
        maxMsgLength = f.integer("max_msg_length", &report, range: int32)
        maxConsecutiveToolCalls = f.integer("max_consecutive_tool_calls", &report, range: int32)
        for key in Self.textFields {
            if let text = f.string(key, &report, length: 1...Int.max) { texts[key] = text }
        }
        for key in Self.flagFields {
            if let flag = f.bool(key, &report) { flags[key] = flag }
        }
        if let raw = f.raw("colors"), raw != .null {
            if case .object = raw { colors = raw } else {
                report.violations.append(Violation(path: f.at("colors"), rule: "must be an object or null, not \(kind(raw))"))
            }
        }
        if let logo = f.string("logo", &report, length: 1...500) {
            self.logo = logo
            if !logo.isEmpty, !Self.isURI(logo) {
                report.violations.append(Violation(path: f.at("logo"), rule: "'\(logo)' is not a URI (scheme:rest)"))
            }
        }
        tools = Self.ids("tools", &f, &report)
        pretools = Self.ids("pretools", &f, &report)

        // Read-only: kept from a stored object, refused in a request.
        let readOnly = ["id", "created_at", "updated_at"] + Self.retrievalFields
        if context.purpose != .stored {
            for key in readOnly where f.has(key) {
                report.violations.append(Violation(path: f.at(key), rule: "is read-only: the server sets it, a create or update request may not"))
            }
        }
        id = f.raw("id")
        for key in ["created_at", "updated_at"] {
            guard let text = f.string(key, &report) else { continue }
            if !Self.isDateTime(text) {
                report.violations.append(Violation(path: f.at(key), rule: "'\(text)' is not an ISO 8601 date-time"))
            }
            if key == "created_at" { createdAt = text } else { updatedAt = text }
        }
        for key in Self.retrievalFields {
            if let raw = f.raw(key) { retrieval[key] = raw }
        }
        unknownFields = f.unknown(&report)
    }

    /// An array of integer ids without duplicates.
    private static func ids(_ key: String, _ f: inout Fields, _ report: inout ValidationReport) -> [Int]? {
        guard let raw = f.raw(key), raw != .null else { return nil }
        guard case .array(let items) = raw else {
            report.violations.append(Violation(path: f.at(key), rule: "must be an array of integer ids, not \(kind(raw))"))
            return nil
        }
        var seen: Set<Int> = []
        var out: [Int] = []
        for (i, item) in items.enumerated() {
            guard let n = item.doubleValue, n == n.rounded(), abs(n) < 9.2e18 else {
                report.violations.append(Violation(path: "\(f.at(key))[\(i)]", rule: "must be an integer id, not \(kind(item))"))
                continue
            }
            if !seen.insert(Int(n)).inserted {
                report.violations.append(Violation(path: "\(f.at(key))[\(i)]", rule: "\(Int(n)) appears more than once (ids must be unique)"))
            }
            out.append(Int(n))
        }
        return out
    }

    /// RFC 3986's shape: a scheme (letter, then letters, digits, + - .), a colon, and no spaces.
    static func isURI(_ text: String) -> Bool {
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else { return false }
        let scheme = text[..<colon]
        guard scheme.first!.isLetter, scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else { return false }
        return text.index(after: colon) < text.endIndex && !text.contains(where: { $0.isWhitespace })
    }

    /// RFC 3339 / ISO 8601 date-time: `2025-01-31T12:00:00Z`, with optional fraction and offset.
    static func isDateTime(_ text: String) -> Bool {
        let c = Array(text.utf8)
        func digits(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= c.count, range.allSatisfy({ (48...57).contains(c[$0]) }) else { return nil }
            return range.reduce(0) { $0 * 10 + Int(c[$1] - 48) }
        }
        guard c.count >= 20, digits(0..<4) != nil, c[4] == 45, let month = digits(5..<7), c[7] == 45, let day = digits(8..<10),
              c[10] == 84 || c[10] == 116 || c[10] == 32, let hour = digits(11..<13), c[13] == 58, let minute = digits(14..<16),
              c[16] == 58, let second = digits(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60 else { return false }
        var i = 19
        if i < c.count, c[i] == 46 {
            i += 1
            let start = i
            while i < c.count, (48...57).contains(c[i]) { i += 1 }
            guard i > start else { return false }
        }
        guard i < c.count else { return false }
        if c[i] == 90 || c[i] == 122 { return i + 1 == c.count }
        guard c[i] == 43 || c[i] == 45, i + 6 == c.count, let oh = digits((i + 1)..<(i + 3)), c[i + 3] == 58,
              let om = digits((i + 4)..<(i + 6)) else { return false }
        return oh < 24 && om < 60
    }

    /// The normalized document (fields in a fixed order, unknown fields kept at the end).
    public var json: JSONValue {
        var o = ObjectBuilder()
        o.add("id", id)
        o.add("generation_config", generationConfig)
        o.add("generation_config_pretools", generationConfigPretools)
        o.add("description", description)
        o.add("system_prompt", systemPrompt)
        o.add("temperature", temperature)
        o.add("max_responses", maxResponses)
        o.add("max_msg_length", maxMsgLength)
        o.add("max_consecutive_tool_calls", maxConsecutiveToolCalls)
        for key in Self.textFields { o.add(key, texts[key]) }
        for key in Self.flagFields { o.add(key, flags[key]) }
        o.add("colors", colors)
        o.add("logo", logo)
        o.add("tools", tools.map { .array($0.map { JSONValue($0) }) })
        o.add("pretools", pretools.map { .array($0.map { JSONValue($0) }) })
        o.add("created_at", createdAt)
        o.add("updated_at", updatedAt)
        for key in Self.retrievalFields { o.add(key, retrieval[key]) }
        o.append(unknownFields)
        return o.value
    }
}

/// What validation needs to know beyond the document.
public struct ValidationContext: Sendable {
    /// What the document is for.
    public enum Purpose: Sendable {
        /// A create or full update request: every required field present, read-only fields refused.
        case request
        /// A partial update (PATCH): required fields may be left out (not sent as null); read-only fields refused.
        case partialUpdate
        /// An object as the server stores and returns it: every required field present, read-only fields kept.
        case stored
    }

    /// The generation-config presets the caller registers; nil: any non-empty name passes, with a warning.
    public var generationConfigs: Set<String>?
    /// What the document is for (``Purpose/request`` by default).
    public var purpose: Purpose

    /// A context for validating documents of `purpose`, checking preset names against `generationConfigs` when
    /// given.
    public init(generationConfigs: Set<String>? = nil, purpose: Purpose = .request) {
        self.generationConfigs = generationConfigs
        self.purpose = purpose
    }
}

/// The payload returned when a realtime chat session starts.
public struct RealtimeResponse: Sendable, Equatable {
    /// `assistant`: required, validated as a stored ``Assistant`` (read-only fields allowed).
    public var assistant = Assistant()
    /// As sent (an integer or a string).
    public var chatID: JSONValue = .null
    /// `model`: required, at least one character.
    public var model = ""
    /// `system_prompt`: required, at least one character.
    public var systemPrompt = ""
    /// `temperature`: optional, 0...2.
    public var temperature: Double?
    /// `max_tokens`: optional, 1 to 2,147,483,647.
    public var maxTokens: Int?
    /// String keys with string or null values; nil when absent or null.
    public var additionalParams: [JSONValue.Member]?
    /// Fields the rules do not name, in document order: kept (and written back by ``json``), each reported as a
    /// warning.
    public var unknownFields: [JSONValue.Member] = []

    /// An empty response (every field at its default).
    public init() {}

    /// Validates a response document; its `assistant` is validated as a stored object.
    public static func validate(json: String, context: ValidationContext = ValidationContext()) -> (RealtimeResponse?, ValidationReport) {
        validateDocument(json) { RealtimeResponse($0, context: context, report: &$1) }
    }

    /// Validates a response document from its bytes (invalid UTF-8 and repeated names are violations).
    public static func validate(json: [UInt8], context: ValidationContext = ValidationContext()) -> (RealtimeResponse?, ValidationReport) {
        validateDocument(json) { RealtimeResponse($0, context: context, report: &$1) }
    }

    init(_ value: JSONValue, context: ValidationContext, report: inout ValidationReport) {
        guard var f = Fields(value, path: "", &report) else { return }
        var stored = context
        stored.purpose = .stored
        if let raw = f.raw("assistant") {
            assistant = Assistant(raw, path: "assistant", context: stored, report: &report)
        } else {
            report.violations.append(Violation(path: "assistant", rule: "is required"))
        }
        if let chat = f.raw("chat_id") {
            switch chat {
            case .number where chat.doubleValue.map { $0 == $0.rounded() && abs($0) < 9.2e18 } == true: chatID = chat
            case .string(let text) where !text.isEmpty: chatID = chat
            case .string: report.violations.append(Violation(path: "chat_id", rule: "must be at least 1 character(s), not 0"))
            case .number: report.violations.append(Violation(path: "chat_id", rule: "must be an integer or a string, not \(chat)"))
            default: report.violations.append(Violation(path: "chat_id", rule: "must be an integer or a string, not \(kind(chat))"))
            }
        } else {
            report.violations.append(Violation(path: "chat_id", rule: "is required"))
        }
        model = f.string("model", &report, required: true, length: 1...Int.max) ?? ""
        systemPrompt = f.string("system_prompt", &report, required: true, length: 1...Int.max) ?? ""
        temperature = f.number("temperature", &report, range: 0...2)
        maxTokens = f.integer("max_tokens", &report, range: 1...Int(Int32.max))
        if let raw = f.raw("additional_params"), raw != .null {
            if case .object(let members) = raw {
                for member in members {
                    switch member.value {
                    case .string, .null: break
                    default: report.violations.append(Violation(path: "additional_params.\(member.key)", rule: "must be a string or null, not \(kind(member.value))"))
                    }
                }
                additionalParams = members
            } else {
                report.violations.append(Violation(path: "additional_params", rule: "must be an object or null, not \(kind(raw))"))
            }
        }
        unknownFields = f.unknown(&report)
    }

    /// The normalized document (fields in a fixed order, unknown fields kept at the end).
    public var json: JSONValue {
        var o = ObjectBuilder()
        o.add("assistant", assistant.json)
        o.add("chat_id", chatID)
        o.add("model", model)
        o.add("system_prompt", systemPrompt)
        o.add("temperature", temperature)
        o.add("max_tokens", maxTokens)
        o.add("additional_params", additionalParams.map(JSONValue.object) ?? .null)
        o.append(unknownFields)
        return o.value
    }
}
