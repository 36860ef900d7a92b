import RealModule

/// A polyphase filter for small ratios `L / M` computed by FFT convolution, for the `high` preset: its long filters
/// cost a fraction of the direct form's multiply-adds, at the price of working in frames.
///
/// Output `k = nL + q` (phase `q`) of the polyphase filter reads inputs `nM + floor(qM / L) + t`: split by input
/// residue `r = i mod M` into `M` streams `x_r[m] = x[mM + r]`, each output phase is a sum of `M` plain
/// correlations at the rate `inputRate / M` (every ratio here has it in common with `outputRate / L`):
/// `y_q[n] = Σ_r Σ_a g_qr[a] × x_r[n + a]`. Those run by overlap-save on frames of `size` real samples, each frame
/// giving `block = size - span + 1` outputs per phase.
///
/// Real frames ride in complex transforms in one of two ways (``Packing``), whichever the cost model finds cheaper
/// within the lag:
/// - **halves**: a frame rides in a transform of half its size (even samples as the real part, odd ones as the
///   imaginary part), and the convolution never leaves that packed form: with `Z` the packed frame's spectrum and
///   `Z̃[k] = conj(Z[-k])`, the packed output's spectrum is `W = α Z + β Z̃`, where `α`, `β` come from the filter's
///   spectrum `G` at `k` and `k + size/2`: `α = (G⁺ - sin(2πk/size) G⁻) / 2`, `β = i cos(2πk/size) G⁻ / 2`
///   (`G^± = G[k] ± G[k + size/2]`). A frame costs `M` forward and `L` inverse transforms of `size / 2` points and
///   waits for no other frame. In the transform's scrambled order, `-k` of a vector's four bins is, but for the first
///   sixteen positions, another vector's bins in reverse lane order: one shuffle.
/// - **pairs**: two consecutive frames ride in one transform of their size, one as the real part, one as the
///   imaginary part; every filter is real, so their results come back apart with no unpacking. The first frame's
///   outputs wait for the second: twice the lag of a frame, for the plainest products. 48 kHz -> 24 kHz takes it:
///   there the next frame size up would pass the lag by 0.02 ms.
///
/// The frames sit at fixed positions of the stream, so the output does not depend on the chunking; it is the same
/// convolution as the direct stages up to float rounding in another order (differences under 2e-6 of full scale).
/// Outputs leave a step (one frame, or a pair) at a time: the output lags the input by the filter's lookahead plus up
/// to a step (``maximumLag``), with the frame chosen so that the mean stays within half of soxr HQ's streaming
/// latency.
final class FastConvolutionBank: @unchecked Sendable {   // immutable after init: safe to share
    /// The reduced ratio `L / M`.
    let phases: Int
    let step: Int
    /// How frames ride in transforms (see the type's documentation).
    enum Packing { case halves, pairs }
    let packing: Packing
    /// Frames per step: 1 for halves, 2 for pairs.
    let framesPerStep: Int
    /// The transform: `size / 2` points for halves, `size` for pairs.
    let fft: SplitFFT
    /// Real samples per frame.
    let size: Int
    /// Stream samples each output reads, from `first` (negative: before its position) to `first + span - 1`.
    let span: Int
    let first: Int
    /// Outputs per phase per frame (`size - span + 1`).
    let block: Int
    /// For each `(q, r)`, `q × M + r`, in the transform's scrambled order and scaled by one over its size for the
    /// unnormalized inverse: halves, `α` real and imaginary parts then `β`'s; pairs, `G`'s real and imaginary
    /// parts (`fft.size / 4` vectors each).
    let spectra: UnsafeMutablePointer<SIMD4<Float>>
    /// Halves: for each vector of the transform, the vector holding its bins' negatives in reverse lane order, or -1;
    /// for those at -1, `mirrorLanes[4v + j]` is the position of lane `j`'s negative.
    let mirrorVector: [Int]
    let mirrorLanes: [Int]
    /// Real multiplies per output sample (butterflies and pointwise products).
    let cost: Double
    /// Input samples past an output's position that it waits for, at most: when it is the first of its step (the
    /// filter's lookahead plus a step).
    let maximumLag: Int

    /// Ratios this stage takes (as the block polyphase stage).
    static let maximumPhases = 8
    static let maximumStep = 8

    /// Real multiplies per output sample with frames of `size` samples (the model that picks the plan): butterflies,
    /// pointwise products, and for halves the negatives' shuffles.
    private static func plannedCost(size: Int, span: Int, L: Int, M: Int, packing: Packing) -> Double {
        let block = size - span + 1, points = packing == .halves ? size / 2 : size
        let transform = Double(points) * 2 * (Double(points.trailingZeroBitCount) - 2) + Double(points)
        switch packing {
        case .halves:
            return (Double(L + M) * transform + Double(8 * L * M * points + 2 * M * points)) / Double(block * L)
        case .pairs:
            return (Double(L + M) * transform + Double(4 * L * M * points)) / Double(2 * block * L)
        }
    }

    /// The stage for a polyphase bank, with the cheapest frame size and packing whose mean lag (lookahead plus half
    /// a step) stays within `meanLag` seconds; nil when the ratio is not small or no plan fits.
    init?(_ bank: PolyphaseBank, meanLag: Double) {
        let L = bank.phases, M = bank.step, T = bank.taps, half = T / 2
        guard L <= Self.maximumPhases, M <= Self.maximumStep, L > 1 || M > 1 else { return nil }
        // Every non-zero tap as (phase q, stream r, offset a): phase q reads bank row (qM mod L) from input
        // nM + floor(qM / L) - half + 1 on.
        var taps: [(q: Int, r: Int, a: Int, value: Double)] = []
        for q in 0..<L {
            let row = q * M % L, shift = q * M / L
            for t in 0..<T where bank.coefficients[row * T + t] != 0 {
                let s = shift - half + 1 + t
                let r = (s % M + M) % M
                taps.append((q, r, (s - r) / M, Double(bank.coefficients[row * T + t])))
            }
        }
        guard let lo = taps.map(\.a).min(), let hi = taps.map(\.a).max(), lo <= 0 else { return nil }
        let span = hi - lo + 1
        let rate = Double(bank.inputRate) / Double(M)
        var best: (size: Int, packing: Packing, cost: Double)?
        for packing in [Packing.halves, .pairs] {
            let frames = packing == .halves ? 1.0 : 2.0
            var size = 32
            while size <= 8192 {
                let block = size - span + 1
                if block >= 8, (Double(hi) + frames * Double(block) / 2) / rate <= meanLag {
                    let cost = Self.plannedCost(size: size, span: span, L: L, M: M, packing: packing)
                    if best == nil || cost < best!.cost { best = (size, packing, cost) }
                }
                size *= 2
            }
        }
        guard let best else { return nil }
        let N = best.size
        phases = L
        step = M
        self.size = N
        self.span = span
        first = lo
        block = N - span + 1
        packing = best.packing
        framesPerStep = best.packing == .halves ? 1 : 2
        fft = SplitFFT(size: best.packing == .halves ? N / 2 : N)
        let H = fft.size, n = H / 4
        cost = best.cost
        maximumLag = M * (hi + framesPerStep * (N - span + 1)) - 1
        // Where each bin's negative lies (halves only).
        let bins = fft.bins
        var position = [Int](repeating: 0, count: H)
        for (p, k) in bins.enumerated() { position[k] = p }
        let negative = packing == .halves ? bins.map { position[(H - $0) % H] } : []
        mirrorVector = negative.isEmpty ? [] : (0..<n).map { v in
            let w = negative[4 * v + 3] / 4
            return (0..<4).allSatisfy({ negative[4 * v + $0] == 4 * w + 3 - $0 }) ? w : -1
        }
        mirrorLanes = negative
        // Each (q, r) filter reversed into a frame (a correlation is a convolution with the reversed filter, so
        // outputs sit at frame positions span - 1 ...), its spectrum taken exactly in Double.
        let arrays = packing == .halves ? 4 : 2
        spectra = .allocate(capacity: arrays * L * M * n)
        let out = UnsafeMutableRawPointer(spectra).assumingMemoryBound(to: Float.self)
        for q in 0..<L {
            for r in 0..<M {
                let frame = taps.filter { $0.q == q && $0.r == r }.map { (position: span - 1 - ($0.a - lo), value: $0.value) }
                func spectrum(_ k: Int) -> (Double, Double) {
                    var sr = 0.0, si = 0.0
                    for (position, value) in frame {
                        let angle = -2 * Double.pi * Double(k * position % N) / Double(N)
                        sr += value * Double.cos(angle)
                        si += value * Double.sin(angle)
                    }
                    return (sr, si)
                }
                let base = out + arrays * (q * M + r) * H
                for (p, k) in bins.enumerated() {
                    if packing == .pairs {
                        let (gr, gi) = spectrum(k)
                        base[p] = Float(gr / Double(H))
                        base[H + p] = Float(gi / Double(H))
                        continue
                    }
                    let (g0r, g0i) = spectrum(k), (g1r, g1i) = spectrum(k + H)
                    let plusR = g0r + g1r, plusI = g0i + g1i, minusR = g0r - g1r, minusI = g0i - g1i
                    let theta = 2 * Double.pi * Double(k) / Double(N)
                    let sine = Double.sin(theta), cosine = Double.cos(theta)
                    // α = (G⁺ - sin G⁻) / 2, β = i cos G⁻ / 2, both over H for the inverse.
                    base[p] = Float((plusR - sine * minusR) / 2 / Double(H))
                    base[H + p] = Float((plusI - sine * minusI) / 2 / Double(H))
                    base[2 * H + p] = Float(-cosine * minusI / 2 / Double(H))
                    base[3 * H + p] = Float(cosine * minusR / 2 / Double(H))
                }
            }
        }
    }

    deinit { spectra.deallocate() }

    /// Steps complete once `total` input samples have arrived.
    func steps(through total: Int) -> Int {
        let last = span - 1 + first   // the newest stream offset an output reads
        let streamed = total / step - framesPerStep * block - last
        return streamed < 0 ? 0 : streamed / (framesPerStep * block) + 1
    }

    /// Input samples that complete step `s`.
    func threshold(_ s: Int) -> Int { step * ((s + 1) * framesPerStep * block + span - 1 + first) }
}

/// The streaming state of a ``FastConvolutionBank`` (the ``BlockStage`` contract).
struct FastConvolution: BlockStage {
    let bank: FastConvolutionBank
    /// The `M` streams, `capacity` samples each: stream `r`'s sample `i` is `x_r[base + i]`, NaN and ±infinity as 0.
    private var streams: [Float]
    /// The work of one step: for each stream its spectrum (and for halves its negatives'), real and imaginary
    /// parts, then the accumulator, `fft.size / 4` vectors each.
    private var work: [SIMD4<Float>]
    /// The outputs of the last step computed, in order.
    private var pending: [Float]
    /// Steps computed.
    private var computed = 0
    private(set) var consumed = 0
    private(set) var produced = 0
    private let capacity: Int

    init(bank: FastConvolutionBank) {
        self.bank = bank
        capacity = bank.size + bank.framesPerStep * bank.block
        streams = [Float](repeating: 0, count: bank.step * capacity)
        work = [SIMD4<Float>](repeating: .zero, count: ((bank.packing == .halves ? 4 : 2) * bank.step + 2) * bank.fft.size / 4)
        pending = [Float](repeating: 0, count: bank.framesPerStep * bank.block * bank.phases)
    }

    func readyCount(forInput count: Int) -> Int {
        bank.steps(through: consumed + count) * bank.framesPerStep * bank.block * bank.phases - produced
    }


    /// Outputs leave a step at a time: beside the ratio, the step a full output left waiting and the one the
    /// input completes.
    var phases: Int { bank.phases }
    var step: Int { bank.step }

    func maximumOutputCount(forInput count: Int) -> Int {
        let perStep = bank.framesPerStep * bank.block * bank.phases
        return min(Int.max / 2, directStageBound(count, phases: bank.phases, step: bank.step) + 2 * perStep)
    }

    mutating func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> (consumed: Int, produced: Int) {
        let M = bank.step, hop = bank.framesPerStep * bank.block, perStep = hop * bank.phases, capacity = self.capacity
        var computed = self.computed, consumed = self.consumed, produced = self.produced
        var used = 0, written = 0
        streams.withUnsafeMutableBufferPointer { streams in
            pending.withUnsafeMutableBufferPointer { pending in
                work.withUnsafeMutableBufferPointer { work in
                    let x = streams.baseAddress!
                    while true {
                        let ready = computed * perStep
                        if produced < ready, written < output.count {
                            let n = min(ready - produced, output.count - written)
                            (output.baseAddress! + written).update(from: pending.baseAddress! + (produced - ready + perStep), count: n)
                            produced += n
                            written += n
                        }
                        // A full output still takes the input that completes no further output.
                        let threshold = bank.threshold(computed)
                        let stop = produced == ready && written < output.count ? threshold : threshold - 1
                        let n = min(input.count - used, stop - consumed)
                        if n > 0 {
                            let base = computed * hop + bank.first
                            let source = input.baseAddress! + used
                            if M == 1 {
                                let at = x + (consumed - base)
                                at.update(from: source, count: n)
                                zeroNonFinite(at, n)
                            } else if M == 2 {
                                // Both streams in one pass: two loads feed four samples of each.
                                let r0 = consumed & 1
                                deinterleave(source, n,
                                             into: x + (r0 * capacity + consumed / 2 - base),
                                             and: x + ((1 - r0) * capacity + (consumed + 1) / 2 - base))
                            } else {
                                // Each stream gathers every M-th sample, from the first of its residue.
                                for r in 0..<M {
                                    let skip = ((r - consumed) % M + M) % M
                                    guard skip < n else { continue }
                                    let firstIndex = consumed + skip
                                    let dst = x + (r * capacity + firstIndex / M - base)
                                    let count = (n - skip + M - 1) / M
                                    gather(source + skip, count, stride: M, into: dst, finite: true)
                                }
                            }
                            used += n
                            consumed += n
                        }
                        guard consumed == threshold else { break }
                        if bank.packing == .halves {
                            bank.computeFrame(streams: x, capacity: capacity, work: work.baseAddress!, into: pending.baseAddress!)
                        } else {
                            bank.computePair(streams: x, capacity: capacity, work: work.baseAddress!, into: pending.baseAddress!)
                        }
                        computed += 1
                        // The next step starts a hop on.
                        let drop = hop, keep = (consumed + M - 1) / M - (computed * hop + bank.first)
                        for r in 0..<M where keep > 0 {
                            (x + r * capacity).update(from: x + r * capacity + drop, count: keep)
                        }
                    }
                }
            }
        }
        self.computed = computed
        self.consumed = consumed
        self.produced = produced
        return (used, written)
    }

    mutating func reset() {
        streams.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        computed = 0
        consumed = 0
        produced = 0
    }
}

extension FastConvolutionBank {
    /// Computes the `block × L` outputs of the frame that starts at the streams' first sample.
    func computeFrame(streams x: UnsafeMutablePointer<Float>, capacity: Int, work: UnsafeMutablePointer<SIMD4<Float>>,
                      into out: UnsafeMutablePointer<Float>) {
        let L = phases, M = step, n = fft.size / 4, B = block, H = fft.size
        for r in 0..<M {
            // The frame packed (even samples real, odd imaginary), transformed, and its bins' negatives beside it.
            let zr = work + 4 &* r &* n, zi = zr + n, mr = zi + n, mi = mr + n
            let s = x + r &* capacity
            gather(s, H, stride: 2, into: UnsafeMutableRawPointer(zr).assumingMemoryBound(to: Float.self), finite: false)
            gather(s + 1, H, stride: 2, into: UnsafeMutableRawPointer(zi).assumingMemoryBound(to: Float.self), finite: false)
            fft.forward(zr, zi)
            mirrorVector.withUnsafeBufferPointer { mirror in
                var v = 0
                while v < n {
                    let w = mirror[v]
                    if w >= 0 {
                        let a = zr[w], b = zi[w]
                        mr[v] = SIMD4(a[3], a[2], a[1], a[0])
                        mi[v] = SIMD4(b[3], b[2], b[1], b[0])
                    } else {
                        mirrorLanes.withUnsafeBufferPointer { lanes in
                            let fr = UnsafeRawPointer(zr).assumingMemoryBound(to: Float.self)
                            let fi = UnsafeRawPointer(zi).assumingMemoryBound(to: Float.self)
                            let p = 4 &* v
                            mr[v] = SIMD4(fr[lanes[p]], fr[lanes[p &+ 1]], fr[lanes[p &+ 2]], fr[lanes[p &+ 3]])
                            mi[v] = SIMD4(fi[lanes[p]], fi[lanes[p &+ 1]], fi[lanes[p &+ 2]], fi[lanes[p &+ 3]])
                        }
                    }
                    v &+= 1
                }
            }
        }
        let accRe = work + 4 &* M &* n, accIm = accRe + n
        for q in 0..<L {
            for r in 0..<M {
                let zr = UnsafePointer(work + 4 &* r &* n), zi = zr + n, mr = zi + n, mi = mr + n
                let ar = UnsafePointer(spectra + 4 &* (q &* M &+ r) &* n), ai = ar + n, br = ai + n, bi = br + n
                // W += α Z + β conj(Z[-k]).
                var j = 0
                if r == 0 {
                    while j < n {
                        let a = zr[j], b = zi[j], c = mr[j], d = mi[j]
                        accRe[j] = ar[j] * a - ai[j] * b + br[j] * c + bi[j] * d
                        accIm[j] = ar[j] * b + ai[j] * a + bi[j] * c - br[j] * d
                        j &+= 1
                    }
                } else {
                    while j < n {
                        let a = zr[j], b = zi[j], c = mr[j], d = mi[j]
                        accRe[j] += ar[j] * a - ai[j] * b + br[j] * c + bi[j] * d
                        accIm[j] += ar[j] * b + ai[j] * a + bi[j] * c - br[j] * d
                        j &+= 1
                    }
                }
            }
            fft.inverse(accRe, accIm)
            // Frame position span - 1 + i is output i: even positions in the real part, odd in the imaginary.
            let yr = UnsafeRawPointer(accRe).assumingMemoryBound(to: Float.self)
            let yi = UnsafeRawPointer(accIm).assumingMemoryBound(to: Float.self)
            unpack(yr, yi, from: span - 1, count: B, into: out + q, stride: L)
        }
    }
}

extension FastConvolutionBank {
    /// Computes the `2 × block × L` outputs of the pair of frames that starts at the streams' first sample.
    func computePair(streams x: UnsafeMutablePointer<Float>, capacity: Int, work: UnsafeMutablePointer<SIMD4<Float>>,
                     into out: UnsafeMutablePointer<Float>) {
        let L = phases, M = step, n = fft.size / 4, B = block, N = size
        // Stream r's two frames, as one complex signal.
        for r in 0..<M {
            let re = work + 2 &* r &* n, im = re + n
            UnsafeMutableRawPointer(re).copyMemory(from: x + r &* capacity, byteCount: 4 &* N)
            UnsafeMutableRawPointer(im).copyMemory(from: x + (r &* capacity &+ B), byteCount: 4 &* N)
            fft.forward(re, im)
        }
        let accRe = work + 2 &* M &* n, accIm = accRe + n
        for q in 0..<L {
            for r in 0..<M {
                let zr = UnsafePointer(work + 2 &* r &* n), zi = zr + n
                let gr = UnsafePointer(spectra + 2 &* (q &* M &+ r) &* n), gi = gr + n
                var j = 0
                if r == 0 {
                    while j < n {
                        accRe[j] = zr[j] * gr[j] - zi[j] * gi[j]
                        accIm[j] = zr[j] * gi[j] + zi[j] * gr[j]
                        j &+= 1
                    }
                } else {
                    while j < n {
                        accRe[j] += zr[j] * gr[j] - zi[j] * gi[j]
                        accIm[j] += zr[j] * gi[j] + zi[j] * gr[j]
                        j &+= 1
                    }
                }
            }
            fft.inverse(accRe, accIm)
            // Frame position span - 1 + i is output i of the frame: the first frame in the real part, the second in
            // the imaginary part.
            let yr = UnsafeRawPointer(accRe).assumingMemoryBound(to: Float.self) + (span - 1)
            let yi = UnsafeRawPointer(accIm).assumingMemoryBound(to: Float.self) + (span - 1)
            if L == 1 {
                out.update(from: yr, count: B)
                (out + B).update(from: yi, count: B)
            } else {
                var o = out + q, i = 0
                while i < B {
                    o.pointee = yr[i]
                    (o + B &* L).pointee = yi[i]
                    o += L
                    i &+= 1
                }
            }
        }
    }
}

/// Writes samples `from ..< from + count` of the signal packed as `re[m] = y[2m]`, `im[m] = y[2m + 1]` to every
/// `stride`-th place of `out`.
@inline(__always)
private func unpack(_ re: UnsafePointer<Float>, _ im: UnsafePointer<Float>, from: Int, count: Int,
                    into out: UnsafeMutablePointer<Float>, stride: Int) {
    var o = out, i = 0, m = from >> 1
    if from & 1 == 1, count > 0 {
        o.pointee = im[m]
        o += stride
        m &+= 1
        i = 1
    }
    while i &+ 2 <= count {
        o.pointee = re[m]
        (o + stride).pointee = im[m]
        o += 2 &* stride
        m &+= 1
        i &+= 2
    }
    if i < count { o.pointee = re[m] }
}

/// Copies every `stride`-th sample of `source`, `count` of them, to `out`; with `finite`, NaN and ±infinity become 0
/// on the way (as ``zeroNonFinite``, without a second pass). Strides of two and three take four samples per step
/// (two loads and shuffles), where a lane-by-lane loop costs eight instructions a sample.
@inline(__always)
private func gather(_ source: UnsafePointer<Float>, _ count: Int, stride: Int, into out: UnsafeMutablePointer<Float>,
                    finite: Bool) {
    var i = 0
    if stride == 2 {
        let q = UnsafeRawPointer(source), o = UnsafeMutableRawPointer(out)
        // The last sample read by a step of four is 2i + 6: stay within the source's 2 count - 1 samples.
        while i &+ 4 <= count {
            let a = q.loadUnaligned(fromByteOffset: 8 &* i, as: SIMD4<Float>.self)
            let b = q.loadUnaligned(fromByteOffset: 8 &* i &+ 12, as: SIMD4<Float>.self)
            var v = SIMD4(a[0], a[2], b[1], b[3])
            if finite { v.replace(with: 0, where: (v - v) .!= 0) }
            o.storeBytes(of: v, toByteOffset: 4 &* i, as: SIMD4<Float>.self)
            i &+= 4
        }
    } else if stride == 3 {
        let q = UnsafeRawPointer(source), o = UnsafeMutableRawPointer(out)
        // Samples 3i ... 3i + 9 as two loads; the last one read is the step's last sample.
        while i &+ 4 <= count {
            let a = q.loadUnaligned(fromByteOffset: 12 &* i, as: SIMD4<Float>.self)
            let b = q.loadUnaligned(fromByteOffset: 12 &* i &+ 24, as: SIMD4<Float>.self)
            var v = SIMD4(a[0], a[3], b[0], b[3])
            if finite { v.replace(with: 0, where: (v - v) .!= 0) }
            o.storeBytes(of: v, toByteOffset: 4 &* i, as: SIMD4<Float>.self)
            i &+= 4
        }
    }
    var src = source + stride &* i
    while i < count {
        let v = src.pointee
        out[i] = !finite || v - v == 0 ? v : 0
        src += stride
        i &+= 1
    }
}

/// Deals `source`'s `count` samples to two streams, even positions to `a`, odd ones to `b`, NaN and ±infinity as 0
/// (as ``zeroNonFinite``).
@inline(__always)
private func deinterleave(_ source: UnsafePointer<Float>, _ count: Int, into a: UnsafeMutablePointer<Float>,
                          and b: UnsafeMutablePointer<Float>) {
    let q = UnsafeRawPointer(source), oa = UnsafeMutableRawPointer(a), ob = UnsafeMutableRawPointer(b)
    var i = 0
    while 2 &* i &+ 8 <= count {
        let u = q.loadUnaligned(fromByteOffset: 8 &* i, as: SIMD4<Float>.self)
        let w = q.loadUnaligned(fromByteOffset: 8 &* i &+ 16, as: SIMD4<Float>.self)
        var even = SIMD4(u[0], u[2], w[0], w[2]), odd = SIMD4(u[1], u[3], w[1], w[3])
        even.replace(with: 0, where: (even - even) .!= 0)
        odd.replace(with: 0, where: (odd - odd) .!= 0)
        oa.storeBytes(of: even, toByteOffset: 4 &* i, as: SIMD4<Float>.self)
        ob.storeBytes(of: odd, toByteOffset: 4 &* i, as: SIMD4<Float>.self)
        i &+= 4
    }
    var j = 2 &* i
    while j < count {
        let v = source[j]
        if j & 1 == 0 { a[j >> 1] = v - v == 0 ? v : 0 } else { b[j >> 1] = v - v == 0 ? v : 0 }
        j &+= 1
    }
}
