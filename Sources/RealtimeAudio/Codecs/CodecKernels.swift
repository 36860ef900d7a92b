// The per-sample form of the Float -> Int16 quantizer, written so LLVM's loop vectorizer turns the loops that
// call it into SIMD code: no branches, no float -> int conversion (which traps on NaN and out-of-range values in
// Swift, and so cannot vectorize).
//
// Measured and rejected (BENCHMARKS.md): computing G.711 arithmetically on SIMD lanes (the segment is the Float
// exponent of the magnitude, 2^e a Float built from exponent bits) vectorizes to 4 lanes at the SSE2 baseline but
// needs about 6 instructions per sample, 2 to 3 times slower than the lookup tables G711 uses.

/// 1.5 * 2^23: adding it to |y| < 2^22 rounds y to an integer (ties to even) in the low mantissa bits.
@usableFromInline let roundingMagic: Float = 12_582_912
@usableFromInline let roundingMagicBits: Int32 = 0x4B40_0000

/// `PCM16.quantize`, widened to Int32.
@inline(__always)
func quantize32(_ sample: Float) -> Int32 {
    let finite = sample == sample ? sample : 0                   // NaN -> 0
    var y = finite * 32768
    y = y > -32768 ? y : -32768                                  // the forms of maxps and minps
    y = y < 32767 ? y : 32767
    return Int32(bitPattern: (y + roundingMagic).bitPattern) &- roundingMagicBits
}
