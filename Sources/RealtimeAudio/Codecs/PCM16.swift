/// 16-bit signed little-endian PCM (the Realtime API's `pcm16`), and the `Int16` <-> `Float` sample conversions.
///
/// Conventions, on any host byte order:
/// - bytes are little-endian, two per sample;
/// - `Int16` -> `Float` divides by 32768, so -32768 maps to exactly -1 and 32767 to 0.99997;
/// - `Float` -> `Int16` multiplies by 32768, rounds to nearest (ties to even), clips to -32768 ... 32767,
///   and maps NaN to 0. The round trip `Int16` -> `Float` -> `Int16` is the identity.
///
/// Every function here is stateless and thread-safe. A decode of an odd byte count is an error here; a stream whose
/// chunks may split a sample goes through ``PCM16StreamDecoder``, which carries the odd byte.
public enum PCM16 {
    /// Bytes per sample.
    public static let bytesPerSample = 2

    /// The scale between `Int16` and `Float` samples.
    @usableFromInline static let scale: Float = 32768
    @usableFromInline static let inverseScale: Float = 1 / 32768

    // MARK: Int16 <-> Float

    /// Converts one `Float` sample to `Int16`: scale by 32768, round to nearest (ties to even), clip, NaN -> 0.
    @inlinable @inline(__always)
    public static func quantize(_ sample: Float) -> Int16 {
        // NaN fails both comparisons below only if it is replaced first; `x == x` is false for NaN alone.
        var y = sample == sample ? sample * scale : 0
        y = y < -32768 ? -32768 : y
        y = y > 32767 ? 32767 : y
        // Adding 1.5 * 2^23 pushes the fraction out of the mantissa with the FPU's round-to-nearest-even,
        // leaving the integer in the low mantissa bits: no float -> int conversion, so the loop vectorizes.
        let shifted = y + 12_582_912
        return Int16(truncatingIfNeeded: shifted.bitPattern)
    }

    /// Converts `Int16` samples to `Float` (divided by 32768).
    ///
    /// - Precondition: `output.count >= input.count` (traps otherwise).
    /// - Complexity: O(n); vectorized.
    public static func convert(_ input: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<Float>) {
        precondition(output.count >= input.count, "PCM16.convert: output buffer too small")
        guard let src = input.baseAddress, let dst = output.baseAddress else { return }
        let k = inverseScale
        for i in 0..<input.count { dst[i] = Float(src[i]) * k }
    }

    /// Converts `Float` samples to `Int16`, rounding to nearest and clipping (see ``quantize(_:)``).
    ///
    /// - Precondition: `output.count >= input.count` (traps otherwise).
    /// - Complexity: O(n); vectorized.
    public static func convert(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Int16>) {
        precondition(output.count >= input.count, "PCM16.convert: output buffer too small")
        guard let src = input.baseAddress, let dst = output.baseAddress else { return }
        quantizeLoop(src, UnsafeMutableRawPointer(dst), input.count)
    }

    /// Quantizes `count` floats to Int16 stored at `dst` in the host's order, in a loop the compiler vectorizes.
    @inline(__always)
    static func quantizeLoop(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ count: Int) {
        let out = dst.assumingMemoryBound(to: Int16.self)
        for i in 0..<count { out[i] = Int16(truncatingIfNeeded: quantize32(src[i])) }
    }

    // MARK: bytes -> samples

    /// Decodes little-endian pcm16 bytes to `Int16` samples.
    ///
    /// - Returns: the number of samples written, `bytes.count / 2`.
    /// - Throws: ``PCM16Error/oddByteCount(_:)`` when `bytes.count` is odd; nothing is written then.
    /// - Precondition: `output.count >= bytes.count / 2` (traps otherwise).
    public static func decode(
        _ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Int16>
    ) throws(PCM16Error) -> Int {
        guard bytes.count % 2 == 0 else { throw .oddByteCount(bytes.count) }
        return decodeWhole(bytes, into: output)
    }

    /// Decodes little-endian pcm16 bytes to `Float` samples (divided by 32768).
    ///
    /// - Returns: the number of samples written, `bytes.count / 2`.
    /// - Throws: ``PCM16Error/oddByteCount(_:)`` when `bytes.count` is odd; nothing is written then.
    /// - Precondition: `output.count >= bytes.count / 2` (traps otherwise).
    public static func decode(
        _ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Float>
    ) throws(PCM16Error) -> Int {
        guard bytes.count % 2 == 0 else { throw .oddByteCount(bytes.count) }
        return decodeWhole(bytes, into: output)
    }

    /// Decodes the whole samples in `bytes`, ignoring a trailing odd byte.
    @usableFromInline
    static func decodeWhole(_ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Int16>) -> Int {
        let count = bytes.count / 2
        precondition(output.count >= count, "PCM16.decode: output buffer too small")
        guard count > 0, let src = bytes.baseAddress, let dst = output.baseAddress else { return 0 }
        #if _endian(little)
        UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 2)
        #else
        for i in 0..<count { dst[i] = Int16(bitPattern: UInt16(src[2 * i]) | UInt16(src[2 * i + 1]) << 8) }
        #endif
        return count
    }

    @usableFromInline
    static func decodeWhole(_ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Float>) -> Int {
        let count = bytes.count / 2
        precondition(output.count >= count, "PCM16.decode: output buffer too small")
        guard count > 0, let src = bytes.baseAddress, let dst = output.baseAddress else { return 0 }
        let raw = UnsafeRawPointer(src)
        let k = inverseScale
        for i in 0..<count {
            let value = Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))
            dst[i] = Float(value) * k
        }
        return count
    }

    // MARK: samples -> bytes

    /// Encodes `Int16` samples as little-endian pcm16 bytes.
    ///
    /// - Returns: the number of bytes written, `2 * samples.count`.
    /// - Precondition: `output.count >= 2 * samples.count` (traps otherwise).
    @discardableResult
    public static func encode(_ samples: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let byteCount = samples.count * 2
        precondition(output.count >= byteCount, "PCM16.encode: output buffer too small")
        guard byteCount > 0, let src = samples.baseAddress, let dst = output.baseAddress else { return 0 }
        #if _endian(little)
        UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: byteCount)
        #else
        for i in 0..<samples.count {
            let bits = UInt16(bitPattern: src[i])
            dst[2 * i] = UInt8(truncatingIfNeeded: bits)
            dst[2 * i + 1] = UInt8(truncatingIfNeeded: bits >> 8)
        }
        #endif
        return byteCount
    }

    /// Encodes `Float` samples as little-endian pcm16 bytes, rounding and clipping as ``quantize(_:)`` does.
    ///
    /// - Returns: the number of bytes written, `2 * samples.count`.
    /// - Precondition: `output.count >= 2 * samples.count` (traps otherwise).
    @discardableResult
    public static func encode(_ samples: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        let byteCount = samples.count * 2
        precondition(output.count >= byteCount, "PCM16.encode: output buffer too small")
        guard byteCount > 0, let src = samples.baseAddress, let dst = output.baseAddress else { return 0 }
        #if _endian(little)
        quantizeLoop(src, UnsafeMutableRawPointer(dst), samples.count)
        #else
        let raw = UnsafeMutableRawPointer(dst)
        for i in 0..<samples.count {
            raw.storeBytes(of: quantize(src[i]).littleEndian, toByteOffset: 2 * i, as: Int16.self)
        }
        #endif
        return byteCount
    }
}

// MARK: - Array conveniences (for tests and scripts; they allocate)

extension PCM16 {
    /// Decodes little-endian pcm16 bytes to `Int16` samples.
    ///
    /// - Throws: ``PCM16Error/oddByteCount(_:)`` when the byte count is odd.
    public static func decodeInt16(_ bytes: [UInt8]) throws(PCM16Error) -> [Int16] {
        guard bytes.count % 2 == 0 else { throw .oddByteCount(bytes.count) }
        return bytes.withUnsafeBufferPointer { src in
            [Int16](unsafeUninitializedCapacity: src.count / 2) { dst, n in n = decodeWhole(src, into: dst) }
        }
    }

    /// Decodes little-endian pcm16 bytes to `Float` samples.
    ///
    /// - Throws: ``PCM16Error/oddByteCount(_:)`` when the byte count is odd.
    public static func decodeFloat(_ bytes: [UInt8]) throws(PCM16Error) -> [Float] {
        guard bytes.count % 2 == 0 else { throw .oddByteCount(bytes.count) }
        return bytes.withUnsafeBufferPointer { src in
            [Float](unsafeUninitializedCapacity: src.count / 2) { dst, n in n = decodeWhole(src, into: dst) }
        }
    }

    /// Encodes `Int16` samples as little-endian pcm16 bytes.
    public static func encode(_ samples: [Int16]) -> [UInt8] {
        samples.withUnsafeBufferPointer { src in
            [UInt8](unsafeUninitializedCapacity: src.count * 2) { dst, n in n = encode(src, into: dst) }
        }
    }

    /// Encodes `Float` samples as little-endian pcm16 bytes.
    public static func encode(_ samples: [Float]) -> [UInt8] {
        samples.withUnsafeBufferPointer { src in
            [UInt8](unsafeUninitializedCapacity: src.count * 2) { dst, n in n = encode(src, into: dst) }
        }
    }

    /// Converts `Int16` samples to `Float`.
    public static func toFloat(_ samples: [Int16]) -> [Float] {
        samples.withUnsafeBufferPointer { src in
            [Float](unsafeUninitializedCapacity: src.count) { dst, n in convert(src, into: dst); n = src.count }
        }
    }

    /// Converts `Float` samples to `Int16`, rounding to nearest and clipping.
    public static func toInt16(_ samples: [Float]) -> [Int16] {
        samples.withUnsafeBufferPointer { src in
            [Int16](unsafeUninitializedCapacity: src.count) { dst, n in convert(src, into: dst); n = src.count }
        }
    }
}

/// Malformed pcm16 bytes.
public enum PCM16Error: Error, Equatable, Sendable, CustomStringConvertible {
    /// A whole-buffer decode got an odd number of bytes: pcm16 samples are 2 bytes each.
    case oddByteCount(Int)
    /// A stream ended with half a sample left over (``PCM16StreamDecoder/finish()``).
    case danglingByte
    /// A streaming decode's output buffer holds fewer samples than the chunk completes; nothing was taken.
    case outputTooSmall(needed: Int, available: Int)

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String {
        switch self {
        case .oddByteCount(let n): "pcm16 data has an odd byte count (\(n)): samples are 2 bytes each"
        case .danglingByte: "pcm16 stream ended in the middle of a sample (one byte left over)"
        case .outputTooSmall(let needed, let available): "pcm16 output buffer holds \(available) samples, the chunk needs \(needed)"
        }
    }
}

/// Decodes a pcm16 byte stream whose chunks may split a sample.
///
/// A chunk with an odd byte count leaves its last byte pending; the next chunk completes that sample first.
/// Feeding the bytes in any chunking produces the same samples as one whole decode.
///
/// An ``AudioStream`` from bytes to `Float` samples (``process(_:into:)``; ``decode(_:into:)-(_,UnsafeMutableBufferPointer<Int16>)``
/// writes `Int16`): the conventions there hold. One instance per stream; it is a value type with no shared
/// state. No allocation.
public struct PCM16StreamDecoder: AudioStream {
    private var pending: UInt8 = 0
    private var hasPending = false

    /// Creates a decoder with nothing pending.
    public init() {}

    /// Bytes held over from the last chunk: 0 or 1.
    public var pendingByteCount: Int { hasPending ? 1 : 0 }

    /// The most samples `decode` writes for a chunk of `byteCount` bytes, whatever is pending:
    /// `(byteCount + 1) / 2`. Size the output once with it for the largest chunk. ``finish(into:)`` writes nothing.
    public func maximumOutputCount(forInput byteCount: Int) -> Int { byteCount <= 0 ? 0 : (byteCount - 1) / 2 + 1 }

    /// 0: a sample is written as soon as its second byte arrives.
    public var latencySeconds: Double { 0 }

    /// The samples `decode` writes for a chunk of `byteCount` bytes now (with the byte pending, if any).
    public func decodedCount(forInput byteCount: Int) -> Int { (max(0, byteCount) + pendingByteCount) / 2 }

    /// Decodes a chunk to `Int16` samples.
    ///
    /// - Returns: the samples written, ``decodedCount(forInput:)``.
    /// - Throws: ``PCM16Error/outputTooSmall(needed:available:)`` when `output` cannot hold them; nothing is
    ///   taken then (a buffer of ``maximumOutputCount(forInput:)`` samples always can).
    public mutating func decode(_ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Int16>) throws(PCM16Error) -> Int {
        let needed = decodedCount(forInput: bytes.count)
        guard output.count >= needed else { throw .outputTooSmall(needed: needed, available: output.count) }
        var rest = bytes
        var written = 0
        if hasPending, let first = bytes.first {
            output[0] = Int16(bitPattern: UInt16(pending) | UInt16(first) << 8)
            hasPending = false
            written = 1
            rest = UnsafeBufferPointer(rebasing: bytes[1...])
        }
        written += PCM16.decodeWhole(rest, into: UnsafeMutableBufferPointer(rebasing: output[written...]))
        keepOddByte(of: rest)
        return written
    }

    /// Decodes a chunk to `Float` samples (divided by 32768).
    ///
    /// - Returns: the samples written, ``decodedCount(forInput:)``.
    /// - Throws: ``PCM16Error/outputTooSmall(needed:available:)`` when `output` cannot hold them; nothing is
    ///   taken then (a buffer of ``maximumOutputCount(forInput:)`` samples always can).
    public mutating func decode(_ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Float>) throws(PCM16Error) -> Int {
        let needed = decodedCount(forInput: bytes.count)
        guard output.count >= needed else { throw .outputTooSmall(needed: needed, available: output.count) }
        return decodeUnchecked(bytes, into: output)
    }

    /// ``decode(_:into:)-(_,UnsafeMutableBufferPointer<Float>)`` for callers whose `output` holds
    /// ``maximumOutputCount(forInput:)`` samples by construction (the pipelines' buffers, sized at init).
    mutating func decodeUnchecked(_ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Float>) -> Int {
        var rest = bytes
        var written = 0
        if hasPending, let first = bytes.first {
            output[0] = Float(Int16(bitPattern: UInt16(pending) | UInt16(first) << 8)) * PCM16.inverseScale
            hasPending = false
            written = 1
            rest = UnsafeBufferPointer(rebasing: bytes[1...])
        }
        written += PCM16.decodeWhole(rest, into: UnsafeMutableBufferPointer(rebasing: output[written...]))
        keepOddByte(of: rest)
        return written
    }

    private mutating func keepOddByte(of rest: UnsafeBufferPointer<UInt8>) {
        if rest.count % 2 == 1 {
            pending = rest[rest.count - 1]
            hasPending = true
        }
    }

    /// ``decode(_:into:)-(_,UnsafeMutableBufferPointer<Float>)`` in the stream shape: all of `bytes` is consumed.
    ///
    /// - Throws: ``PCM16Error/outputTooSmall(needed:available:)``; nothing is taken then.
    public mutating func process(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<Float>) throws(PCM16Error) -> (consumed: Int, produced: Int) {
        (input.count, try decode(input, into: output))
    }

    /// Ends the stream.
    ///
    /// - Throws: ``PCM16Error/danglingByte`` when half a sample is left; the byte is dropped either way, so the
    ///   decoder is ready for a new stream.
    public mutating func finish() throws(PCM16Error) {
        defer { reset() }
        if hasPending { throw .danglingByte }
    }

    /// ``finish()`` in the stream shape: writes nothing (a sample is decoded as soon as it is whole).
    public mutating func finish(into output: UnsafeMutableBufferPointer<Float>) throws(PCM16Error) -> Int {
        try finish()
        return 0
    }

    /// Drops a pending byte (barge-in, or a new stream).
    public mutating func reset() {
        hasPending = false
        pending = 0
    }
}
