/// A polyphase filter for ratios `L / M` with small `L` and `M` (8k -> 24k, 16k -> 24k, 24k -> 16k, 24k -> 48k)
/// that computes sixteen outputs of one phase per pass, four per vector.
///
/// Why: a dot product (`PolyphaseStage`) pays a horizontal reduction and a loop set-up per output (shared by eight
/// there, still about 4 instructions each) and three and a half instructions per four taps.
/// Outputs `qL + p` for sixteen consecutive `q` share phase `p`'s coefficients, and their windows start `M` inputs
/// apart: with the input **expanded** so that vector `E[m]` holds `x[m], x[m + M], x[m + 2M], x[m + 3M]` (as the
/// `FoldedDecimator` keeps it), four of them read one aligned vector per tap, and a tap for sixteen outputs is four
/// loads, multiplies and adds with no reduction. A phase that is a plain copy (a windowed sinc cut at the input's
/// Nyquist frequency has one) copies vectors. Decimations (`L = 1`) go to the `DealtDecimator` (by 2 or 3) or the
/// `FoldedDecimator` (4 to 8) instead, whose symmetric taps fold.
///
/// Each output is the same sequence of lane-wise operations wherever it falls in a group, so the result does not
/// depend on the chunking.
final class BlockPolyphaseBank: @unchecked Sendable {   // immutable after init: safe to share
    /// Largest `L` and `M` this layout takes (a group spans `16 L` outputs, recomputed in part at a chunk boundary).
    static let maximumPhases = 8
    static let maximumStep = 8

    /// The reduced ratio `L / M`.
    let phases: Int
    let step: Int
    /// Input samples past an output's own input position (`floor(k M / L)`) that it reads, and before it.
    let lookahead: Int
    let lookback: Int
    /// Taps per phase (even), from `lookback` samples before the output's position on.
    let taps: Int
    /// Broadcast coefficients, `taps` per phase `p = k mod L` (each repeated in four lanes, so a multiply takes them
    /// from memory).
    let coefficients: UnsafeMutablePointer<SIMD4<Float>>
    /// Per phase: its input position past the group's, `floor(p M / L)`, and for a phase that copies one input, the
    /// copied tap; -1 for a filtered phase.
    let shift: [Int]
    let copy: [Int]
    /// 1, read from memory: the kernel takes two taps per step, and an offset LLVM cannot see keeps it from
    /// relating the adjacent vectors (it would split them into lanes and shuffle them back).
    let one: Int
    /// Input samples of history per refill, and the history's size in expanded vectors.
    let capacity: Int
    let size: Int
    /// Multiplies per output sample.
    let cost: Double

    private static let block = 512

    /// The bank of a polyphase stage (its rows in the ``PolyphaseBank`` layout).
    init(_ bank: PolyphaseBank) {
        let L = bank.phases, M = bank.step, T = bank.taps, centre = T / 2 - 1
        phases = L
        step = M
        // Phase p = k mod L is bank row (p M) mod L.
        let rows = (0..<L).map { p in (0..<T).map { bank.coefficients[(p * M % L) * T + $0] } }
        var copy = [Int](repeating: -1, count: L)
        var first = centre, last = centre
        for p in 0..<L {
            let nonZero = rows[p].indices.filter { rows[p][$0] != 0 }
            if nonZero.count == 1, rows[p][nonZero[0]] == 1 { copy[p] = nonZero[0] }
            if let a = nonZero.first, let b = nonZero.last {
                first = min(first, a)
                last = max(last, b)
            }
        }
        var count = last - first + 1
        if count % 2 == 1 { count += 1 }
        taps = count
        lookback = centre - first
        lookahead = last - centre
        shift = (0..<L).map { $0 * M / L }
        self.copy = copy.map { $0 < 0 ? -1 : $0 - first }
        one = 1
        // Lanes reach 15 group positions on (M inputs each), a window `count` taps, a vector 3M samples.
        let span = count + 16 * M + 8
        capacity = span + Self.block
        size = capacity + span + 4 * M + 8
        coefficients = .allocate(capacity: L * count)
        for p in 0..<L {
            for t in 0..<count {
                let j = first + t
                coefficients[p * count + t] = SIMD4(repeating: j < T && copy[p] < 0 ? rows[p][j] : 0)
            }
        }
        cost = Double(count * copy.filter { $0 < 0 }.count) / Double(L)
    }

    deinit { coefficients.deallocate() }
}

/// The streaming state of a ``BlockPolyphaseBank`` (the ``BlockStage`` contract).
struct BlockPolyphase: BlockStage {
    let bank: BlockPolyphaseBank
    /// The input since sample `start`, NaN and ±infinity replaced by 0, and its expanded vectors:
    /// `vectors[i]` holds `history[i], history[i + M], history[i + 2M], history[i + 3M]`.
    private var history: [Float]
    private var vectors: [SIMD4<Float>]
    /// Input index of `history[0]` (negative at the start: the zeros before the stream).
    private var start: Int
    private(set) var consumed = 0
    private(set) var produced = 0

    /// Input another stage has already cleaned of NaN and ±infinity (in a ``ChainStage``): not checked again.
    private let cleanInput: Bool

    init(bank: BlockPolyphaseBank, cleanInput: Bool = false) {
        self.bank = bank
        self.cleanInput = cleanInput
        history = [Float](repeating: 0, count: bank.size + 4 * bank.step + 8)
        vectors = [SIMD4<Float>](repeating: .zero, count: bank.size)
        start = -bank.lookback
    }

    func readyCount(forInput count: Int) -> Int {
        max(0, bank.outputs(through: consumed + count - 1 - bank.lookahead) - produced)
    }

    var phases: Int { bank.phases }
    var step: Int { bank.step }

    func maximumOutputCount(forInput count: Int) -> Int { directStageBound(count, phases: bank.phases, step: bank.step) }

    mutating func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> (consumed: Int, produced: Int) {
        let L = bank.phases, M = bank.step, lookahead = bank.lookahead
        var start = self.start, consumed = self.consumed, produced = self.produced
        var used = 0, written = 0
        history.withUnsafeMutableBufferPointer { history in
            vectors.withUnsafeMutableBufferPointer { vectors in
                let x = history.baseAddress!, v = vectors.baseAddress!
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * BlockPolyphaseBank.maximumPhases) { scratch in
                    used = refill(from: input, consumed: &consumed, emit: { consumed in
                        let end = min(bank.outputs(through: consumed - 1 - lookahead), produced + output.count - written)
                        if end > produced {
                            bank.compute(v, from: produced, to: end, start: start, into: output.baseAddress! + written,
                                         scratch: scratch.baseAddress!)
                            written += end - produced
                            produced = end
                        }
                        return written == output.count
                    }, completing: { inputLimit(produced: produced, room: output.count - written) { $0 * M / L + lookahead } }, makeRoom: { consumed in
                        // Keep what the next group reads.
                        let keep = min(produced / L * M - bank.lookback, consumed)
                        let drop = keep - start
                        if drop > 0 {
                            let held = consumed - start
                            if held > drop {
                                x.update(from: x + drop, count: held - drop)
                                v.update(from: v + drop, count: held - drop)
                            }
                            start = keep
                        }
                        return bank.capacity - (consumed - start)
                    }, append: { source, n, consumed in
                        bank.append(source, n, clean: cleanInput, to: x, vectors: v, at: consumed - start)
                    })
                }
            }
        }
        self.start = start
        self.consumed = consumed
        self.produced = produced
        return (used, written)
    }

    mutating func reset() {
        history.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        vectors.withUnsafeMutableBufferPointer { $0.update(repeating: .zero) }
        start = -bank.lookback
        consumed = 0
        produced = 0
    }
}

extension BlockPolyphaseBank {
    /// The number of outputs `k` with `floor(k M / L) <= last`, `last` being the newest input position whose window
    /// has arrived.
    func outputs(through last: Int) -> Int {
        last < 0 ? 0 : ((last + 1) * phases - 1) / step + 1
    }

    /// Appends `count` input samples at history position `at`, NaN and ±infinity as 0 (``zeroNonFinite``, as
    /// every path), and rebuilds the expanded vectors the new samples appear in.
    @inline(__always)
    func append(_ source: UnsafePointer<Float>, _ count: Int, clean: Bool, to x: UnsafeMutablePointer<Float>,
                vectors v: UnsafeMutablePointer<SIMD4<Float>>, at: Int) {
        let M = step
        (x + at).update(from: source, count: count)
        if !clean { zeroNonFinite(x + at, count) }
        if M == 1 {
            // Vectors from at - 3 on include a new sample.
            for m in max(0, at - 3)..<(at + count) { v[m] = UnsafeRawPointer(x + m).loadUnaligned(as: SIMD4<Float>.self) }
            return
        }
        // E[m] reads x[m ... m + 3M]: four rows per step from a multiple of four (rows past the end read stale
        // history and are rebuilt when it arrives).
        let first = max(0, at - 3 * M) & ~3
        var f = v + first
        @inline(__always)
        func put(_ rows: (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>)) {
            f[0] = rows.0; f[1] = rows.1; f[2] = rows.2; f[3] = rows.3
            f += 4
        }
        if M == 2 {
            for p in Swift.stride(from: first, to: at + count, by: 4) { put(evenOddRows(x + p)) }
        } else {
            for p in Swift.stride(from: first, to: at + count, by: 4) { put(transposed(x + p, M)) }
        }
    }

    /// Writes outputs `from ..< to`, sixteen group positions per pass, through `scratch` (`16 L` floats).
    @inline(__always)
    func compute(_ v: UnsafeMutablePointer<SIMD4<Float>>, from: Int, to: Int, start: Int,
                 into out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        // The distance between a group's four vectors (4M) as a constant, so it folds into the loads' addresses.
        switch step {
        case 1: computeGroups(v, from: from, to: to, start: start, into: out, scratch: scratch, step: 1)
        case 2: computeGroups(v, from: from, to: to, start: start, into: out, scratch: scratch, step: 2)
        case 3: computeGroups(v, from: from, to: to, start: start, into: out, scratch: scratch, step: 3)
        case let M: computeGroups(v, from: from, to: to, start: start, into: out, scratch: scratch, step: M)
        }
    }

    @inline(__always)
    private func computeGroups(_ v: UnsafeMutablePointer<SIMD4<Float>>, from: Int, to: Int, start: Int,
                               into out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, step M: Int) {
        let L = phases, c = coefficients, next = one
        var k = from
        while k < to {
            let q = k / L, groupStart = q * L
            // Group position q reads from input qM - lookback on: relative to the history, qM - start - lookback.
            let window = v + (q * M - start - lookback)
            if to - groupStart >= 16 * L {
                for p in 0..<L {
                    let w = window + shift[p]
                    let block: OutputBlock
                    if copy[p] >= 0 {
                        let e = w + copy[p]
                        block = OutputBlock(v0: e[0], v1: e[4 * M], v2: e[8 * M], v3: e[12 * M])
                    } else {
                        block = plainRun(w, c + p * taps, next, M, taps)
                    }
                    // Lane i of vector g is the output of group position q + 4g + i, phase p.
                    withUnsafeBytes(of: block) { b in
                        for i in 0..<16 { scratch[i * L + p] = b.load(fromByteOffset: 4 * i, as: Float.self) }
                    }
                }
            } else {
                // The last positions of a call: four at a time, so at most three are computed ahead of their input
                // (and again at the next call) instead of up to fifteen.
                for g in 0..<((to - groupStart + 4 * L - 1) / (4 * L)) {
                    for p in 0..<L {
                        let w = window + (shift[p] + 4 * g * M)
                        let lanes = copy[p] >= 0 ? w[copy[p]] : plainRun(w, c + p * taps, next, taps)
                        for i in 0..<4 { scratch[(4 * g + i) * L + p] = lanes[i] }
                    }
                }
            }
            let groupEnd = min(to, groupStart + 16 * L)
            (out + (k - from)).update(from: scratch + (k - groupStart), count: groupEnd - k)
            k = groupEnd
        }
    }
}

/// `Σ c[t] × E[t]` over aligned vectors (four group positions), for an even `count`; `next` is 1 (see
/// ``BlockPolyphaseBank/one``).
@inline(__always)
private func plainRun(_ e: UnsafePointer<SIMD4<Float>>, _ c: UnsafePointer<SIMD4<Float>>, _ next: Int, _ count: Int) -> SIMD4<Float> {
    var s = SIMD4<Float>(), t = SIMD4<Float>()
    let n = count &* 16
    let e0 = UnsafeRawPointer(e) + n, e1 = UnsafeRawPointer(e + next) + n
    let c0 = UnsafeRawPointer(c) + n, c1 = UnsafeRawPointer(c + next) + n
    var i = 0 &- n
    while i != 0 {
        s += e0.load(fromByteOffset: i, as: SIMD4<Float>.self) * c0.load(fromByteOffset: i, as: SIMD4<Float>.self)
        t += e1.load(fromByteOffset: i, as: SIMD4<Float>.self) * c1.load(fromByteOffset: i, as: SIMD4<Float>.self)
        i &+= 32
    }
    return s + t
}

/// Vector `g` of the block gets `Σ c[t] × E[t + 4gM]` over aligned vectors, for an even `count`; `next` is 1 (see
/// ``BlockPolyphaseBank/one``). One byte offset steps both arrays.
@inline(__always)
private func plainRun(_ e: UnsafePointer<SIMD4<Float>>, _ c: UnsafePointer<SIMD4<Float>>, _ next: Int, _ M: Int,
                      _ count: Int) -> OutputBlock {
    var s = OutputBlock(), t = OutputBlock()
    let n = count &* 16, g = M &* 64   // bytes between the four vectors' windows
    let e0 = UnsafeRawPointer(e) + n, e1 = UnsafeRawPointer(e + next) + n
    let c0 = UnsafeRawPointer(c) + n, c1 = UnsafeRawPointer(c + next) + n
    var i = 0 &- n
    while i != 0 {
        let w = c0.load(fromByteOffset: i, as: SIMD4<Float>.self), u = c1.load(fromByteOffset: i, as: SIMD4<Float>.self)
        s.v0 += e0.load(fromByteOffset: i, as: SIMD4<Float>.self) * w
        s.v1 += e0.load(fromByteOffset: i &+ g, as: SIMD4<Float>.self) * w
        s.v2 += e0.load(fromByteOffset: i &+ 2 &* g, as: SIMD4<Float>.self) * w
        s.v3 += e0.load(fromByteOffset: i &+ 3 &* g, as: SIMD4<Float>.self) * w
        t.v0 += e1.load(fromByteOffset: i, as: SIMD4<Float>.self) * u
        t.v1 += e1.load(fromByteOffset: i &+ g, as: SIMD4<Float>.self) * u
        t.v2 += e1.load(fromByteOffset: i &+ 2 &* g, as: SIMD4<Float>.self) * u
        t.v3 += e1.load(fromByteOffset: i &+ 3 &* g, as: SIMD4<Float>.self) * u
        i &+= 32
    }
    s.add(t)
    return s
}
