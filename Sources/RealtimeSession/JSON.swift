import RealtimeAudio

/// A JSON value that keeps what a round trip must keep: members in their order and numbers as written.
///
/// Why our own: validation reports every violation with its path, which needs the document as data rather than a
/// decoder that stops at the first mismatch; and "encoding it back unchanged" needs member order and number
/// spelling, which `JSONSerialization` loses.
public enum JSONValue: Sendable, Equatable, CustomStringConvertible {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number as written (`1`, `0.50`, `1e3`).
    case number(String)
    /// A string, unescaped.
    case string(String)
    /// An array, in order.
    case array([JSONValue])
    /// An object: its members in document order (names are unique when parsed from bytes).
    case object([Member])

    /// One member of an object, in document order.
    public struct Member: Sendable, Equatable {
        /// The member's name, unescaped.
        public var key: String
        /// The member's value.
        public var value: JSONValue
        /// The member `key`: `value`.
        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// Parses a JSON document.
    ///
    /// - Throws: ``JSONSyntaxError`` with the byte offset and what was expected there.
    public init(parsing text: String) throws(JSONSyntaxError) {
        var parser = JSONParser(Array(text.utf8))
        self = try parser.document()
    }

    /// Parses a JSON document from its bytes, as they came from a file or a socket.
    ///
    /// Stricter than decoding the bytes to a `String` first: invalid UTF-8 is an error at its byte offset (a
    /// `String` would turn it into U+FFFD silently), and so is a member name repeated in one object (parsers
    /// disagree on which copy wins: Python, JavaScript and Go keep the last, so two readers of one document could
    /// act on different values).
    /// - Throws: ``JSONSyntaxError`` with the byte offset and what was expected there.
    public init(parsing bytes: [UInt8]) throws(JSONSyntaxError) {
        var parser = JSONParser(bytes)
        self = try parser.document()
    }

    /// A number, written in its shortest round-trip form (`0.5`, `24000`); not-a-number and infinities have no
    /// JSON spelling and are written as `null`.
    public init(_ number: Double) { self = number.isFinite ? .number(JSONValue.format(number)) : .null }
    /// An integer, written in decimal.
    public init(_ number: Int) { self = .number(String(number)) }

    /// The member named `key`, if this is an object that has it.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The number's value, if this is a number.
    public var doubleValue: Double? {
        guard case .number(let text) = self else { return nil }
        return Double(text)
    }

    /// The value as compact JSON.
    public var description: String { serialized() }

    /// The value as JSON text: compact, or indented by two spaces per level.
    public func serialized(pretty: Bool = false) -> String {
        var out = ""
        write(into: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(into out: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let text): out += text
        case .string(let text): out += JSONValue.quote(text)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                item.write(into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{"
            for (i, member) in members.enumerated() {
                if i > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                out += JSONValue.quote(member.key) + (pretty ? ": " : ":")
                member.value.write(into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "}"
        }
    }

    /// The core's one spelling of JSON strings and numbers (``JSONLine``).
    static func quote(_ text: String) -> String { JSONLine.quote(text) }

    /// The shortest spelling that reads back as `number` (`0.8`, `500`, not `500.0`).
    static func format(_ number: Double) -> String { JSONLine.number(number) }
}

/// A document that is not JSON.
public struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Byte offset of the problem.
    public let offset: Int
    /// What would have been valid there (`',' or '}'`, `a closing quote`, `a digit`, `a member name not already in this object ...`).
    public let expected: String
    /// One readable line (what error messages, logs and the CLI show).
    public var description: String { "not valid JSON at byte \(offset): expected \(expected)" }
}

private struct JSONParser {
    let bytes: [UInt8]
    var i = 0
    var depth = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func document() throws(JSONSyntaxError) -> JSONValue {
        let value = try parseValue()
        skipSpace()
        guard i == bytes.count else { throw fail("the end of the document") }
        return value
    }

    func fail(_ expected: String) -> JSONSyntaxError { JSONSyntaxError(offset: i, expected: expected) }

    mutating func skipSpace() {
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    }

    mutating func literal(_ word: String, _ value: JSONValue) throws(JSONSyntaxError) -> JSONValue {
        let w = Array(word.utf8)
        guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { throw fail("a value") }
        i += w.count
        return value
    }

    mutating func parseValue() throws(JSONSyntaxError) -> JSONValue {
        skipSpace()
        guard i < bytes.count else { throw fail("a value") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail("a value")
        }
    }

    mutating func nest() throws(JSONSyntaxError) {
        depth += 1
        guard depth <= 256 else { throw fail("at most 256 levels of nesting") }
    }

    mutating func parseObject() throws(JSONSyntaxError) -> JSONValue {
        try nest()
        defer { depth -= 1 }
        i += 1
        var members: [JSONValue.Member] = []
        var names = Set<String>()
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("a member name in quotes") }
            let keyOffset = i
            let key = try parseString()
            guard names.insert(key).inserted else {
                throw JSONSyntaxError(offset: keyOffset, expected: "a member name not already in this object ('\(key)' is repeated)")
            }
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("':'") }
            i += 1
            members.append(.init(key, try parseValue()))
            skipSpace()
            guard i < bytes.count else { throw fail("',' or '}'") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw fail("',' or '}'")
        }
    }

    mutating func parseArray() throws(JSONSyntaxError) -> JSONValue {
        try nest()
        defer { depth -= 1 }
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
            items.append(try parseValue())
            skipSpace()
            guard i < bytes.count else { throw fail("',' or ']'") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            throw fail("',' or ']'")
        }
    }

    mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = i
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.i
            while p.i < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.i]) { p.i += 1 }
            return p.i - s
        }
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard digits(&self) > 0 else { throw fail("a digit") }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digits(&self) > 0 else { throw fail("a digit after '.'") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits(&self) > 0 else { throw fail("an exponent") }
        }
        return .number(String(decoding: bytes[start..<i], as: UTF8.self))
    }

    /// Moves past printable ASCII that is neither a quote nor a backslash, eight bytes at a time: a Realtime event's
    /// base64 audio is hundreds of kilobytes of it, and byte by byte it was most of the parse.
    mutating func skipPlainRun() {
        let count = bytes.count
        guard i + 8 <= count else { return }
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        i = bytes.withUnsafeBytes { raw in
            var j = i
            while j + 8 <= count {
                let w = raw.loadUnaligned(fromByteOffset: j, as: UInt64.self)
                // A byte >= 0x80, < 0x20, equal to '"' or to '\\' (each test exact: no byte is >= 0x80 where it counts).
                let quote = w ^ (ones &* 0x22), backslash = w ^ (ones &* 0x5C)
                let special = (w | ((w &- ones &* 0x20) & ~w) | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)) & highs
                if special != 0 { break }
                j += 8
            }
            return j
        }
    }

    mutating func parseString() throws(JSONSyntaxError) -> String {
        i += 1
        var out = ""
        var run = i
        while true {
            skipPlainRun()
            guard i < bytes.count else { throw fail("a closing quote") }
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                out += String(decoding: bytes[run..<i], as: UTF8.self)
                i += 1
                return out
            }
            if c < 0x20 { throw fail("no control characters in a string") }
            if c >= 0x80 {
                let n = utf8SequenceLength(at: i)
                guard n > 0 else { throw fail("valid UTF-8") }
                i += n
                continue
            }
            guard c == UInt8(ascii: "\\") else { i += 1; continue }
            out += String(decoding: bytes[run..<i], as: UTF8.self)
            i += 1
            guard i < bytes.count else { throw fail("an escape") }
            switch bytes[i] {
            case UInt8(ascii: "\""): out += "\""
            case UInt8(ascii: "\\"): out += "\\"
            case UInt8(ascii: "/"): out += "/"
            case UInt8(ascii: "b"): out += "\u{8}"
            case UInt8(ascii: "f"): out += "\u{C}"
            case UInt8(ascii: "n"): out += "\n"
            case UInt8(ascii: "r"): out += "\r"
            case UInt8(ascii: "t"): out += "\t"
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), i + 2 < bytes.count, bytes[i + 1] == UInt8(ascii: "\\"), bytes[i + 2] == UInt8(ascii: "u") {
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("a low surrogate") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw fail("a valid code point") }
                out.unicodeScalars.append(scalar)
            default: throw fail("a valid escape")
            }
            i += 1
            run = i
        }
    }

    /// The length of the well-formed UTF-8 sequence starting at `at` (RFC 3629: no overlongs, no surrogates, at
    /// most U+10FFFF), or 0.
    func utf8SequenceLength(at: Int) -> Int {
        let b0 = bytes[at]
        func continuation(_ k: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
            at + k < bytes.count && range.contains(bytes[at + k])
        }
        switch b0 {
        case 0xC2...0xDF: return continuation(1) ? 2 : 0
        case 0xE0: return continuation(1, 0xA0...0xBF) && continuation(2) ? 3 : 0
        case 0xE1...0xEC, 0xEE...0xEF: return continuation(1) && continuation(2) ? 3 : 0
        case 0xED: return continuation(1, 0x80...0x9F) && continuation(2) ? 3 : 0
        case 0xF0: return continuation(1, 0x90...0xBF) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF1...0xF3: return continuation(1) && continuation(2) && continuation(3) ? 4 : 0
        case 0xF4: return continuation(1, 0x80...0x8F) && continuation(2) && continuation(3) ? 4 : 0
        default: return 0
        }
    }

    /// Reads the four hex digits after `\u`, leaving `i` on the last one.
    mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard i + 4 < bytes.count else { throw fail("four hex digits") }
        var value: UInt32 = 0
        for k in 1...4 {
            let c = bytes[i + k]
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("four hex digits")
            }
            value = value << 4 | digit
        }
        i += 4
        return value
    }
}
