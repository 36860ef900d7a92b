/// ITU-T G.711 companding (µ-law and A-law), bit-exact with the ITU-T G.191 reference
/// (`ulaw_compress`, `alaw_compress`, `ulaw_expand`, `alaw_expand`) for all 65536 inputs and all 256 codes.
///
/// The G.191 conventions, which other tools do not all follow:
/// - the encoder **truncates** the 16-bit input to 14 bits (µ-law) or 12 bits plus sign (A-law), it does not round;
/// - negative inputs fold by one's complement (`~x`), so `x` and `-1 - x` get codes of the same magnitude;
/// - µ-law codes are fully bit-inverted (0xFF is +0, 0x7F is -0); A-law codes have their even bits inverted
///   (XOR 0x55);
/// - decoding gives the middle of the quantization interval: µ-law peaks at ±32124, A-law at ±32256.
///
/// Where popular tools differ (one step next to a decision level): Python's `audioop` on 508 negative µ-law
/// inputs; spandsp and libsndfile on 127 µ-law inputs (libsndfile also on 127 A-law inputs); sox rounds instead of
/// truncating and dithers by default; ffmpeg on 964 inputs per law. All of them decode the 256 codes as G.191 does.
///
/// `Float` samples are first quantized to `Int16` exactly as ``PCM16/quantize(_:)`` does (scale 32768, round to
/// nearest, clip, NaN -> 0); decoded `Float`s are the `Int16` values divided by 32768.
///
/// Encoding looks up a table indexed by the bits G.191 keeps (16 KiB for µ-law, 4 KiB for A-law: both stay in
/// L1); decoding looks up 256-entry tables. The tables are immutable globals built once, so every function here
/// is thread-safe and allocation-free.
public struct G711: Sendable, Hashable {
    /// The two companding laws.
    public enum Law: Sendable, Hashable {
        /// µ-law (North America, Japan): the Realtime API's `g711_ulaw`.
        case muLaw
        /// A-law (Europe, most of the world): the Realtime API's `g711_alaw`.
        case aLaw
    }

    /// The law this codec implements.
    public let law: Law

    /// The µ-law codec.
    public static let muLaw = G711(law: .muLaw)
    /// The A-law codec.
    public static let aLaw = G711(law: .aLaw)

    /// The wire format this law is.
    public var format: AudioFormat { law == .muLaw ? .g711_ulaw : .g711_alaw }

    private init(law: Law) { self.law = law }

    private var tables: G711Tables { law == .muLaw ? muLawTables : aLawTables }

    // MARK: One sample

    /// Encodes one sample.
    @inlinable
    public func encode(_ sample: Int16) -> UInt8 {
        law == .muLaw ? G711Reference.muLawCompress(sample) : G711Reference.aLawCompress(sample)
    }

    /// Decodes one code.
    @inlinable
    public func decode(_ code: UInt8) -> Int16 {
        law == .muLaw ? G711Reference.muLawExpand(code) : G711Reference.aLawExpand(code)
    }

    // MARK: Buffers

    /// Encodes `Int16` samples, one code byte per sample.
    ///
    /// - Precondition: `output.count >= samples.count` (traps otherwise).
    /// - Complexity: O(n), one table lookup per sample.
    public func encode(_ samples: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<UInt8>) {
        precondition(output.count >= samples.count, "G711.encode: output buffer too small")
        guard let src = samples.baseAddress, let dst = output.baseAddress else { return }
        let t = tables
        let table = t.encode, shift = t.shift
        for i in 0..<samples.count {
            dst[i] = table[Int(UInt16(bitPattern: src[i]) &>> shift)]
        }
    }

    /// Encodes `Float` samples (quantized to `Int16` first, as ``PCM16/quantize(_:)``), one code byte per sample.
    ///
    /// - Precondition: `output.count >= samples.count` (traps otherwise).
    public func encode(_ samples: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<UInt8>) {
        precondition(output.count >= samples.count, "G711.encode: output buffer too small")
        guard let src = samples.baseAddress, let dst = output.baseAddress else { return }
        // Two passes over blocks on the stack: the quantizer vectorizes on its own, but fused with the table
        // lookup (a gather) the whole loop would stay scalar, at four times the instructions.
        let t = tables
        let table = t.encode, shift = t.shift
        withUnsafeTemporaryAllocation(of: Int16.self, capacity: 256) { block in
            let q = block.baseAddress!
            var start = 0
            while start < samples.count {
                let n = min(256, samples.count - start)
                PCM16.quantizeLoop(src + start, UnsafeMutableRawPointer(q), n)
                for i in 0..<n { dst[start + i] = table[Int(UInt16(bitPattern: q[i]) &>> shift)] }
                start += n
            }
        }
    }

    /// Decodes codes to `Int16` samples.
    ///
    /// - Precondition: `output.count >= codes.count` (traps otherwise).
    /// - Complexity: O(n), one lookup in a 512-byte table per sample.
    public func decode(_ codes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Int16>) {
        precondition(output.count >= codes.count, "G711.decode: output buffer too small")
        guard let src = codes.baseAddress, let dst = output.baseAddress else { return }
        let table = tables.int16
        for i in 0..<codes.count { dst[i] = table[Int(src[i])] }
    }

    /// Decodes codes to `Float` samples (the `Int16` values divided by 32768).
    ///
    /// - Precondition: `output.count >= codes.count` (traps otherwise).
    /// - Complexity: O(n), one lookup in a 1 KiB table per sample.
    public func decode(_ codes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Float>) {
        precondition(output.count >= codes.count, "G711.decode: output buffer too small")
        guard let src = codes.baseAddress, let dst = output.baseAddress else { return }
        let table = tables.float
        for i in 0..<codes.count { dst[i] = table[Int(src[i])] }
    }

    // MARK: Array conveniences (they allocate)

    /// Encodes `Int16` samples.
    public func encode(_ samples: [Int16]) -> [UInt8] {
        samples.withUnsafeBufferPointer { src in
            [UInt8](unsafeUninitializedCapacity: src.count) { dst, n in encode(src, into: dst); n = src.count }
        }
    }

    /// Encodes `Float` samples.
    public func encode(_ samples: [Float]) -> [UInt8] {
        samples.withUnsafeBufferPointer { src in
            [UInt8](unsafeUninitializedCapacity: src.count) { dst, n in encode(src, into: dst); n = src.count }
        }
    }

    /// Decodes codes to `Int16` samples.
    public func decodeInt16(_ codes: [UInt8]) -> [Int16] {
        codes.withUnsafeBufferPointer { src in
            [Int16](unsafeUninitializedCapacity: src.count) { dst, n in decode(src, into: dst); n = src.count }
        }
    }

    /// Decodes codes to `Float` samples.
    public func decodeFloat(_ codes: [UInt8]) -> [Float] {
        codes.withUnsafeBufferPointer { src in
            [Float](unsafeUninitializedCapacity: src.count) { dst, n in decode(src, into: dst); n = src.count }
        }
    }
}

/// The lookup tables of one law, built once from the reference functions and never freed: plain pointers, so
/// a call costs no reference counting (three arrays cost five retain/release calls per chunk).
struct G711Tables: @unchecked Sendable {
    /// Right shift that keeps the input bits G.191 uses (it truncates the rest).
    let shift: Int
    /// Code for each kept input pattern, indexed by `UInt16(bitPattern: x) >> shift`.
    let encode: UnsafePointer<UInt8>
    let int16: UnsafePointer<Int16>
    let float: UnsafePointer<Float>

    init(shift: Int, compress: (Int16) -> UInt8, expand: (UInt8) -> Int16) {
        self.shift = shift
        let patterns = 65536 >> shift
        let encode = UnsafeMutablePointer<UInt8>.allocate(capacity: patterns)
        for i in 0..<patterns { encode[i] = compress(Int16(bitPattern: UInt16(i << shift))) }
        let int16 = UnsafeMutablePointer<Int16>.allocate(capacity: 256)
        let float = UnsafeMutablePointer<Float>.allocate(capacity: 256)
        for c in 0...255 {
            int16[c] = expand(UInt8(c))
            float[c] = Float(int16[c]) * PCM16.inverseScale
        }
        self.encode = UnsafePointer(encode)
        self.int16 = UnsafePointer(int16)
        self.float = UnsafePointer(float)
    }
}

// µ-law keeps 14 bits (x >> 2); A-law's magnitude is (x or ~x) >> 4, so 12 bits decide its code.
private let muLawTables = G711Tables(shift: 2, compress: G711Reference.muLawCompress, expand: G711Reference.muLawExpand)
private let aLawTables = G711Tables(shift: 4, compress: G711Reference.aLawCompress, expand: G711Reference.aLawExpand)

/// The G.191 algorithms, one sample at a time: the definition the tables are built from.
@usableFromInline
enum G711Reference {
    @inlinable
    static func muLawCompress(_ x: Int16) -> UInt8 {
        // Fold negatives by one's complement, keep 14 bits, add the µ-law bias (33 in 14-bit units).
        let folded = x < 0 ? ~x : x
        let magnitude = min(Int(folded >> 2) + 33, 0x1FFF)
        // Segment: position of the highest set bit above the 6 bits of the first segment.
        let segment = Int.bitWidth - (magnitude >> 6).leadingZeroBitCount + 1
        let mantissa = (magnitude >> segment) & 0x0F
        var code = UInt8(((8 - segment) << 4) | (0x0F - mantissa))
        if x >= 0 { code |= 0x80 }
        return code
    }

    @inlinable
    static func muLawExpand(_ code: UInt8) -> Int16 {
        let inverted = Int(~code)
        let exponent = (inverted >> 4) & 0x07
        let mantissa = inverted & 0x0F
        let step = 4 << (exponent + 1)
        let magnitude = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33
        return Int16(code < 0x80 ? -magnitude : magnitude)
    }

    @inlinable
    static func aLawCompress(_ x: Int16) -> UInt8 {
        var ix = Int((x < 0 ? ~x : x) >> 4)
        if ix > 15 {
            // Segments 1...7 double in size: find the exponent, drop the leading one, keep 4 mantissa bits.
            var exponent = 1
            while ix > 16 + 15 {
                ix >>= 1
                exponent += 1
            }
            ix = ix - 16 + (exponent << 4)
        }
        if x >= 0 { ix |= 0x80 }
        return UInt8(ix) ^ 0x55
    }

    @inlinable
    static func aLawExpand(_ code: UInt8) -> Int16 {
        let ix = Int(code ^ 0x55) & 0x7F
        let exponent = ix >> 4
        var mantissa = ix & 0x0F
        if exponent > 0 { mantissa += 16 }
        mantissa = (mantissa << 4) + 0x08
        if exponent > 1 { mantissa <<= exponent - 1 }
        return Int16(code > 127 ? mantissa : -mantissa)
    }
}
