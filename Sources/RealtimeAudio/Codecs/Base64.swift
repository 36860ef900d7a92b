/// Base64 (RFC 4648 §4, standard alphabet, padded), the framing of audio inside the Realtime API's JSON events
/// (`input_audio_buffer.append`, `response.audio.delta`).
///
/// Decoding is strict: the length must be a multiple of 4, only `A-Z a-z 0-9 + /` may appear, `=` only as the
/// last one or two characters, and the unused bits before the padding must be zero (so every byte string has
/// exactly one encoding). Any violation is a ``Base64Error`` naming the offset of the first bad character.
///
/// Why not swift-extras-base64: that library is not strict (it accepts `AB=C` and non-zero pad bits) and its
/// errors carry no offset; `make bench` measures both side by side (`base64-decode`, `extras-base64-decode`).
///
/// Stateless and thread-safe; the buffer functions allocate nothing.
public enum Base64 {
    /// The number of characters `encode` writes for `byteCount` bytes: `4 * ceil(byteCount / 3)`.
    @inlinable
    public static func encodedCount(forByteCount byteCount: Int) -> Int { (byteCount + 2) / 3 * 4 }

    /// The most bytes `decode` can write for `characterCount` characters: `3 * ceil(characterCount / 4)`.
    @inlinable
    public static func decodedCapacity(forCharacterCount characterCount: Int) -> Int { (characterCount + 3) / 4 * 3 }

    /// Encodes bytes as padded base64 ASCII.
    ///
    /// - Returns: the number of characters written, ``encodedCount(forByteCount:)``.
    /// - Precondition: `output.count >= encodedCount(forByteCount: bytes.count)` (traps otherwise).
    @discardableResult
    public static func encode(_ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let total = encodedCount(forByteCount: bytes.count)
        precondition(output.count >= total, "Base64.encode: output buffer too small")
        guard let src = bytes.baseAddress, let dst = output.baseAddress else { return 0 }
        // Whole triples: 24 bits are two 12-bit halves, each looked up as a pair of characters (an 8 KiB table),
        // written with one 32-bit store.
        let whole = bytes.count / 3
        let p = base64PairTable
        let raw = UnsafeMutableRawPointer(dst)
        for g in 0..<whole {
            let i = 3 &* g
            let v = UInt32(src[i]) << 16 | UInt32(src[i &+ 1]) << 8 | UInt32(src[i &+ 2])
            let word = UInt32(p[Int(v >> 12)]) | UInt32(p[Int(v & 0xFFF)]) << 16
            raw.storeBytes(of: word.littleEndian, toByteOffset: 4 &* g, as: UInt32.self)
        }
        let rest = bytes.count - 3 * whole
        if rest > 0 {
            let i = 3 * whole, o = 4 * whole
            let v = UInt32(src[i]) << 16 | (rest == 2 ? UInt32(src[i + 1]) << 8 : 0)
            dst[o] = base64Alphabet[Int(v >> 18)]
            dst[o + 1] = base64Alphabet[Int((v >> 12) & 63)]
            dst[o + 2] = rest == 2 ? base64Alphabet[Int((v >> 6) & 63)] : padCharacter
            dst[o + 3] = padCharacter
        }
        return total
    }

    /// Decodes padded base64 ASCII, strictly.
    ///
    /// - Returns: the number of bytes written (at most ``decodedCapacity(forCharacterCount:)``).
    /// - Throws: ``Base64Error`` naming the offset of the first bad character; `output` holds unspecified bytes then.
    /// - Precondition: `output.count >= decodedCapacity(forCharacterCount: characters.count)` (traps otherwise).
    public static func decode(
        _ characters: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>
    ) throws(Base64Error) -> Int {
        let count = characters.count
        precondition(output.count >= decodedCapacity(forCharacterCount: count), "Base64.decode: output buffer too small")
        guard count > 0, let src = characters.baseAddress, let dst = output.baseAddress else { return 0 }
        guard count % 4 == 0 else {
            // A stray character (whitespace, a URL-safe letter) is the likelier cause: name it if there is one.
            if let bad = (0..<count).first(where: { base64DecodeTable[Int(src[$0])] & invalidFlag != 0 && src[$0] != padCharacter }) {
                throw .invalidCharacter(src[bad], offset: bad)
            }
            throw .invalidLength(count)
        }

        // Every quartet but the last holds no padding: decode them with no branch per character. Four tables,
        // one per position, hold each character's bits already shifted into the little-endian word of the three
        // output bytes, so a quartet is four loads, three ORs and one 32-bit store (its fourth byte is overwritten
        // by the next quartet). A character outside the alphabet sets bit 24, which no valid entry uses: one test
        // after the loop says whether any was bad.
        let bodyQuartets = count / 4 - 1
        let t = base64QuartetTables
        let raw = UnsafeMutableRawPointer(dst)
        var flags: UInt32 = 0
        for q in 0..<bodyQuartets {
            let i = 4 &* q
            let word = t[Int(src[i])] | t[256 &+ Int(src[i &+ 1])] | t[512 &+ Int(src[i &+ 2])] | t[768 &+ Int(src[i &+ 3])]
            flags |= word
            raw.storeBytes(of: word.littleEndian, toByteOffset: 3 &* q, as: UInt32.self)
        }
        let invalid = flags & invalidWordFlag
        if invalid != 0 { throw firstError(in: characters, upTo: 4 * bodyQuartets) }
        return 3 * bodyQuartets + (try decodeLastQuartet(characters, at: 4 * bodyQuartets, into: dst + 3 * bodyQuartets))
    }

    /// Decodes the final quartet, the only one where padding may appear.
    private static func decodeLastQuartet(
        _ characters: UnsafeBufferPointer<UInt8>, at start: Int, into dst: UnsafeMutablePointer<UInt8>
    ) throws(Base64Error) -> Int {
        var values: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
        var padding = 0
        for k in 0..<4 {
            let ch = characters[start + k]
            if ch == padCharacter {
                // '=' may fill positions 2 and 3 only.
                if k < 2 { throw .invalidPadding(offset: start + k) }
                padding += 1
                continue
            }
            let value = base64DecodeTable[Int(ch)]
            if value & invalidFlag != 0 { throw .invalidCharacter(ch, offset: start + k) }
            // Data after '=': the padding started too early.
            if padding > 0 { throw .invalidPadding(offset: start + k - padding) }
            switch k {
            case 0: values.0 = UInt32(value)
            case 1: values.1 = UInt32(value)
            case 2: values.2 = UInt32(value)
            default: values.3 = UInt32(value)
            }
        }
        let v = values.0 << 18 | values.1 << 12 | values.2 << 6 | values.3
        // The bits that padding hides must be zero, or two strings would decode to the same bytes.
        switch padding {
        case 2 where values.1 & 0x0F != 0: throw .invalidPadding(offset: start + 1)
        case 1 where values.2 & 0x03 != 0: throw .invalidPadding(offset: start + 2)
        default: break
        }
        dst[0] = UInt8(truncatingIfNeeded: v >> 16)
        if padding < 2 { dst[1] = UInt8(truncatingIfNeeded: v >> 8) }
        if padding < 1 { dst[2] = UInt8(truncatingIfNeeded: v) }
        return 3 - padding
    }

    /// Finds the first character outside the alphabet (a '=' in the body counts as bad padding).
    private static func firstError(in characters: UnsafeBufferPointer<UInt8>, upTo end: Int) -> Base64Error {
        for i in 0..<end where base64DecodeTable[Int(characters[i])] & invalidFlag != 0 {
            let ch = characters[i]
            return ch == padCharacter ? .invalidPadding(offset: i) : .invalidCharacter(ch, offset: i)
        }
        preconditionFailure("Base64.decode: flagged an error but found none")
    }
}

// MARK: - Conveniences (they allocate)

extension Base64 {
    /// Encodes bytes as a padded base64 string.
    public static func encode(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { src in
            String(unsafeUninitializedCapacity: encodedCount(forByteCount: src.count)) { dst in encode(src, into: dst) }
        }
    }

    /// Decodes a padded base64 string, strictly.
    ///
    /// - Throws: ``Base64Error`` naming the offset (in UTF-8 bytes) of the first bad character.
    public static func decode(_ string: String) throws(Base64Error) -> [UInt8] {
        try decode(Array(string.utf8))
    }

    /// Decodes padded base64 ASCII bytes, strictly.
    ///
    /// - Throws: ``Base64Error`` naming the offset of the first bad character.
    public static func decode(_ characters: [UInt8]) throws(Base64Error) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: decodedCapacity(forCharacterCount: characters.count))
        let n = try characters.withUnsafeBufferPointer { (src) throws(Base64Error) -> Int in
            try bytes.withUnsafeMutableBufferPointer { (dst) throws(Base64Error) -> Int in try decode(src, into: dst) }
        }
        bytes.removeLast(bytes.count - n)
        return bytes
    }
}

/// Malformed base64 text. Offsets count characters (bytes) from the start of the text.
public enum Base64Error: Error, Equatable, Sendable, CustomStringConvertible {
    /// The length is not a multiple of 4 (padding is required).
    case invalidLength(Int)
    /// A character outside `A-Z a-z 0-9 + /` (whitespace and the URL-safe `-` `_` included).
    case invalidCharacter(UInt8, offset: Int)
    /// `=` where it may not be, a character after `=`, or non-zero bits hidden by the padding.
    case invalidPadding(offset: Int)

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String {
        switch self {
        case .invalidLength(let n):
            return "invalid base64: length \(n) is not a multiple of 4"
        case .invalidCharacter(let ch, let offset):
            let shown = (0x21...0x7E).contains(ch) ? "'\(Character(Unicode.Scalar(ch)))'" : "byte 0x\(String(ch, radix: 16))"
            return "invalid base64: \(shown) at offset \(offset)"
        case .invalidPadding(let offset):
            return "invalid base64: bad padding at offset \(offset)"
        }
    }
}

private let padCharacter = UInt8(ascii: "=")
private let invalidFlag: UInt8 = 0x80

private let base64Alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

/// Two characters (first in the low byte) for each 12-bit value.
nonisolated(unsafe) private let base64PairTable = immortalTable((0..<4096).map {
    UInt16(base64Alphabet[$0 >> 6]) | UInt16(base64Alphabet[$0 & 63]) << 8
})

private let invalidWordFlag: UInt32 = 1 << 24

/// For each position k in a quartet, 256 entries: the character's 6 bits placed where they land in the
/// little-endian word of the quartet's 3 output bytes, or `invalidWordFlag`.
nonisolated(unsafe) private let base64QuartetTables: UnsafePointer<UInt32> = {
    var tables = [UInt32](repeating: invalidWordFlag, count: 4 * 256)
    for (value, ch) in base64Alphabet.enumerated() {
        let v = UInt32(value)
        tables[Int(ch)] = v << 2                                       // byte 0, high 6 bits
        tables[256 + Int(ch)] = v >> 4 | (v & 0x0F) << 12              // byte 0 low 2 bits, byte 1 high 4
        tables[512 + Int(ch)] = (v >> 2) << 8 | (v & 0x03) << 22       // byte 1 low 4 bits, byte 2 high 2
        tables[768 + Int(ch)] = v << 16                                // byte 2, low 6 bits
    }
    return immortalTable(tables)
}()

/// Value of each ASCII byte in the alphabet, or `invalidFlag` (which also marks '=').
private let base64DecodeTable: [UInt8] = {
    var table = [UInt8](repeating: invalidFlag, count: 256)
    for (value, ch) in base64Alphabet.enumerated() { table[Int(ch)] = UInt8(value) }
    return table
}()
