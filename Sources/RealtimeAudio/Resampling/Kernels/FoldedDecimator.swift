/// A decimator by an integer `M` from 4 to 8 (`L = 1`) laid out to compute sixteen consecutive outputs per pass,
/// four per vector, with its symmetric filter folded.
///
/// Where it runs: decimations by 2 and 3 take the dealt decimator (13 to 23 % fewer instructions per output), and
/// large decimations of the common rates take a prestage first (``ResamplerFilter``), so this layout serves the
/// decimations by 4 to 8 that have no prestage (an input rate divisible by neither 2 nor 3, such as
/// 15625 Hz -> 3125 Hz) and the tests' direct single-stage filters.
///
/// Why: a dot product (`PolyphaseStage`) pays a horizontal reduction and a loop set-up per output on top of its
/// taps, and multiplies every tap. Outputs `k ... k + 3` share every coefficient and read inputs `M` apart: with the input
/// **expanded** so that vector `E[p]` holds `x[p], x[p + M], x[p + 2M], x[p + 3M]`, their four windows are one
/// vector per tap, `E[kM + d]`, and no reduction is left. The filter is symmetric, so the four outputs are
/// `Σ h[d] (E[kM + d] + E[kM - d])`: the two vectors a coefficient weighs are added before the multiply, halving
/// the multiplies. `E` is kept once in order and once reversed, so both terms walk forward at one index through
/// aligned memory: a pair of taps for four outputs is an aligned load, an add and a multiply taking their second
/// operands from memory, and an add (four instructions at baseline x86-64).
///
/// The input is kept as it comes (a contiguous history); four vectors `E[p] ... E[p + 3]` are four unaligned loads
/// at `x[p], x[p + M], x[p + 2M], x[p + 3M]` transposed (eight shuffles). Each output is the same sequence of
/// lane-wise operations wherever it falls in a group, so the result does not depend on the chunking.
final class FoldedDecimatorBank: @unchecked Sendable {   // immutable after init: safe to share
    /// The `M` this layout takes: from 4 (below, the dealt decimator costs less) to 8 (above, it needs more
    /// history per output than it saves).
    static let steps = 4...8

    /// The downsampling factor.
    let step: Int
    /// Input samples past an output's own position (`k M`) that it reads.
    let lookahead: Int
    /// Input-stream offset, relative to a group's first output, of the earliest sample any run reads (<= 0).
    let firstOffset: Int
    /// Outputs' worth of history (`step` input samples each), and how many of them hold data; the rest is read,
    /// never used, by the lanes of a group past the last ready output. The expanded input has `step × stride`
    /// vectors, in order and again reversed.
    let stride: Int
    let capacity: Int
    /// Broadcast coefficients (each repeated in four lanes, so a multiply takes them straight from memory).
    let coefficients: UnsafeMutablePointer<SIMD4<Float>>
    let runs: [Run]
    /// Multiplies per output sample.
    let cost: Double

    /// Pairs of taps `d = t` (`t < count`): lane `j` of vector `g` of the group at input-stream index `q` adds
    /// `c[t] × (E[(q + 4g + j) M + d] + E[(q + 4g + j) M - d])`, the first read from the expanded input in order,
    /// the second from its reversed copy.
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
        var values = folded
        while values.count > 1, values.last == 0 { values.removeLast() }
        // Even lengths: the kernel takes two pairs per step (a zero pair reads, and adds, nothing).
        if values.count % 2 == 1 { values.append(0) }
        let longest = values.count
        // The reversed walk reaches longest vectors back: that many input-stream positions, plus one.
        firstOffset = -((longest + M - 1) / M) - 1
        // Lanes reach 15 outputs on, the forward walk `longest` vectors.
        let span = -firstOffset + 16 + (longest + M - 1) / M + 4
        capacity = span + Self.block / M + 4
        stride = capacity + span + 8
        // The reversed copy follows the expanded input: its index e is at 2 × vectors - 1 - e.
        let vectors = M * stride, forward = 0, backward = 2 * vectors - 1
        runs = [Run(forward: forward, backward: backward, coefficient: 0, forwardNext: forward + 1,
                    backwardNext: backward + 1, coefficientNext: 1, count: longest)]
        let coefficients = values
        cost = Double(coefficients.count)
        self.coefficients = .allocate(capacity: max(1, coefficients.count))
        for (i, c) in coefficients.enumerated() { self.coefficients[i] = SIMD4(repeating: c) }
    }

    deinit { coefficients.deallocate() }
}

/// The streaming state of a ``FoldedDecimatorBank`` (the ``BlockStage`` contract).
struct FoldedDecimator: DecimatingStage {
    let bank: FoldedDecimatorBank
    /// The input since sample `base × M`, NaN and ±infinity replaced by 0, with room to read past its end.
    private var history: [Float]
    /// The expanded input in order, then reversed (see ``FoldedDecimatorBank``): input `p = base × M + r` is `E[p]`
    /// at index `r`.
    private var vectors: [SIMD4<Float>]
    /// Output position of the history's start (negative at the start: the zeros before the stream).
    private var base: Int
    private(set) var consumed = 0
    private(set) var produced = 0

    /// Input another stage has already cleaned of NaN and ±infinity (in a ``ChainStage``): not checked again.
    private let cleanInput: Bool

    init(bank: FoldedDecimatorBank, cleanInput: Bool = false) {
        self.bank = bank
        self.cleanInput = cleanInput
        history = [Float](repeating: 0, count: bank.step * (bank.stride + 4) + 8)
        vectors = [SIMD4<Float>](repeating: .zero, count: 2 * bank.step * bank.stride)
        base = bank.firstOffset
    }

    var step: Int { bank.step }
    var lookahead: Int { bank.lookahead }

    mutating func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> (consumed: Int, produced: Int) {
        let M = bank.step, S = bank.stride, lookahead = bank.lookahead
        let W = M * S
        // State in locals: stored properties mutated inside the buffer closures would pay a dynamic exclusivity
        // check per access.
        var base = self.base, consumed = self.consumed, produced = self.produced
        var used = 0, written = 0
        history.withUnsafeMutableBufferPointer { history in
            vectors.withUnsafeMutableBufferPointer { vectors in
                let x = history.baseAddress!, v = vectors.baseAddress!
                used = refill(from: input, consumed: &consumed, emit: { consumed in
                    let lastInput = consumed - 1 - lookahead
                    let ready = lastInput < 0 ? 0 : lastInput / M + 1
                    let end = min(ready, produced + output.count - written)
                    if end > produced {
                        bank.compute(v, at: produced - base, count: end - produced, into: output.baseAddress! + written)
                        written += end - produced
                        produced = end
                    }
                    return written == output.count
                }, completing: { inputLimit(produced: produced, room: output.count - written) { $0 * M + lookahead } }, makeRoom: { consumed in
                    // Keep what the next group reads (never past the input that has arrived).
                    let keep = min(produced + bank.firstOffset, consumed / M)
                    let drop = keep - base
                    if drop > 0 {
                        let held = consumed - base * M   // samples in the history
                        if held > drop * M { x.update(from: x + drop * M, count: held - drop * M) }
                        let most = held   // expanded vectors
                        let shift = drop * M
                        if most > shift {
                            v.update(from: v + shift, count: most - shift)
                            let reversed = v + 2 * W - most
                            (reversed + shift).update(from: reversed, count: most - shift)
                        }
                        base = keep
                    }
                    return M * bank.capacity - (consumed - base * M)
                }, append: { source, n, consumed in
                    bank.append(source, n, clean: cleanInput, to: x, vectors: v, at: consumed - base * M)
                })
            }
        }
        self.base = base
        self.consumed = consumed
        self.produced = produced
        return (used, written)
    }

    mutating func reset() {
        history.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
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
        switch step {
        case 4: computeGroups(v, at: at, count: count, into: out, lane: 4)
        case 6: computeGroups(v, at: at, count: count, into: out, lane: 6)
        case 8: computeGroups(v, at: at, count: count, into: out, lane: 8)
        case let lane: computeGroups(v, at: at, count: count, into: out, lane: lane)
        }
    }

    /// ``compute(_:at:count:into:)`` with `lane = step` vectors per output.
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

    /// Appends `count` input samples at history position `at`, NaN and ±infinity as 0 (``zeroNonFinite``, as
    /// every path), and rebuilds the expanded vectors the new samples appear in.
    @inline(__always)
    func append(_ source: UnsafePointer<Float>, _ count: Int, clean: Bool, to x: UnsafeMutablePointer<Float>,
                vectors v: UnsafeMutablePointer<SIMD4<Float>>, at: Int) {
        let M = step, W = step * stride
        (x + at).update(from: source, count: count)
        if !clean { zeroNonFinite(x + at, count) }
        // E[p] reads x[p ... p + 3M]: rows from at - 3M on see a new sample. Four rows per step, from a multiple
        // of four (a few rows before the first new one are rebuilt unchanged; rows past the end read stale
        // history and are rebuilt when it arrives).
        let first = max(0, at - 3 * M) & ~3, end = at + count
        var f = v + first, r = v + (2 &* W &- 1 &- first)
        for p in Swift.stride(from: first, to: end, by: 4) {
            let rows = transposed(x + p, M)
            f[0] = rows.0; f[1] = rows.1; f[2] = rows.2; f[3] = rows.3
            r[0] = rows.0; r[-1] = rows.1; r[-2] = rows.2; r[-3] = rows.3
            f += 4
            r -= 4
        }
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
