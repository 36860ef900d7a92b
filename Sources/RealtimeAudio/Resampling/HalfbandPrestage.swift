/// A ÷2 half-band decimator with a wide transition, run ahead of the main stage when downsampling by much more than
/// two (48 kHz, 44.1 kHz, 32 kHz or 22.05 kHz to 8 kHz or 11.025 kHz).
///
/// Why: the main stage's sharp transition sits next to the output's fold, and its filter is long in proportion to
/// the input rate: 44.1 kHz -> 8 kHz `voice` reads about 380 input samples per output. Halving the rate first only
/// has to keep what would fold onto the output's band, `[0, stopbandEdge × fold]`, so its transition spans most of
/// the band and a few taps do (10 to 24 non-zero), and the main stage then runs at half the rate with half the taps.
///
/// Output `n` is the input at time `2n` (the filter is centred, so the delay is compensated like the other stages):
/// `y[n] = x[2n] / 2 + Σ_j w_j (x[2n + 2j + 1] + x[2n - 2j - 1])`. The input is kept de-interleaved, even samples
/// in `E` and odd ones in `O`, so four consecutive outputs read four consecutive values of each: a pair of taps is
/// two unaligned loads, an add, a multiply and an add for four outputs.
final class HalfbandPrestageBank: @unchecked Sendable {   // immutable after init: safe to share
    /// `w_j`, the weight of the pair of taps at distance `2j + 1`, each in four lanes.
    let weights: [SIMD4<Float>]
    /// Input samples past an output's own position (`2n`) that it reads: `2J - 1`.
    let lookahead: Int
    let design: HalfbandDesign

    /// The prestage that keeps `[0, keep]` (cycles per input sample, below 1/4) flat and rejects by `attenuation` dB
    /// everything that would fold onto it.
    init(keep: Double, attenuation: Double) {
        let design = HalfbandDesign(pass: keep, attenuation: attenuation, granule: 2)
        let J = design.taps.count / 2
        weights = (0..<J).map { SIMD4(repeating: Float(design.taps[J + $0] / 2)) }
        self.design = design
        lookahead = 2 * J - 1
    }

    /// Multiplies per output sample (one per pair of taps, and the centre's).
    var cost: Double { Double(weights.count + 1) }
}

/// The streaming state of a ``HalfbandPrestageBank``: `process` consumes input until it runs out or the output is
/// full (a full output still takes the input that completes no further output), as every stage.
struct HalfbandPrestage {
    let bank: HalfbandPrestageBank
    /// `E[m] = x[2m]`, `O[m] = x[2m + 1]` for `m` from `base` on, NaN and ±infinity as 0; read a few values past the
    /// last arrived one by the lanes of a last partial group.
    private var even: [Float]
    private var odd: [Float]
    /// Index `m` of `even[0]` and `odd[0]` (negative at the start: the zeros before the stream).
    private var base: Int
    private(set) var consumed = 0
    private(set) var produced = 0
    /// Values of each half the buffers hold.
    private let capacity: Int
    private static let block = 512

    init(bank: HalfbandPrestageBank) {
        self.bank = bank
        let J = bank.weights.count
        capacity = 2 * J + Self.block + 8
        even = [Float](repeating: 0, count: capacity + 32)
        odd = [Float](repeating: 0, count: capacity + 32)
        base = -J
    }

    func outputCapacity(forInput count: Int) -> Int {
        // Output n is ready once input 2n + 2J - 1 has arrived.
        let lastInput = consumed + count - 1 - bank.lookahead
        return lastInput < 0 ? 0 : max(0, lastInput / 2 + 1 - produced)
    }

    mutating func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> (consumed: Int, produced: Int) {
        let J = bank.weights.count, lookahead = bank.lookahead, capacity = self.capacity
        var base = self.base, consumed = self.consumed, produced = self.produced
        var used = 0, written = 0
        bank.weights.withUnsafeBufferPointer { w in
            even.withUnsafeMutableBufferPointer { e in
                odd.withUnsafeMutableBufferPointer { o in
                    while true {
                        let lastInput = consumed - 1 - lookahead
                        let ready = lastInput < 0 ? 0 : lastInput / 2 + 1
                        let end = min(ready, produced + output.count - written)
                        if end > produced {
                            compute(w, e.baseAddress! + (produced - base), o.baseAddress! + (produced - base),
                                    count: end - produced, into: output.baseAddress! + written)
                            written += end - produced
                            produced = end
                        }
                        var limit = input.count - used
                        // A full output still takes the input that completes no further output.
                        if written == output.count { limit = min(limit, 2 * produced + lookahead - consumed) }
                        if limit <= 0 { break }
                        // Keep O from produced - J on (and E alongside), then append.
                        let keep = produced - J
                        if keep > base {
                            let held = (consumed + 1) / 2 - base   // values in the buffers
                            let drop = keep - base
                            if held > drop {
                                e.baseAddress!.update(from: e.baseAddress! + drop, count: held - drop)
                                o.baseAddress!.update(from: o.baseAddress! + drop, count: held - drop)
                            }
                            base = keep
                        }
                        let n = min(limit, 2 * (base + capacity) - consumed)
                        if n <= 0 { break }
                        deal(input.baseAddress! + used, n, from: consumed, base: base,
                             even: e.baseAddress!, odd: o.baseAddress!)
                        used += n
                        consumed += n
                    }
                }
            }
        }
        self.base = base
        self.consumed = consumed
        self.produced = produced
        return (used, written)
    }

    mutating func reset() {
        even.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        odd.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        base = -bank.weights.count
        consumed = 0
        produced = 0
    }
}

/// Writes `count` outputs, sixteen at a time (four vectors share each weight's load and the loop's set-up), the
/// first reading `e[0]` and `o[-J] ... o[J - 1]`; a last partial group computes sixteen and stores what was asked.
@inline(__always)
private func compute(_ w: UnsafeBufferPointer<SIMD4<Float>>, _ e: UnsafePointer<Float>, _ o: UnsafePointer<Float>,
                     count: Int, into out: UnsafeMutablePointer<Float>) {
    let half = SIMD4<Float>(repeating: 0.5), weights = w.baseAddress!, J = w.count
    var k = 0
    while k < count {
        let pe = UnsafeRawPointer(e + k), po = UnsafeRawPointer(o + k)
        var a0 = pe.loadUnaligned(as: SIMD4<Float>.self) * half
        var a1 = pe.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float>.self) * half
        var a2 = pe.loadUnaligned(fromByteOffset: 32, as: SIMD4<Float>.self) * half
        var a3 = pe.loadUnaligned(fromByteOffset: 48, as: SIMD4<Float>.self) * half
        var ahead = po, behind = po - 4
        var j = 0
        while j < J {
            let c = weights[j]
            a0 += (ahead.loadUnaligned(as: SIMD4<Float>.self) + behind.loadUnaligned(as: SIMD4<Float>.self)) * c
            a1 += (ahead.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float>.self)
                   + behind.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float>.self)) * c
            a2 += (ahead.loadUnaligned(fromByteOffset: 32, as: SIMD4<Float>.self)
                   + behind.loadUnaligned(fromByteOffset: 32, as: SIMD4<Float>.self)) * c
            a3 += (ahead.loadUnaligned(fromByteOffset: 48, as: SIMD4<Float>.self)
                   + behind.loadUnaligned(fromByteOffset: 48, as: SIMD4<Float>.self)) * c
            ahead += 4
            behind -= 4
            j &+= 1
        }
        let block = OutputBlock(v0: a0, v1: a1, v2: a2, v3: a3)
        if count &- k >= 16 {
            block.store(to: out + k)
        } else {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { tail in
                block.store(to: tail.baseAddress!)
                (out + k).update(from: tail.baseAddress!, count: count &- k)
            }
        }
        k &+= 16
    }
}

/// Deals `count` input samples, the first being input index `first`, to `E` and `O` (indices from `base`), NaN and
/// ±infinity as 0.
@inline(__always)
private func deal(_ source: UnsafePointer<Float>, _ count: Int, from first: Int, base: Int,
                  even: UnsafeMutablePointer<Float>, odd: UnsafeMutablePointer<Float>) {
    var i = 0, index = first
    // Up to an even index, one at a time.
    if index & 1 == 1, count > 0 {
        let v = source[0]
        odd[index >> 1 &- base] = v - v == 0 ? v : 0
        i = 1
        index &+= 1
    }
    // Eight samples at a time: four of each half.
    let q = UnsafeRawPointer(source)
    while i &+ 8 <= count {
        let u = q.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD4<Float>.self)
        let v = q.loadUnaligned(fromByteOffset: 4 &* i &+ 16, as: SIMD4<Float>.self)
        var a = SIMD4(u[0], u[2], v[0], v[2]), b = SIMD4(u[1], u[3], v[1], v[3])
        a.replace(with: 0, where: (a - a) .!= 0)
        b.replace(with: 0, where: (b - b) .!= 0)
        let m = index >> 1 &- base
        UnsafeMutableRawPointer(even + m).storeBytes(of: a, as: SIMD4<Float>.self)
        UnsafeMutableRawPointer(odd + m).storeBytes(of: b, as: SIMD4<Float>.self)
        i &+= 8
        index &+= 8
    }
    while i < count {
        let v = source[i], clean = v - v == 0 ? v : 0
        if index & 1 == 0 { even[index >> 1 &- base] = clean } else { odd[index >> 1 &- base] = clean }
        i &+= 1
        index &+= 1
    }
}
