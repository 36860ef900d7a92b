/// `Codable` for gateways that decode with `JSONDecoder`: decoding validates (every violation in the error's
/// description) and encoding writes the normalized document. Prefer the `validate(json:)` functions where member
/// order and number spelling matter, or to read the warnings.
extension JSONValue: Codable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: Key.self) {
            self = .object(try object.allKeys.map { .init($0.stringValue, try object.decode(JSONValue.self, forKey: $0)) })
        } else if var array = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !array.isAtEnd { items.append(try array.decode(JSONValue.self)) }
            self = .array(items)
        } else {
            let single = try decoder.singleValueContainer()
            if single.decodeNil() {
                self = .null
            } else if let flag = try? single.decode(Bool.self) {
                self = .bool(flag)
            } else if let integer = try? single.decode(Int.self) {
                self = JSONValue(integer)
            } else if let number = try? single.decode(Double.self) {
                self = JSONValue(number)
            } else {
                self = .string(try single.decode(String.self))
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .null:
            var single = encoder.singleValueContainer()
            try single.encodeNil()
        case .bool(let flag):
            var single = encoder.singleValueContainer()
            try single.encode(flag)
        case .number(let text):
            var single = encoder.singleValueContainer()
            if let integer = Int(text) { try single.encode(integer) } else { try single.encode(Double(text) ?? 0) }
        case .string(let text):
            var single = encoder.singleValueContainer()
            try single.encode(text)
        case .array(let items):
            var array = encoder.unkeyedContainer()
            for item in items { try array.encode(item) }
        case .object(let members):
            var object = encoder.container(keyedBy: Key.self)
            for member in members { try object.encode(member.value, forKey: Key(stringValue: member.key)) }
        }
    }
}

private func invalid(_ report: ValidationReport, _ decoder: any Decoder) -> DecodingError {
    .dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: report.violations.map(\.description).joined(separator: "; ")))
}

extension Session: Codable {
    public init(from decoder: any Decoder) throws {
        var report = ValidationReport()
        self.init(try JSONValue(from: decoder), shape: nil, report: &report)
        guard report.isValid else { throw invalid(report, decoder) }
    }

    public func encode(to encoder: any Encoder) throws { try json.encode(to: encoder) }
}

extension Assistant: Codable {
    /// Decodes a stored assistant (read-only fields allowed; generation configs not checked).
    public init(from decoder: any Decoder) throws {
        var report = ValidationReport()
        self.init(try JSONValue(from: decoder), path: "", context: ValidationContext(purpose: .stored), report: &report)
        guard report.isValid else { throw invalid(report, decoder) }
    }

    public func encode(to encoder: any Encoder) throws { try json.encode(to: encoder) }
}

extension RealtimeResponse: Codable {
    public init(from decoder: any Decoder) throws {
        var report = ValidationReport()
        self.init(try JSONValue(from: decoder), context: ValidationContext(purpose: .stored), report: &report)
        guard report.isValid else { throw invalid(report, decoder) }
    }

    public func encode(to encoder: any Encoder) throws { try json.encode(to: encoder) }
}
