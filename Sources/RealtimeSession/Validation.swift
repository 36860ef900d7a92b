/// One broken rule: where (a JSON path such as `turn_detection.threshold` or `tools[2].name`) and what.
public struct Violation: Sendable, Equatable, CustomStringConvertible {
    /// Where: a JSON path from the document's root (`audio.input.format.rate`, `tools[2].name`); empty for the
    /// document itself.
    public let path: String
    /// What is wrong, as one readable clause (`must be 0...1, not 1.5`).
    public let rule: String
    /// A violation of `rule` at `path`.
    public init(path: String, rule: String) {
        self.path = path
        self.rule = rule
    }
    /// One readable line (what error messages, logs and the CLI show).
    public var description: String { path.isEmpty ? rule : "\(path): \(rule)" }
}

/// Everything a document broke, all at once, and what it holds that we do not know (kept, not dropped).
public struct ValidationReport: Sendable, Equatable {
    /// The broken rules, in document order: any one refuses the document.
    public internal(set) var violations: [Violation] = []
    /// What does not refuse it: unknown fields (kept and written back), names that could not be checked.
    public internal(set) var warnings: [Violation] = []
    /// Whether the document passes: no violations (warnings allowed).
    public var isValid: Bool { violations.isEmpty }
}

/// Why a document was refused: not JSON, or JSON that breaks rules (every violation, with its path).
public enum ValidationError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The text is not JSON (or not UTF-8, or repeats a member name): where and what.
    case syntax(JSONSyntaxError)
    /// JSON that breaks rules: every violation, and the warnings.
    case invalid(ValidationReport)

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String {
        switch self {
        case .syntax(let error): "\(error)"
        case .invalid(let report): report.violations.map(\.description).joined(separator: "\n")
        }
    }
}

/// Walks one JSON object, reading typed fields and recording every violation with its path; the members it was
/// not asked about are the unknown ones.
struct Fields {
    let path: String
    private(set) var members: [JSONValue.Member] = []
    private var read: Set<String> = []

    /// Reads `value` as an object; a violation (and nil) when it is not one.
    init?(_ value: JSONValue, path: String, _ report: inout ValidationReport) {
        self.path = path
        guard case .object(let members) = value else {
            report.violations.append(Violation(path: path, rule: "must be an object, not \(kind(value))"))
            return nil
        }
        self.members = members
    }

    func at(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The raw value of `key` (marked as known), nil when absent.
    mutating func raw(_ key: String) -> JSONValue? {
        read.insert(key)
        return members.first { $0.key == key }?.value
    }

    mutating func has(_ key: String) -> Bool { raw(key) != nil }

    mutating func string(_ key: String, _ report: inout ValidationReport, required: Bool = false, nullable: Bool = true,
                         length: ClosedRange<Int>? = nil) -> String? {
        guard let value = raw(key) else {
            if required { report.violations.append(Violation(path: at(key), rule: "is required")) }
            return nil
        }
        if case .null = value {
            if required || !nullable { report.violations.append(Violation(path: at(key), rule: "must be a string, not null")) }
            return nil
        }
        guard case .string(let text) = value else {
            report.violations.append(Violation(path: at(key), rule: "must be a string, not \(kind(value))"))
            return nil
        }
        if let length, !length.contains(text.count) {
            let bound = length.upperBound == Int.max ? "at least \(length.lowerBound) character(s)" : "\(length.lowerBound) to \(length.upperBound) characters"
            report.violations.append(Violation(path: at(key), rule: "must be \(bound), not \(text.count)"))
        }
        return text
    }

    mutating func number(_ key: String, _ report: inout ValidationReport, range: ClosedRange<Double>? = nil,
                         required: Bool = false, nullable: Bool = true) -> Double? {
        guard let value = raw(key) else {
            if required { report.violations.append(Violation(path: at(key), rule: "is required")) }
            return nil
        }
        if case .null = value {
            if required || !nullable { report.violations.append(Violation(path: at(key), rule: "must be a number, not null")) }
            return nil
        }
        guard let number = value.doubleValue else {
            report.violations.append(Violation(path: at(key), rule: "must be a number, not \(kind(value))"))
            return nil
        }
        if let range, !range.contains(number) {
            report.violations.append(Violation(path: at(key), rule: "\(JSONValue.format(number)) is outside \(JSONValue.format(range.lowerBound))...\(JSONValue.format(range.upperBound))"))
        }
        return number
    }

    mutating func integer(_ key: String, _ report: inout ValidationReport, range: ClosedRange<Int>? = nil,
                          required: Bool = false) -> Int? {
        guard let value = raw(key), value != .null else {
            if required { report.violations.append(Violation(path: at(key), rule: "is required")) }
            return nil
        }
        guard let number = value.doubleValue else {
            report.violations.append(Violation(path: at(key), rule: "must be an integer, not \(kind(value))"))
            return nil
        }
        guard number == number.rounded(), abs(number) < 9.2e18 else {
            report.violations.append(Violation(path: at(key), rule: "must be an integer, not \(JSONValue.format(number))"))
            return nil
        }
        let integer = Int(number)
        if let range, !range.contains(integer) {
            report.violations.append(Violation(path: at(key), rule: "\(integer) is outside \(range.lowerBound)...\(range.upperBound)"))
        }
        return integer
    }

    mutating func bool(_ key: String, _ report: inout ValidationReport) -> Bool? {
        guard let value = raw(key), value != .null else { return nil }
        guard case .bool(let flag) = value else {
            report.violations.append(Violation(path: at(key), rule: "must be true or false, not \(kind(value))"))
            return nil
        }
        return flag
    }

    /// A string that must be one of `choices`.
    mutating func choice(_ key: String, _ report: inout ValidationReport, _ choices: [String], required: Bool = false) -> String? {
        guard let text = string(key, &report, required: required) else { return nil }
        guard choices.contains(text) else {
            report.violations.append(Violation(path: at(key), rule: "'\(text)' is not one of \(choices.joined(separator: ", "))"))
            return nil
        }
        return text
    }

    /// The members nobody asked about: reported as warnings, and kept.
    func unknown(_ report: inout ValidationReport) -> [JSONValue.Member] {
        let extra = members.filter { !read.contains($0.key) }
        for member in extra {
            report.warnings.append(Violation(path: at(member.key), rule: "unknown field (kept as is)"))
        }
        return extra
    }
}

/// "an object", "a string", ... for messages.
func kind(_ value: JSONValue) -> String {
    switch value {
    case .null: "null"
    case .bool: "a boolean"
    case .number: "a number"
    case .string: "a string"
    case .array: "an array"
    case .object: "an object"
    }
}

/// Builds objects member by member, skipping nils, then appends the unknown members as they came.
struct ObjectBuilder {
    private(set) var members: [JSONValue.Member] = []
    mutating func add(_ key: String, _ value: JSONValue?) {
        if let value { members.append(.init(key, value)) }
    }
    mutating func add(_ key: String, _ text: String?) { add(key, text.map(JSONValue.string)) }
    mutating func add(_ key: String, _ number: Double?) { add(key, number.map { JSONValue($0) }) }
    mutating func add(_ key: String, _ number: Int?) { add(key, number.map { JSONValue($0) }) }
    mutating func add(_ key: String, _ flag: Bool?) { add(key, flag.map(JSONValue.bool)) }
    mutating func append(_ extra: [JSONValue.Member]) { members += extra }
    var value: JSONValue { .object(members) }
}

/// Parses `json` and reads a model from it with `read`: the model when the document breaks no rule, and the report
/// either way (a syntax error is the report's only violation, at the root).
func validateDocument<Model>(_ json: String, _ read: (JSONValue, inout ValidationReport) -> Model) -> (Model?, ValidationReport) {
    validateDocument(Array(json.utf8), read)
}

func validateDocument<Model>(_ json: [UInt8], _ read: (JSONValue, inout ValidationReport) -> Model) -> (Model?, ValidationReport) {
    var report = ValidationReport()
    do {
        let model = read(try JSONValue(parsing: json), &report)
        return (report.isValid ? model : nil, report)
    } catch {
        report.violations.append(Violation(path: "", rule: "\(error)"))
        return (nil, report)
    }
}
