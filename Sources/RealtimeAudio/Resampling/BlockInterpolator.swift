/// An interpolator by an integer `L` (`M = 1`: 8k -> 24k, 24k -> 48k, 8k -> 16k) that computes sixteen
/// consecutive outputs of one phase per pass, four per vector.
///
/// Why: the one-output dot product (``PolyphaseStage``) pays a horizontal reduction and a loop set-up per output.
/// Outputs `nL + p` for sixteen consecutive inputs `n` share phase `p`'s coefficients, and their windows are
/// consecutive: with the input **expanded** so that vector `E[m]` holds `x[m] ... x[m + 3]`, four of them are one
/// aligned vector per tap, and a tap for sixteen outputs is four loads, multiplies and adds with no reduction. A
/// phase that is a plain copy (a windowed sinc cut at the input's Nyquist frequency has one) copies vectors.
///
/// Each output is the same sequence of lane-wise operations wherever it falls in a group, so the result does not
/// depend on the chunking.
final class BlockInterpolatorBank: @unchecked Sendable {   // immutable after init: safe to share
    /// Largest `L` this layout takes (a group spans `16 L` outputs, recomputed in part at a chunk boundary).
    static let maximumPhases = 8

    /// The upsampling factor.
    let phases: Int
    /// Input samples past an output's own input position that it reads, and before it.
    let lookahead: Int
    let lookback: Int
    /// Taps per phase (even), from `lookback` samples before the output's position on.
    let taps: Int
    /// Broadcast coefficients, `taps` per phase (each repeated in four lanes, so a multiply takes them from memory).
    let coefficients: UnsafeMutablePointer<SIMD4<Float>>
    /// For a phase that copies one input, its offset from the window's start; -1 for a filtered phase.
    let copy: [Int]
    /// 1, read from memory: the kernel takes two taps per step, and an offset LLVM cannot see keeps it from
    /// relating the adjacent vectors (it would split them into lanes and shuffle them back).
    let one: Int
    /// Input samples of history per refill, and the history's size in samples (expanded vectors).
    let capacity: Int
    let size: Int
    /// Multiplies per output sample.
    let cost: Double

    private static let block = 512

    /// The bank of a polyphase stage with `M = 1` (its rows in the ``PolyphaseBank`` layout).
    init(_ bank: PolyphaseBank) {
        let L = bank.phases, T = bank.taps, centre = T / 2 - 1
        phases = L
        let rows = (0..<L).map { p in (0..<T).map { bank.coefficients[p * T + $0] } }
        var copy = [Int](repeating: -1, count: L)
        var first = T, last = 0
        for p in 0..<L {
            let nonZero = rows[p].indices.filter { rows[p][$0] != 0 }
            if nonZero.count == 1, rows[p][nonZero[0]] == 1 {
                copy[p] = nonZero[0]
            } else if let a = nonZero.first, let b = nonZero.last {
                first = min(first, a)
                last = max(last, b)
            }
        }
        if first > last { first = centre; last = centre }   // every phase a copy
        for p in 0..<L where copy[p] >= 0 {
            first = min(first, copy[p])
            last = max(last, copy[p])
        }
        var count = last - first + 1
        if count % 2 == 1 { count += 1 }
        taps = count
        lookback = centre - first
        lookahead = last - centre
        self.copy = copy.map { $0 < 0 ? -1 : $0 - first }
        one = 1
        let span = count + 16 + 8
        capacity = span + Self.block
        size = capacity + span + 8
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

/// The streaming state of a ``BlockInterpolatorBank`` (the ``BlockStage`` contract).
struct BlockInterpolator: BlockStage {
    let bank: BlockInterpolatorBank
    /// The input since sample `start`, NaN and ±infinity replaced by 0, and its expanded vectors:
    /// `vectors[i]` holds `history[i ... i + 3]`.
    private var history: [Float]
    private var vectors: [SIMD4<Float>]
    /// Input index of `history[0]` (negative at the start: the zeros before the stream).
    private var start: Int
    private(set) var consumed = 0
    private(set) var produced = 0

    init(bank: BlockInterpolatorBank) {
        self.bank = bank
        history = [Float](repeating: 0, count: bank.size + 8)
        vectors = [SIMD4<Float>](repeating: .zero, count: bank.size)
        start = -bank.lookback
    }

    func outputCapacity(forInput count: Int) -> Int {
        // Every output of input n is ready once input n + lookahead has arrived.
        max(0, bank.phases * (consumed + count - bank.lookahead) - produced)
    }

    var pendingOutputCount: Int { max(0, bank.phases * consumed - produced) }

    mutating func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> (consumed: Int, produced: Int) {
        let L = bank.phases, lookahead = bank.lookahead
        var start = self.start, consumed = self.consumed, produced = self.produced
        var used = 0, written = 0
        history.withUnsafeMutableBufferPointer { history in
            vectors.withUnsafeMutableBufferPointer { vectors in
                let x = history.baseAddress!, v = vectors.baseAddress!
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * BlockInterpolatorBank.maximumPhases) { scratch in
                    while true {
                        let end = min(max(0, L * (consumed - lookahead)), produced + output.count - written)
                        if end > produced {
                            bank.compute(v, from: produced, to: end, start: start, into: output.baseAddress! + written,
                                         scratch: scratch.baseAddress!)
                            written += end - produced
                            produced = end
                        }
                        var limit = input.count - used
                        // A full output still takes the input that completes no further output.
                        if written == output.count { limit = min(limit, produced / L + lookahead - consumed) }
                        if limit <= 0 { break }
                        // Keep what the next group reads, then append.
                        let keep = min(produced / L - bank.lookback, consumed)
                        let drop = keep - start
                        if drop > 0 {
                            let held = consumed - start
                            if held > drop {
                                x.update(from: x + drop, count: held - drop)
                                v.update(from: v + drop, count: held - drop)
                            }
                            start = keep
                        }
                        let n = min(limit, bank.capacity - (consumed - start))
                        if n <= 0 { break }
                        let at = consumed - start
                        (x + at).update(from: input.baseAddress! + used, count: n)
                        zeroNonFinite(x + at, n)
                        // Vectors from at - 3 on include a new sample.
                        for m in max(0, at - 3)..<(at + n) {
                            v[m] = UnsafeRawPointer(x + m).loadUnaligned(as: SIMD4<Float>.self)
                        }
                        used += n
                        consumed += n
                    }
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

extension BlockInterpolatorBank {
    /// Writes outputs `from ..< to`, sixteen inputs' worth per pass, through `scratch` (`16 L` floats).
    @inline(__always)
    func compute(_ v: UnsafeMutablePointer<SIMD4<Float>>, from: Int, to: Int, start: Int,
                 into out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let L = phases, c = coefficients, next = one
        var k = from
        while k < to {
            let n = k / L, groupStart = n * L, groupEnd = min(to, groupStart + 16 * L)
            // The window of input n starts at vector n - lookback; relative to the history, n - start - lookback.
            let window = v + (n - start - lookback)
            for p in 0..<L {
                let block: OutputBlock
                if copy[p] >= 0 {
                    let w = window + copy[p]
                    block = OutputBlock(v0: w[0], v1: w[4], v2: w[8], v3: w[12])
                } else {
                    block = plainRun(window, c + p * taps, next, taps)
                }
                // Lane i of vector g is the output of input n + 4g + i, phase p.
                withUnsafeBytes(of: block) { b in
                    for i in 0..<16 { scratch[i * L + p] = b.load(fromByteOffset: 4 * i, as: Float.self) }
                }
            }
            (out + (k - from)).update(from: scratch + (k - groupStart), count: groupEnd - k)
            k = groupEnd
        }
    }
}

/// Vector `g` of the block gets `Σ c[t] × E[t + 4g]` over aligned vectors, for an even `count`; `next` is 1 (see
/// ``BlockInterpolatorBank/one``). One byte offset steps both arrays.
@inline(__always)
private func plainRun(_ e: UnsafePointer<SIMD4<Float>>, _ c: UnsafePointer<SIMD4<Float>>, _ next: Int, _ count: Int) -> OutputBlock {
    var s = OutputBlock(), t = OutputBlock()
    let n = count &* 16
    let e0 = UnsafeRawPointer(e) + n, e1 = UnsafeRawPointer(e + next) + n
    let c0 = UnsafeRawPointer(c) + n, c1 = UnsafeRawPointer(c + next) + n
    var i = 0 &- n
    while i != 0 {
        let w = c0.load(fromByteOffset: i, as: SIMD4<Float>.self), u = c1.load(fromByteOffset: i, as: SIMD4<Float>.self)
        s.v0 += e0.load(fromByteOffset: i, as: SIMD4<Float>.self) * w
        s.v1 += e0.load(fromByteOffset: i &+ 64, as: SIMD4<Float>.self) * w
        s.v2 += e0.load(fromByteOffset: i &+ 128, as: SIMD4<Float>.self) * w
        s.v3 += e0.load(fromByteOffset: i &+ 192, as: SIMD4<Float>.self) * w
        t.v0 += e1.load(fromByteOffset: i, as: SIMD4<Float>.self) * u
        t.v1 += e1.load(fromByteOffset: i &+ 64, as: SIMD4<Float>.self) * u
        t.v2 += e1.load(fromByteOffset: i &+ 128, as: SIMD4<Float>.self) * u
        t.v3 += e1.load(fromByteOffset: i &+ 192, as: SIMD4<Float>.self) * u
        i &+= 32
    }
    s.add(t)
    return s
}
