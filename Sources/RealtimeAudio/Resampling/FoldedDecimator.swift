/// A decimator by an integer `M` (`L = 1`: 24k -> 8k, 48k -> 16k, and the ÷2 half-band for 48k -> 24k) laid out
/// to compute sixteen consecutive outputs per pass, four per vector, with its symmetric filter folded.
///
/// Why: the one-output dot product (``PolyphaseStage``) pays a horizontal reduction and a loop set-up per output
/// on top of its taps. Outputs `k ... k + 3` share every coefficient and read inputs `M` apart: with the input
/// **expanded** so that vector `E[p]` holds `x[p], x[p + M], x[p + 2M], x[p + 3M]`, their four windows are one
/// vector per tap, `E[kM + d]`, and no reduction is left. The filter is symmetric, so the four outputs are
/// `Σ h[d] (E[kM + d] + E[kM - d])`: the two vectors a coefficient weighs are added before the multiply, halving
/// the multiplies. `E` is kept once in order and once reversed, so both terms walk forward at one index through
/// aligned memory: a pair of taps for four outputs is an aligned load, an add and a multiply taking their second
/// operands from memory, and an add (four instructions at baseline x86-64).
///
/// `E` is stored as `G` interleaved streams (`E[p]` in stream `p mod G`): `G = 1` walks every tap in one run; a
/// half-band (`G = M = 2`) puts its zero taps in a stream of their own, which the walk skips.
///
/// The input is first dealt to `M` streams (stream `r` holds `x[iM + r]`), from which each vector is one unaligned
/// load. Each output is the same sequence of lane-wise operations wherever it falls in a group, so the result does
/// not depend on the chunking.
final class FoldedDecimatorBank: @unchecked Sendable {   // immutable after init: safe to share
    /// Largest `M` this layout takes (the input is dealt to `M` streams).
    static let maximumStep = 8

    /// The downsampling factor.
    let step: Int
    /// Streams of the expanded input (1, or `step` when a residue class of the taps is all zero).
    let groups: Int
    /// Input samples past an output's own position (`k M`) that it reads.
    let lookahead: Int
    /// Input-stream offset, relative to a group's first output, of the earliest sample any run reads (<= 0).
    let firstOffset: Int
    /// Samples per input stream in the history, and how many of them hold data; the rest is read, never used, by
    /// the lanes of a group past the last ready output. Each expanded stream has `step / groups × stride` vectors.
    let stride: Int
    let capacity: Int
    /// Broadcast coefficients (each repeated in four lanes, so a multiply takes them straight from memory).
    let coefficients: UnsafeMutablePointer<SIMD4<Float>>
    let runs: [Run]
    /// Multiplies per output sample.
    let cost: Double

    /// Pairs of taps `d = r + tG` (`t < count`): lane `j` of vector `g` of the group at input-stream index `q` adds
    /// `c[t] × (E[(q + 4g + j) M + d] + E[(q + 4g + j) M - d])`, the first read in order from expanded stream `r`,
    /// the second from expanded stream `(G - r) mod G` reversed.
    struct Run {
        /// Vector offsets (at `q = 0`) in the forward and the reversed expanded history, and of the coefficients,
        /// each also one vector on: the kernel takes two pairs per step, and offsets read from memory keep LLVM
        /// from relating the adjacent vectors (when it sees them, its vectorizer splits them into lanes and shuffles
        /// them back together, twice the instructions).
        let forward: Int
        let backward: Int
        let coefficient: Int
        let forwardNext: Int
        let backwardNext: Int
        let coefficientNext: Int
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
        // The folded taps; the centre is d = 0 at half weight: (x + x) × h/2 is exactly x × h.
        let folded = (0...reach).map { d in d == 0 ? row[centre] / 2 : (tap(centre + d) + tap(centre - d)) / 2 }
        // M streams when a residue class of d >= 1 is all zero (a half-band's even taps), else one.
        let sparse = M > 1 && reach >= M && (0..<M).contains { r in
            Swift.stride(from: r == 0 ? M : r, through: reach, by: M).allSatisfy { folded[$0] == 0 }
        }
        let G = sparse ? M : 1
        groups = G
        let perStream = M / G   // expanded vectors per input-stream index
        var pending: [(r: Int, back: Int, values: [Float])] = []
        for r in 0..<G {
            var values = Swift.stride(from: r, through: reach, by: G).map { folded[$0] }
            while values.last == 0 { values.removeLast() }
            if values.isEmpty { continue }
            // Even lengths: the kernel takes two pairs per step (a zero pair reads, and adds, nothing).
            if values.count % 2 == 1 { values.append(0) }
            // E[qM - r - tG] is in stream (G - r) mod G at index q M/G - t - (r > 0 ? 1 : 0).
            pending.append((r, r == 0 ? 0 : -1, values))
        }
        let longest = pending.map { $0.values.count }.max() ?? 2
        // The reversed walk reaches longest vectors back: that many input-stream positions, plus one.
        firstOffset = -((longest + perStream - 1) / perStream) - 1
        // Lanes reach 15 outputs on, the forward walk `longest` vectors.
        let span = -firstOffset + 16 + (longest + perStream - 1) / perStream + 4
        capacity = span + Self.block / M + 4
        stride = capacity + span + 8
        let vectors = perStream * stride   // per expanded stream
        var runs: [Run] = [], coefficients: [Float] = []
        for run in pending {
            // The reversed copies follow the G forward streams: index e of stream g is at (G + g + 1) × vectors - 1 - e.
            let forward = run.r * vectors
            let backward = (G + (G - run.r) % G + 1) * vectors - 1 - run.back
            runs.append(Run(forward: forward, backward: backward, coefficient: coefficients.count,
                            forwardNext: forward + 1, backwardNext: backward + 1, coefficientNext: coefficients.count + 1,
                            count: run.values.count))
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
    /// The expanded input: `G` streams in order, then the same `G` streams reversed (see ``FoldedDecimatorBank``).
    /// Expanded index `e` of stream `g` covers `E[(base M/G + e) G + g]`.
    private var vectors: [SIMD4<Float>]
    /// Input-stream index at position 0 (negative at the start: the zeros before the stream).
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
        let G = bank.groups, perStream = M / G, W = perStream * S
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
                        let most = (consumed + M - 1) / M - base   // stream 0 has the most samples
                        for r in 0..<M {
                            let count = (consumed - r + M - 1) / M - base
                            if count > drop { (x + r * S).update(from: x + r * S + drop, count: count - drop) }
                        }
                        if most > drop {
                            let kept = (most - drop) * perStream, shift = drop * perStream
                            for g in 0..<G {
                                (v + g * W).update(from: v + g * W + shift, count: kept)
                                let reversed = v + (G + g + 1) * W - most * perStream
                                (reversed + shift).update(from: reversed, count: kept)
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
    /// Writes `count` outputs, the first at input-stream position `at`, sixteen at a time (four vectors share each
    /// coefficient load and the set-up of each run).
    @inline(__always)
    func compute(_ v: UnsafeMutablePointer<SIMD4<Float>>, at: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        // The distance between the four vectors of a group as a constant, so it folds into the loads' addresses:
        // as a variable, the kernel needs more base registers than x86-64 has, and reloads them every step.
        switch step / groups {
        case 1: computeGroups(v, at: at, count: count, into: out, lane: 1)
        case 2: computeGroups(v, at: at, count: count, into: out, lane: 2)
        case 3: computeGroups(v, at: at, count: count, into: out, lane: 3)
        case 4: computeGroups(v, at: at, count: count, into: out, lane: 4)
        case 6: computeGroups(v, at: at, count: count, into: out, lane: 6)
        case 8: computeGroups(v, at: at, count: count, into: out, lane: 8)
        case let lane: computeGroups(v, at: at, count: count, into: out, lane: lane)
        }
    }

    /// ``compute(_:at:count:into:)`` with `lane = step / groups` vectors per output.
    @inline(__always)
    private func computeGroups(_ v: UnsafeMutablePointer<SIMD4<Float>>, at: Int, count: Int,
                               into out: UnsafeMutablePointer<Float>, lane: Int) {
        let c = coefficients, shift = at &* lane
        @inline(__always)
        func group(_ shift: Int) -> OutputBlock {
            var sum = OutputBlock()
            runs.withUnsafeBufferPointer { runs in
                for run in runs {
                    sum.add(foldedRun(v + (run.forward &+ shift), v + (run.backward &- shift), c + run.coefficient,
                                      v + (run.forwardNext &+ shift), v + (run.backwardNext &- shift),
                                      c + run.coefficientNext, lane, run.count))
                }
            }
            return sum
        }
        var k = 0
        while k + 16 <= count {
            group(shift &+ k &* lane).store(to: out + k)
            k &+= 16
        }
        if k < count {
            // The last, partial group: the lanes past `count` read samples that have not arrived, and are dropped.
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { tail in
                group(shift &+ k &* lane).store(to: tail.baseAddress!)
                (out + k).update(from: tail.baseAddress!, count: count - k)
            }
        }
    }

    /// Appends `count` input samples, the first being input number `at`, to their streams, NaN and ±infinity as 0
    /// (``zeroNonFinite``, as every path), and rebuilds the expanded vectors the new samples appear in.
    @inline(__always)
    func deal(_ source: UnsafePointer<Float>, _ count: Int, into x: UnsafeMutablePointer<Float>,
              vectors v: UnsafeMutablePointer<SIMD4<Float>>, at: Int, base: Int) {
        let M = step, S = stride, G = groups, perStream = M / G, W = perStream * S
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
            // Stream s, position m is E at expanded stream s mod G, index m M/G + s / G.
            let from = max(0, old - 3), g = s % G, offset = s / G
            var p = UnsafeRawPointer(stream + from)
            var forward = v + (g &* W &+ from &* perStream &+ offset)
            var reversed = v + ((G &+ g &+ 1) &* W &- 1 &- from &* perStream &- offset)
            for _ in from..<new {
                let w = p.loadUnaligned(as: SIMD4<Float>.self)
                forward.pointee = w
                reversed.pointee = w
                p += 4
                forward += perStream
                reversed -= perStream
            }
        }
    }
}

/// Sixteen consecutive outputs, four vectors.
struct OutputBlock {
    var v0 = SIMD4<Float>(), v1 = SIMD4<Float>(), v2 = SIMD4<Float>(), v3 = SIMD4<Float>()

    @inline(__always)
    mutating func add(_ other: OutputBlock) {
        v0 += other.v0
        v1 += other.v1
        v2 += other.v2
        v3 += other.v3
    }

    @inline(__always)
    func store(to p: UnsafeMutablePointer<Float>) {
        let o = UnsafeMutableRawPointer(p)
        o.storeBytes(of: v0, as: SIMD4<Float>.self)
        o.storeBytes(of: v1, toByteOffset: 16, as: SIMD4<Float>.self)
        o.storeBytes(of: v2, toByteOffset: 32, as: SIMD4<Float>.self)
        o.storeBytes(of: v3, toByteOffset: 48, as: SIMD4<Float>.self)
    }
}

/// Vector `g` of the block gets `Σ c[i] × (a[i + 4g·lane] + b[i - 4g·lane])` (outputs `4g ... 4g + 3`), over
/// aligned vectors, for an even `count`; `aNext`, `bNext`, `cNext` are `a`, `b`, `c` one vector on (see
/// ``FoldedDecimatorBank/Run``). One byte offset steps all the arrays.
@inline(__always)
private func foldedRun(_ a: UnsafePointer<SIMD4<Float>>, _ b: UnsafePointer<SIMD4<Float>>, _ c: UnsafePointer<SIMD4<Float>>,
                       _ aNext: UnsafePointer<SIMD4<Float>>, _ bNext: UnsafePointer<SIMD4<Float>>,
                       _ cNext: UnsafePointer<SIMD4<Float>>, _ lane: Int, _ count: Int) -> OutputBlock {
    var s = OutputBlock(), t = OutputBlock()
    let n = count &* 16, g = lane &* 64   // bytes per four outputs
    let c0 = UnsafeRawPointer(c) + n, c1 = UnsafeRawPointer(cNext) + n
    let a0 = UnsafeRawPointer(a) + n, b0 = UnsafeRawPointer(b) + n
    let a1 = UnsafeRawPointer(aNext) + n, b1 = UnsafeRawPointer(bNext) + n
    let a4 = a0 + g, a8 = a0 + 2 &* g, a12 = a0 + 3 &* g, b4 = b0 - g, b8 = b0 - 2 &* g, b12 = b0 - 3 &* g
    let a5 = a1 + g, a9 = a1 + 2 &* g, a13 = a1 + 3 &* g, b5 = b1 - g, b9 = b1 - 2 &* g, b13 = b1 - 3 &* g
    var i = 0 &- n
    while i != 0 {
        let w = c0.load(fromByteOffset: i, as: SIMD4<Float>.self), u = c1.load(fromByteOffset: i, as: SIMD4<Float>.self)
        s.v0 += (a0.load(fromByteOffset: i, as: SIMD4<Float>.self) + b0.load(fromByteOffset: i, as: SIMD4<Float>.self)) * w
        s.v1 += (a4.load(fromByteOffset: i, as: SIMD4<Float>.self) + b4.load(fromByteOffset: i, as: SIMD4<Float>.self)) * w
        s.v2 += (a8.load(fromByteOffset: i, as: SIMD4<Float>.self) + b8.load(fromByteOffset: i, as: SIMD4<Float>.self)) * w
        s.v3 += (a12.load(fromByteOffset: i, as: SIMD4<Float>.self) + b12.load(fromByteOffset: i, as: SIMD4<Float>.self)) * w
        t.v0 += (a1.load(fromByteOffset: i, as: SIMD4<Float>.self) + b1.load(fromByteOffset: i, as: SIMD4<Float>.self)) * u
        t.v1 += (a5.load(fromByteOffset: i, as: SIMD4<Float>.self) + b5.load(fromByteOffset: i, as: SIMD4<Float>.self)) * u
        t.v2 += (a9.load(fromByteOffset: i, as: SIMD4<Float>.self) + b9.load(fromByteOffset: i, as: SIMD4<Float>.self)) * u
        t.v3 += (a13.load(fromByteOffset: i, as: SIMD4<Float>.self) + b13.load(fromByteOffset: i, as: SIMD4<Float>.self)) * u
        i &+= 32
    }
    s.add(t)
    return s
}
