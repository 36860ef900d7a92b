/// A decimator by an integer `M` (`L = 1`: 24k -> 8k, 48k -> 16k, and the ÷2 half-band for 48k -> 24k) laid out
/// to compute four consecutive outputs per vector with its symmetric filter folded.
///
/// Why: the one-output dot product (``PolyphaseStage``) pays a horizontal reduction and a loop set-up per output
/// on top of its taps. Outputs `k ... k + 3` share every coefficient and read inputs `M` apart, so with the input
/// split into `M` streams (stream `r` holds `x[iM + r]`) their four windows are one four-sample vector per tap, and
/// no reduction is left. The filter is symmetric, so output `k` is `Σ h[d] (x[kM + d] + x[kM - d])`: the two
/// samples a coefficient weighs are added before the multiply, halving the multiplies.
///
/// Each stream is also kept **expanded**, vector `m` holding samples `m ... m + 3`, once in order and once in
/// reverse order. The two samples of a fold then sit at the same index of two arrays of aligned vectors, and one
/// pair of taps for four outputs is an aligned load, an add and a multiply taking their second operands straight
/// from memory, and an add: four instructions at baseline x86-64, one index stepping all three arrays. (The plain
/// layout needs two unaligned loads and three pointers: measured 1.6 instructions per pair and output against 1.2.)
///
/// Each output is the same sequence of lane-wise operations wherever it falls in a group of four, so the result
/// does not depend on the chunking.
final class FoldedDecimatorBank: @unchecked Sendable {   // immutable after init: safe to share
    /// Largest `M` this layout takes (the input is dealt to `M` streams).
    static let maximumStep = 8

    /// The downsampling factor.
    let step: Int
    /// Input samples past an output's own position (`k M`) that it reads.
    let lookahead: Int
    /// Stream offset, relative to a group's first output, of the earliest sample any run reads (<= 0).
    let firstOffset: Int
    /// Samples (or vectors) per stream in the history, and how many of them hold data; the rest is read, never
    /// used, by the lanes of a group past the last ready output.
    let stride: Int
    let capacity: Int
    /// Broadcast coefficients (each repeated in four lanes, so a multiply takes them straight from memory).
    let coefficients: UnsafeMutablePointer<SIMD4<Float>>
    let runs: [Run]
    /// Multiplies per output sample.
    let cost: Double

    /// Pairs of taps `d = r + tM` (`t < count`): lane `j` of the group at stream index `q` adds
    /// `c[t] × (x[(q + j + t) M + r] + x[(q + j - t) M - r])`, read from stream `r` in order and stream `(M - r) mod M`
    /// in reverse.
    struct Run {
        /// Vector offsets of the forward stream and of the reversed stream (at `q = 0`).
        let forward: Int
        let backward: Int
        let coefficient: Int
        let count: Int
    }

    /// Input samples the history takes per refill, in all streams together.
    private static let block = 512

    /// The bank of a symmetric decimation filter, or nil when the row is not symmetric. `row` weighs inputs
    /// `n - taps/2 + 1 ... n + taps/2` for the output at input `n` (the ``PolyphaseBank`` layout).
    init?(step M: Int, row: [Float]) {
        let taps = row.count, centre = taps / 2 - 1
        let nonZero = row.indices.filter { row[$0] != 0 }
        guard let first = nonZero.first, let last = nonZero.last else { return nil }
        let reach = max(last - centre, centre - first)
        func tap(_ j: Int) -> Float { row.indices.contains(j) ? row[j] : 0 }
        guard (1...max(1, reach)).allSatisfy({ abs(tap(centre + $0) - tap(centre - $0)) <= 1e-7 * abs(row[centre]) })
        else { return nil }
        step = M
        lookahead = reach
        // d = r + tM reads stream r at index q + t and stream (M - r) mod M at q - t (r = 0) or q - t - 1. The
        // centre is the d = 0 term of stream 0 at half weight: (x + x) × h/2 is exactly x × h.
        var pending: [(r: Int, back: Int, values: [Float])] = []
        for r in 0..<M {
            var values = Swift.stride(from: r, through: reach, by: M).map { d in
                d == 0 ? row[centre] / 2 : (tap(centre + d) + tap(centre - d)) / 2
            }
            while values.last == 0 { values.removeLast() }
            if values.isEmpty { continue }
            // Even lengths: the kernel takes pairs two at a time (a zero pair reads, and adds, nothing).
            if values.count % 2 == 1 { values.append(0) }
            pending.append((r, r == 0 ? 0 : -1, values))
        }
        let longest = pending.map { $0.values.count }.max() ?? 1
        firstOffset = -longest
        let span = 2 * longest + 4
        capacity = span + Self.block / M + 4
        stride = (capacity + span + 8 + 3) / 4 * 4
        var runs: [Run] = [], coefficients: [Float] = []
        for run in pending {
            // Reversed position of stream index m is stride - 1 - m.
            runs.append(Run(forward: run.r * stride, backward: ((M - run.r) % M) * stride + stride - 1 - run.back,
                            coefficient: coefficients.count, count: run.values.count))
            coefficients += run.values
        }
        self.runs = runs
        cost = Double(coefficients.count)
        self.coefficients = .allocate(capacity: max(1, coefficients.count))
        for (i, c) in coefficients.enumerated() { self.coefficients[i] = SIMD4(repeating: c) }
    }

    /// A ÷2 decimator for a half-band: its prototype row has the centre 1/2 and the halved taps at odd distances.
    convenience init(halfband design: HalfbandDesign) {
        let J = design.taps.count / 2
        var row = [Float](repeating: 0, count: 4 * J)
        row[2 * J - 1] = 0.5
        for (i, g) in design.taps.enumerated() { row[2 * i] = Float(g / 2) }
        self.init(step: 2, row: row)!   // symmetric by construction
    }

    deinit { coefficients.deallocate() }
}

/// The streaming state of a ``FoldedDecimatorBank``. Same contract as ``PolyphaseStage``: `process` consumes input
/// until it runs out or the output is full (a full output still takes the input that completes no further output),
/// and `finish(into:count:)` writes exactly `count` more outputs, reading zeros past the end, then resets.
struct FoldedDecimator {
    let bank: FoldedDecimatorBank
    /// `M` streams `bank.stride` floats apart; position `i` of stream `r` holds input `(base + i) M + r`.
    private var samples: [Float]
    /// The expanded streams: `M` in order (position `i` holds samples `i ... i + 3`), then `M` reversed (position
    /// `stride - 1 - i` holds the same vector).
    private var vectors: [SIMD4<Float>]
    /// Stream index at position 0 (negative at the start: the zeros before the stream).
    private var base: Int
    private(set) var consumed = 0
    private(set) var produced = 0

    init(bank: FoldedDecimatorBank) {
        self.bank = bank
        samples = [Float](repeating: 0, count: bank.step * bank.stride + 4)
        vectors = [SIMD4<Float>](repeating: .zero, count: 2 * bank.step * bank.stride)
        base = bank.firstOffset
    }

    func outputCapacity(forInput count: Int) -> Int {
        // Output k is ready once input k M + lookahead has arrived.
        let lastInput = consumed + count - 1 - bank.lookahead
        return lastInput < 0 ? 0 : max(0, lastInput / bank.step + 1 - produced)
    }

    var pendingOutputCount: Int { max(0, (2 * consumed + bank.step) / (2 * bank.step) - produced) }

    mutating func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> (consumed: Int, produced: Int) {
        let M = bank.step, S = bank.stride, lookahead = bank.lookahead
        // State in locals: stored properties mutated inside the buffer closures would pay a dynamic exclusivity
        // check per access.
        var base = self.base, consumed = self.consumed, produced = self.produced
        var used = 0, written = 0
        samples.withUnsafeMutableBufferPointer { samples in
            vectors.withUnsafeMutableBufferPointer { vectors in
                let x = samples.baseAddress!, v = vectors.baseAddress!
                while true {
                    let lastInput = consumed - 1 - lookahead
                    let ready = lastInput < 0 ? 0 : lastInput / M + 1
                    let end = min(ready, produced + output.count - written)
                    if end > produced {
                        bank.compute(v, at: produced - base, count: end - produced, into: output.baseAddress! + written)
                        written += end - produced
                        produced = end
                    }
                    var limit = input.count - used
                    // A full output still takes the input that completes no further output.
                    if written == output.count { limit = min(limit, produced * M + lookahead - consumed) }
                    if limit <= 0 { break }
                    // Keep what the next group reads (never past the next sample of the last stream, so no
                    // stream's count goes negative), then deal the new input out to the streams.
                    let keep = min(produced + bank.firstOffset, consumed / M)
                    let drop = keep - base
                    if drop > 0 {
                        for r in 0..<M {
                            let count = (consumed - r + M - 1) / M - base
                            if count > drop {
                                (x + r * S).update(from: x + r * S + drop, count: count - drop)
                                (v + r * S).update(from: v + r * S + drop, count: count - drop)
                                let reversed = v + (M + r) * S + S - count
                                (reversed + drop).update(from: reversed, count: count - drop)
                            }
                        }
                        base = keep
                    }
                    let n = min(limit, M * (bank.capacity - ((consumed + M - 1) / M - base)))
                    if n <= 0 { break }
                    bank.deal(input.baseAddress! + used, n, into: x, vectors: v, at: consumed, base: base)
                    used += n
                    consumed += n
                }
            }
        }
        self.base = base
        self.consumed = consumed
        self.produced = produced
        return (used, written)
    }

    mutating func finish(into output: UnsafeMutableBufferPointer<Float>, count: Int) -> Int {
        precondition(output.count >= count, "Resampler.finish: output buffer too small")
        var written = 0
        // The tail reads zeros past the end of the stream.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 64) { z in
            z.initialize(repeating: 0)
            while written < count {
                let (_, made) = process(UnsafeBufferPointer(z), into: UnsafeMutableBufferPointer(rebasing: output[written..<count]))
                written += made
            }
        }
        reset()
        return written
    }

    mutating func reset() {
        samples.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        vectors.withUnsafeMutableBufferPointer { $0.update(repeating: .zero) }
        base = bank.firstOffset
        consumed = 0
        produced = 0
    }
}

extension FoldedDecimatorBank {
    /// Writes `count` outputs, the first at stream position `at`, eight at a time (two vectors share each
    /// coefficient load and the set-up of each run).
    @inline(__always)
    func compute(_ v: UnsafeMutablePointer<SIMD4<Float>>, at: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        let c = coefficients, reversed = v + step &* stride
        func group(_ at: Int) -> (SIMD4<Float>, SIMD4<Float>) {
            var low = SIMD4<Float>(), high = SIMD4<Float>()
            for run in runs {
                let (l, h) = foldedRun(v + (run.forward &+ at), reversed + (run.backward &- at), c + run.coefficient, run.count)
                low += l
                high += h
            }
            return (low, high)
        }
        var k = 0
        while k + 8 <= count {
            let (low, high) = group(at &+ k)
            UnsafeMutableRawPointer(out + k).storeBytes(of: low, as: SIMD4<Float>.self)
            UnsafeMutableRawPointer(out + k + 4).storeBytes(of: high, as: SIMD4<Float>.self)
            k &+= 8
        }
        if k < count {
            let (low, high) = group(at &+ k)
            for t in 0..<min(4, count - k) { out[k + t] = low[t] }
            for t in 4..<max(4, count - k) { out[k + t] = high[t - 4] }
        }
    }

    /// Appends `count` input samples, the first being input number `at`, to their streams, NaN and ±infinity as 0
    /// (``zeroNonFinite``, as every path), and rebuilds the expanded vectors the new samples appear in.
    @inline(__always)
    func deal(_ source: UnsafePointer<Float>, _ count: Int, into x: UnsafeMutablePointer<Float>,
              vectors v: UnsafeMutablePointer<SIMD4<Float>>, at: Int, base: Int) {
        let M = step, S = stride
        var src = source, remaining = count
        var r = at % M, column = at / M - base
        while remaining > 0, r != 0 {
            x[r * S + column] = src.pointee
            src += 1
            remaining -= 1
            r += 1
            if r == M { r = 0; column += 1 }
        }
        let frames = remaining / M
        if M == 2 {
            let e = x + column, o = x + S + column
            var f = 0
            while f + 4 <= frames {
                let w = UnsafeRawPointer(src + 2 * f).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(e + f).storeBytes(of: w.evenHalf, as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(o + f).storeBytes(of: w.oddHalf, as: SIMD4<Float>.self)
                f += 4
            }
            while f < frames {
                e[f] = src[2 * f]
                o[f] = src[2 * f + 1]
                f += 1
            }
        } else {
            let m2 = 2 &* M, m3 = 3 &* M, m4 = 4 &* M
            for s in 0..<M {
                var d = x + (s &* S &+ column), g = src + s
                let fours = d + (frames & ~3), end = d + frames
                while d != fours {
                    UnsafeMutableRawPointer(d).storeBytes(of: SIMD4(g[0], g[M], g[m2], g[m3]), as: SIMD4<Float>.self)
                    d += 4
                    g += m4
                }
                while d != end {
                    d.pointee = g.pointee
                    d += 1
                    g += M
                }
            }
        }
        src += frames * M
        remaining -= frames * M
        column += frames
        while remaining > 0 {
            x[r * S + column] = src.pointee
            src += 1
            remaining -= 1
            r += 1
        }
        for s in 0..<M {
            // Stream s had `old` samples and now has `new`; vectors from old - 3 on include a new sample.
            let old = (at - s + M - 1) / M - base, new = (at + count - s + M - 1) / M - base
            guard new > old else { continue }
            let stream = x + s * S
            zeroNonFinite(stream + old, new - old)
            let from = max(0, old - 3)
            var p = UnsafeRawPointer(stream + from), forward = v + (s &* S &+ from), reversed = v + ((M &+ s) &* S &+ S &- 1 &- from)
            for _ in from..<new {
                let w = p.loadUnaligned(as: SIMD4<Float>.self)
                forward.pointee = w
                reversed.pointee = w
                p += 4
                forward += 1
                reversed -= 1
            }
        }
    }
}

/// Lane `j` of the first vector gets `Σ c[i] × (a[i] + b[i])`, of the second `Σ c[i] × (a[i + 4] + b[i - 4])`
/// (the next four outputs), over aligned vectors. One byte offset steps all the arrays.
@inline(__always)
private func foldedRun(_ a: UnsafePointer<SIMD4<Float>>, _ b: UnsafePointer<SIMD4<Float>>, _ c: UnsafePointer<SIMD4<Float>>,
                       _ count: Int) -> (SIMD4<Float>, SIMD4<Float>) {
    var s0 = SIMD4<Float>(), s1 = SIMD4<Float>()
    let a0 = UnsafeRawPointer(a + count), a1 = UnsafeRawPointer(a + count + 4)
    let b0 = UnsafeRawPointer(b + count), b1 = UnsafeRawPointer(b + count - 4), c = UnsafeRawPointer(c + count)
    var i = -16 * count
    while i != 0 {
        let w = c.load(fromByteOffset: i, as: SIMD4<Float>.self)
        s0 += (a0.load(fromByteOffset: i, as: SIMD4<Float>.self) + b0.load(fromByteOffset: i, as: SIMD4<Float>.self)) * w
        s1 += (a1.load(fromByteOffset: i, as: SIMD4<Float>.self) + b1.load(fromByteOffset: i, as: SIMD4<Float>.self)) * w
        i &+= 16
    }
    return (s0, s1)
}
