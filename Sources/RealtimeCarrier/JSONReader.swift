/// A strict, allocation-free JSON reader over one message's bytes (RFC 8259: UTF-8, no trailing commas, no
/// comments, no leading zeros, no control characters in strings, escapes checked, nesting bounded).
///
/// The carrier adapters walk a message once with it: an object's keys are offered to a handler that reads the
/// values it knows and leaves the rest to be skipped (checked all the same). Strings are returned as byte ranges
/// of the message, so a `media` message's payload reaches the base64 decoder without a copy unless it holds an
/// escape (`\/`).
///
/// Open to the gateway example as SPI (`@_spi(JSONReading) import RealtimeCarrier`), to read a model's audio deltas
/// the same way; not part of the public API.
@_spi(JSONReading) public struct JSONReader {
    public let bytes: UnsafeBufferPointer<UInt8>
    private(set) var position = 0
    private var depth = 0
    /// Deeper nesting is refused: it is never a carrier's message, and it bounds the reader's stack.
    static let maximumDepth = 32

    public init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    // MARK: Structure

    /// Reads an object, offering each key to `body`; `body` returns true when it read the value itself.
    public mutating func readObject(_ body: (inout JSONReader, JSONString) throws(JSONError) -> Bool) throws(JSONError) {
        try enter()
        try expect(UInt8(ascii: "{"))
        skipWhitespace()
        if peek() == UInt8(ascii: "}") { position += 1; depth -= 1; return }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw error(.expected("a key string")) }
            let key = try readString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            let start = position
            if try !body(&self, key) { try skipValue() } else if position == start { throw error(.expected("a value")) }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"): position += 1; depth -= 1; return
            default: throw error(.expected("',' or '}'"))
            }
        }
    }

    /// Reads an array, offering each element (by index) to `body`; `body` returns true when it read the element.
    mutating func readArray(_ body: (inout JSONReader, Int) throws(JSONError) -> Bool) throws(JSONError) {
        try enter()
        try expect(UInt8(ascii: "["))
        skipWhitespace()
        if peek() == UInt8(ascii: "]") { position += 1; depth -= 1; return }
        var index = 0
        while true {
            skipWhitespace()
            if try !body(&self, index) { try skipValue() }
            index += 1
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"): position += 1; depth -= 1; return
            default: throw error(.expected("',' or ']'"))
            }
        }
    }

    /// Reads and checks any value.
    public mutating func skipValue() throws(JSONError) {
        skipWhitespace()
        guard let c = peek() else { throw error(.truncated) }
        switch c {
        case UInt8(ascii: "{"): try readObject { _, _ in false }
        case UInt8(ascii: "["): try readArray { _, _ in false }
        case UInt8(ascii: "\""): _ = try readString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try readNumber()
        default: throw error(.expected("a value"))
        }
    }

    /// Checks that only whitespace follows the document.
    public mutating func finish() throws(JSONError) {
        skipWhitespace()
        guard position == bytes.count else { throw error(.expected("the end of the message")) }
    }

    // MARK: Scalars

    /// Reads a string; the returned range excludes the quotes.
    public mutating func readString() throws(JSONError) -> JSONString {
        try expect(UInt8(ascii: "\""))
        let start = position
        var escaped = false
        while position < bytes.count {
            // Plain printable ASCII eight bytes at a time (a media payload or an audio delta is kilobytes of base64):
            // only a quote, a backslash, a control character or a non-ASCII byte needs the byte-wise checks below.
            // (Word arithmetic: `SIMD16<UInt8>` comparisons and `any` compiled to per-lane code ten times slower.)
            while position + 8 <= bytes.count, Self.isPlain(UnsafeRawPointer(bytes.baseAddress! + position).loadUnaligned(as: UInt64.self)) {
                position += 8
            }
            guard position < bytes.count else { break }
            let c = bytes[position]
            if c == UInt8(ascii: "\"") {
                position += 1
                return JSONString(start: start, end: position - 1, hasEscapes: escaped)
            }
            if c == UInt8(ascii: "\\") {
                escaped = true
                try readEscape()
            } else if c < 0x20 {
                throw error(.controlCharacter)
            } else if c < 0x80 {
                position += 1
            } else {
                try readUTF8Scalar()
            }
        }
        throw error(.truncated)
    }

    /// Whether none of a word's eight bytes is a quote, a backslash, below 0x20 or above 0x7F. Each test is the
    /// classic "has a zero byte" one, `(v - 0x01…) & ~v & 0x80…`, which may mark the wrong byte of a word after a
    /// borrow but is exact on whether the word has one.
    @inline(__always)
    static func isPlain(_ x: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quote = x ^ (ones &* 0x22), backslash = x ^ (ones &* 0x5C)
        let control = (x &- ones &* 0x20) & ~x
        let special = x | control | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)
        return special & (ones &* 0x80) == 0
    }

    /// Reads a number; the returned range is its text.
    mutating func readNumber() throws(JSONError) -> Range<Int> {
        let start = position
        if peek() == UInt8(ascii: "-") { position += 1 }
        guard let first = peek(), isDigit(first) else { throw error(.badNumber) }
        position += 1
        if first != UInt8(ascii: "0") { skipDigits() } else if let c = peek(), isDigit(c) { throw error(.badNumber) }
        if peek() == UInt8(ascii: ".") {
            position += 1
            guard let c = peek(), isDigit(c) else { throw error(.badNumber) }
            skipDigits()
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            position += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
            guard let c = peek(), isDigit(c) else { throw error(.badNumber) }
            skipDigits()
        }
        return start..<position
    }

    /// Reads a non-negative integer written as a JSON number or as a string of digits (Twilio and Telnyx write
    /// their counters as strings).
    mutating func readInteger() throws(JSONError) -> Int {
        skipWhitespace()
        let at = position
        if peek() == UInt8(ascii: "\"") {
            let text = try readString()
            guard !text.hasEscapes, let value = parseInteger(text.start..<text.end) else { throw JSONError(offset: at, kind: .expected("an integer")) }
            return value
        }
        let range = try readNumber()
        guard let value = parseInteger(range) else { throw JSONError(offset: at, kind: .expected("an integer")) }
        return value
    }

    // MARK: Byte level

    /// Moves to `offset` (a position this reader reported), to read a value again.
    mutating func seek(to offset: Int) { position = min(max(0, offset), bytes.count) }

    public func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    public mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    func error(_ kind: JSONError.Kind) -> JSONError { JSONError(offset: position, kind: kind) }

    private mutating func enter() throws(JSONError) {
        guard depth < Self.maximumDepth else { throw error(.tooDeep) }
        depth += 1
    }

    private mutating func expect(_ c: UInt8) throws(JSONError) {
        guard let next = peek() else { throw error(.truncated) }
        guard next == c else { throw error(.expected(Self.describe(c))) }
        position += 1
    }

    private static func describe(_ c: UInt8) -> StaticString {
        switch c {
        case UInt8(ascii: "{"): "'{'"
        case UInt8(ascii: "["): "'['"
        case UInt8(ascii: ":"): "':'"
        default: "'\"'"
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONError) {
        let n = word.utf8CodeUnitCount
        guard position + n <= bytes.count else { throw error(.truncated) }
        for k in 0..<n where bytes[position + k] != word.utf8Start[k] { throw error(.expected("a value")) }
        position += n
    }

    private func isDigit(_ c: UInt8) -> Bool { c &- UInt8(ascii: "0") < 10 }

    private mutating func skipDigits() {
        while let c = peek(), isDigit(c) { position += 1 }
    }

    private func parseInteger(_ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 18 else { return nil }
        var value = 0
        for i in range {
            let d = bytes[i] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            value = value * 10 + Int(d)
        }
        // No leading zeros ("007" is not a counter the carriers write; refusing it keeps one spelling per value).
        if range.count > 1 && bytes[range.lowerBound] == UInt8(ascii: "0") { return nil }
        return value
    }

    private mutating func readEscape() throws(JSONError) {
        position += 1
        guard let c = peek() else { throw error(.truncated) }
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
             UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            position += 1
        case UInt8(ascii: "u"):
            position -= 1
            let unit = try readUnicodeEscape()
            if (0xD800..<0xDC00).contains(unit) {
                guard peek() == UInt8(ascii: "\\") else { throw error(.badEscape) }
                let low = try readUnicodeEscape()
                guard (0xDC00..<0xE000).contains(low) else { throw error(.badEscape) }
            } else if (0xDC00..<0xE000).contains(unit) {
                throw error(.badEscape)
            }
        default:
            throw error(.badEscape)
        }
    }

    /// Reads `\uXXXX` at `position` (which is on the backslash).
    private mutating func readUnicodeEscape() throws(JSONError) -> UInt32 {
        guard position + 6 <= bytes.count else { throw error(.truncated) }
        guard bytes[position + 1] == UInt8(ascii: "u") else { throw error(.badEscape) }
        var value: UInt32 = 0
        for k in 2..<6 {
            guard let h = hexValue(bytes[position + k]) else { throw error(.badEscape) }
            value = value << 4 | h
        }
        position += 6
        return value
    }

    /// Checks one multi-byte UTF-8 scalar (shortest form, no surrogates, at most U+10FFFF).
    private mutating func readUTF8Scalar() throws(JSONError) {
        let lead = bytes[position]
        let count: Int
        let minimum: UInt32
        var scalar: UInt32
        switch lead {
        case 0xC2...0xDF: count = 2; minimum = 0x80; scalar = UInt32(lead & 0x1F)
        case 0xE0...0xEF: count = 3; minimum = 0x800; scalar = UInt32(lead & 0x0F)
        case 0xF0...0xF4: count = 4; minimum = 0x10000; scalar = UInt32(lead & 0x07)
        default: throw error(.badUTF8)
        }
        guard position + count <= bytes.count else { throw error(.truncated) }
        for k in 1..<count {
            let c = bytes[position + k]
            guard c & 0xC0 == 0x80 else { throw error(.badUTF8) }
            scalar = scalar << 6 | UInt32(c & 0x3F)
        }
        guard scalar >= minimum, scalar <= 0x10FFFF, !(0xD800..<0xE000).contains(scalar) else { throw error(.badUTF8) }
        position += count
    }
}

private func hexValue(_ c: UInt8) -> UInt32? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(c - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(c - UInt8(ascii: "a") + 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(c - UInt8(ascii: "A") + 10)
    default: nil
    }
}

/// A string value of a message: its bytes between the quotes (escapes not yet resolved).
@_spi(JSONReading) public struct JSONString {
    let start: Int
    let end: Int
    public let hasEscapes: Bool

    var count: Int { end - start }

    /// The raw bytes (valid while the message is).
    public func raw(in bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[start..<end])
    }

    /// Whether the string equals `literal` (an ASCII key), escapes resolved.
    public func equals(_ literal: StaticString, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = literal.utf8CodeUnitCount
        if !hasEscapes {
            guard count == n else { return false }
            for k in 0..<n where bytes[start + k] != literal.utf8Start[k] { return false }
            return true
        }
        guard count <= 6 * n else { return false }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { buffer in
            let m = unescape(in: bytes, into: buffer)
            guard m == n else { return false }
            for k in 0..<n where buffer[k] != literal.utf8Start[k] { return false }
            return true
        }
    }

    /// Writes the string with its escapes resolved (UTF-8) to `output`, which must hold `count` bytes (a resolved
    /// string is never longer than its escaped text); returns the bytes written. The reader checked the escapes.
    func unescape(in bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var i = start
        var o = 0
        while i < end {
            let c = bytes[i]
            guard c == UInt8(ascii: "\\") else { output[o] = c; o += 1; i += 1; continue }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): output[o] = 0x08; o += 1
            case UInt8(ascii: "f"): output[o] = 0x0C; o += 1
            case UInt8(ascii: "n"): output[o] = 0x0A; o += 1
            case UInt8(ascii: "r"): output[o] = 0x0D; o += 1
            case UInt8(ascii: "t"): output[o] = 0x09; o += 1
            case UInt8(ascii: "u"):
                var scalar = hex4(bytes, i)
                i += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    let low = hex4(bytes, i + 2)
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                o += writeUTF8(scalar, into: output, at: o)
            default: output[o] = e; o += 1   // " \ /
            }
        }
        return o
    }

    /// The resolved string (allocates: for the rare fields, never the media path).
    public func string(in bytes: UnsafeBufferPointer<UInt8>) -> String {
        if !hasEscapes { return String(decoding: raw(in: bytes), as: UTF8.self) }
        return String(unsafeUninitializedCapacity: count) { unescape(in: bytes, into: $0) }
    }
}

private func hex4(_ bytes: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt32 {
    var value: UInt32 = 0
    for k in 0..<4 { value = value << 4 | (hexValue(bytes[at + k]) ?? 0) }
    return value
}

private func writeUTF8(_ scalar: UInt32, into output: UnsafeMutableBufferPointer<UInt8>, at o: Int) -> Int {
    switch scalar {
    case ..<0x80:
        output[o] = UInt8(scalar); return 1
    case ..<0x800:
        output[o] = UInt8(0xC0 | scalar >> 6); output[o + 1] = UInt8(0x80 | scalar & 0x3F); return 2
    case ..<0x10000:
        output[o] = UInt8(0xE0 | scalar >> 12); output[o + 1] = UInt8(0x80 | scalar >> 6 & 0x3F)
        output[o + 2] = UInt8(0x80 | scalar & 0x3F); return 3
    default:
        output[o] = UInt8(0xF0 | scalar >> 18); output[o + 1] = UInt8(0x80 | scalar >> 12 & 0x3F)
        output[o + 2] = UInt8(0x80 | scalar >> 6 & 0x3F); output[o + 3] = UInt8(0x80 | scalar & 0x3F); return 4
    }
}

/// Malformed JSON: where (byte offset in the message) and what.
public struct JSONError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong.
    public enum Kind: Equatable, Sendable {
        /// Something else was there: what the reader expected.
        case expected(StaticString)
        /// The message ended inside a value.
        case truncated
        /// A raw control character inside a string.
        case controlCharacter
        /// A backslash escape JSON does not have, or a bad `\u` sequence.
        case badEscape
        /// Bytes that are not UTF-8.
        case badUTF8
        /// A number JSON does not allow (leading zeros, a bare sign or point).
        case badNumber
        /// Nesting deeper than the reader follows.
        case tooDeep

        /// Kinds are equal when they read the same (`expected` compares what was expected).
        public static func == (a: Kind, b: Kind) -> Bool { a.text == b.text }

        var text: String {
            switch self {
            case .expected(let what): "expected \(what)"
            case .truncated: "the message ends too early"
            case .controlCharacter: "a control character in a string"
            case .badEscape: "an invalid escape"
            case .badUTF8: "invalid UTF-8"
            case .badNumber: "an invalid number"
            case .tooDeep: "nesting deeper than \(JSONReader.maximumDepth) levels"
            }
        }
    }

    /// The byte offset in the message.
    public let offset: Int
    /// What was wrong there.
    public let kind: Kind

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String { "malformed JSON at byte \(offset): \(kind.text)" }
}
