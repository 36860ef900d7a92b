import RealModule

/// A decimator by a small integer `M` with a symmetric filter, its input dealt into `M` streams so that thirty-two
/// consecutive outputs read thirty-two consecutive values of each: the decimations by 2 and 3 (24 kHz -> 8 kHz,
/// every exact halving) and the ÷2 and ÷3 prestages of large downsamplings (48 kHz -> 16 kHz ahead of
/// 16 kHz -> 8 kHz, 44.1 kHz -> 14.7 kHz ahead of 14.7 kHz -> 8 kHz).
///
/// Why: output `n` is `y[n] = h_0 x[Mn] + Σ_d h_d (x[Mn + d] + x[Mn - d])`. With stream `S_p[m] = x[Mm + p]`,
/// `x[Mn ± d]` is one stream read at `n` plus a fixed offset, so four consecutive outputs' samples are four
/// consecutive stream values: a pair of taps is two unaligned loads, an add, a multiply and an add for four outputs,
/// with no reduction across lanes and no per-output set-up. Distances `d = r + tM` share a stream pair, so the taps
/// run in `M` runs (`r = 0 ... M - 1`), each walking one stream forward and its mirror backward; a half-band's
/// even run is all zero and skipped.
///
/// Each output is the same sequence of lane-wise operations wherever it falls, in a group of thirty-two or of four,
/// so chunking never changes the result.
final class DealtDecimatorBank: @unchecked Sendable {   // immutable after init: safe to share
    /// Pairs of taps at distances `d = r + tM` for `t` in the run: forward reads stream `r` at `n + t`, backward
    /// reads stream `(M - r) mod M` at `n - t` (`r = 0`) or `n - t - 1`. Offsets are in floats from stream 0's value
    /// `n`, streams laid one segment apart.
    struct Run {
        let forward: Int
        let backward: Int
        let firstWeight: Int
        let count: Int
    }

    /// The downsampling factor `M`.
    let step: Int
    /// `h_0`, the centre tap.
    let centre: Float
    /// `h_d` of every run, run after run, each in four lanes.
    let weights: [SIMD4<Float>]
    /// Runs with stream offsets for a segment of `segment` floats (see `DealtDecimator`).
    let runs: [Run]
    /// Input samples past an output's own position (`Mn`) that it reads: the filter's half-length `D`.
    let lookahead: Int
    /// Stream values before `n` (`reachBack`) and after it (`reachAhead`) that output `n` reads.
    let reachBack: Int
    let reachAhead: Int
    /// Floats per stream segment, and stream values a segment holds before its slack (see `DealtDecimator`).
    let segment: Int
    let capacity: Int
    /// `"halfband ÷2 (10 taps)"`, `"equiripple ÷3 (33 taps)"`: what ``ResamplerFilter/designMethod`` shows.
    let method: String
    /// Multiplies per output sample (one per non-zero pair of taps, and the centre's).
    let cost: Double

    /// Stream values each refill takes, per stream.
    static let block = 512

    /// The bank of the symmetric filter `h_0 = centre`, `h_d = pairs[d - 1]`.
    init(step M: Int, centre: Double, pairs: [Double], method: String) {
        precondition(M >= 2 && !pairs.isEmpty)
        step = M
        self.centre = Float(centre)
        self.method = method
        let D = pairs.count
        lookahead = D
        // Run r takes t from t0 (1 for r = 0: d = 0 is the centre) to the last with r + tM <= D.
        let spans = (0..<M).map { r in Array(stride(from: r == 0 ? 1 : 0, through: r <= D ? (D - r) / M : -1, by: 1)) }
        // Stream-index reach of the runs, to size the segments first.
        reachAhead = spans.compactMap { $0.last }.max() ?? 0
        reachBack = spans.indices.compactMap { r in spans[r].last.map { $0 + (r == 0 ? 0 : 1) } }.max() ?? 0
        capacity = reachBack + reachAhead + Self.block + 16
        segment = capacity + reachAhead + 32
        var runs: [Run] = [], weights: [SIMD4<Float>] = []
        var multiplies = 1
        for r in 0..<M {
            let ts = spans[r]
            let values = ts.map { pairs[r + $0 * M - 1] }
            // A half-band's even distances are all zero: no run.
            guard !ts.isEmpty, values.contains(where: { $0 != 0 }) else { continue }
            let mirror = (M - r) % M
            runs.append(Run(forward: r * segment + ts[0],
                            backward: mirror * segment - ts[0] - (r == 0 ? 0 : 1),
                            firstWeight: weights.count, count: ts.count))
            weights += values.map { SIMD4(repeating: Float($0)) }
            multiplies += ts.count
        }
        self.runs = runs
        self.weights = weights
        cost = Double(multiplies)
    }

    /// The ÷2 prestage on a half-band that keeps `[0, keep]` (cycles per input sample, below 1/4) flat and rejects
    /// by `attenuation` dB everything that would fold onto it.
    convenience init(halfbandKeeping keep: Double, attenuation: Double) {
        self.init(halfband: HalfbandDesign(pass: keep, attenuation: attenuation, granule: 2))
    }

    /// The ÷2 decimator on a half-band design.
    convenience init(halfband design: HalfbandDesign) {
        let J = design.taps.count / 2
        // Non-zero taps at odd distances 2j + 1, halved for the decimator; the centre is 1/2.
        var pairs = [Double](repeating: 0, count: 2 * J - 1)
        for j in 0..<J { pairs[2 * j] = design.taps[J + j] / 2 }
        self.init(step: 2, centre: 0.5, pairs: pairs, method: "\(design.method) ÷2 (\(design.taps.count) taps)")
    }

    /// The ÷`M` decimator on a symmetric polyphase row (the ``PolyphaseBank`` layout: `row` weighs inputs
    /// `n - taps/2 + 1 ... n + taps/2` for the output at input `n`); nil when the row is not symmetric.
    convenience init?(step M: Int, row: [Float], method: String) {
        let centre = row.count / 2 - 1
        func tap(_ j: Int) -> Float { row.indices.contains(j) ? row[j] : 0 }
        let D = max(centre, row.count - 1 - centre)
        guard D >= 1, (1...D).allSatisfy({ abs(tap(centre + $0) - tap(centre - $0)) <= 1e-7 * abs(row[centre]) })
        else { return nil }
        // Trailing zero pairs cost a step each: drop them.
        var pairs = (1...D).map { Double((tap(centre + $0) + tap(centre - $0)) / 2) }
        while pairs.count > 1, pairs.last == 0 { pairs.removeLast() }
        self.init(step: M, centre: Double(row[centre]), pairs: pairs, method: method)
    }

    /// The ÷`M` prestage that keeps `[0, pass]` (cycles per input sample) within `ripple` and rejects by
    /// `attenuation` dB everything that would fold onto `[0, keep]` at the rate `1 / M`: the band from `1/M - keep`
    /// on. Nil when no equiripple design converges.
    convenience init?(step M: Int, pass: Double, keep: Double, attenuation: Double, ripple: Double) {
        let stop = 1 / Double(M) - keep
        guard pass < stop, stop < 0.5 else { return nil }
        let stopRipple = Double.pow(10, -attenuation / 20)
        let estimate = (-10 * Double.log10(ripple * stopRipple) - 13) / (14.6 * (stop - pass)) + 1
        // Odd lengths 2D + 1, searched by D.
        func attempt(_ D: Int) -> [Double]? {
            guard D >= 2, let result = remezLowpass(length: 2 * D + 1, passbandEdge: pass, stopbandEdge: stop,
                                                    stopbandWeight: ripple / stopRipple),
                  result.passbandRipple <= ripple else { return nil }
            let sum = result.taps.reduce(0, +) / result.dcGain
            let taps = result.taps.map { $0 / sum }
            // Checked on a dense grid, as the half-band designs are.
            guard Self.stopbandLevel(taps, from: stop) <= -attenuation else { return nil }
            return taps
        }
        guard let (D, taps) = shortestLength(from: max(2, Int(estimate.rounded(.up)) / 2), granule: 1, attempt)
        else { return nil }
        self.init(step: M, centre: taps[D], pairs: Array(taps[(D + 1)...]), method: "equiripple ÷\(M) (\(2 * D + 1) taps)")
    }

    /// The highest level, in dB, of the odd-length symmetric filter `taps` from `stop` to 1/2 cycle per sample.
    static func stopbandLevel(_ taps: [Double], from stop: Double) -> Double {
        let D = taps.count / 2, points = 16 * taps.count
        var worst = 0.0
        for i in 0...points {
            let f = stop + (0.5 - stop) * Double(i) / Double(points)
            var h = taps[D]
            for d in 1...D { h += 2 * taps[D + d] * Double.cos(2 * .pi * f * Double(d)) }
            worst = max(worst, abs(h))
        }
        return 20 * Double.log10(max(worst, 1e-300))
    }
}

/// The streaming state of a `DealtDecimatorBank`: `process` consumes input until it runs out or the output is
/// full (a full output still takes the input that completes no further output), as every stage.
struct DealtDecimator: DecimatingStage {
    let bank: DealtDecimatorBank
    /// `M` segments of `bank.segment` floats: segment `p` holds `S_p[m] = x[Mm + p]` for `m` from `base` on; the slack
    /// past `capacity` is read, never used, by the lanes of a last partial vector. NaN and ±infinity are stored as
    /// they come and zeroed when an output reads one: a non-finite input makes every output that reads it
    /// non-finite, so checking the outputs (a sum and a compare per thirty-two) finds each before it is written, and
    /// the outputs are those of the input with 0 in its place, as a check on entry (a compare per input sample)
    /// would give.
    private var streams: [Float]
    /// Stream index `m` of each segment's first value (negative at the start: the zeros before the stream).
    private var base: Int
    private(set) var consumed = 0
    private(set) var produced = 0
    /// Input another stage has already cleaned of NaN and ±infinity: not checked again.
    private let cleanInput: Bool

    init(bank: DealtDecimatorBank, cleanInput: Bool = false) {
        self.bank = bank
        self.cleanInput = cleanInput
        streams = [Float](repeating: 0, count: bank.step * bank.segment)
        base = -bank.reachBack
    }

    var step: Int { bank.step }
    var lookahead: Int { bank.lookahead }

    mutating func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> (consumed: Int, produced: Int) {
        let bank = self.bank, M = bank.step, D = bank.lookahead, segment = bank.segment, capacity = bank.capacity
        let clean = cleanInput
        var base = self.base, consumed = self.consumed, produced = self.produced
        var used = 0, written = 0
        bank.weights.withUnsafeBufferPointer { w in
            bank.runs.withUnsafeBufferPointer { runs in
                streams.withUnsafeMutableBufferPointer { s in
                    let streams = s.baseAddress!
                    used = refill(from: input, consumed: &consumed, emit: { consumed in
                        let lastInput = consumed - 1 - D
                        let ready = lastInput < 0 ? 0 : lastInput / M + 1
                        let end = min(ready, produced + output.count - written)
                        var done = produced
                        while done < end {
                            // Checked groups stop at the first that holds a NaN or an infinity: its window is
                            // cleaned and it is computed again, unchecked (a finite overflow stays as it came).
                            let head = streams + (done - base)
                            done += compute(head, runs, w.baseAddress!, centre: bank.centre, count: end - done,
                                            check: !clean, into: output.baseAddress! + written + (done - produced))
                            if done < end {
                                let width = end - done >= 32 ? 32 : min(4, end - done)
                                for p in 0..<M {
                                    let first = streams + p * segment + (done - base - bank.reachBack)
                                    for i in 0..<(bank.reachBack + width + bank.reachAhead) where first[i] - first[i] != 0 {
                                        first[i] = 0
                                    }
                                }
                                let again = streams + (done - base)
                                done += compute(again, runs, w.baseAddress!, centre: bank.centre, count: width,
                                                check: false, into: output.baseAddress! + written + (done - produced))
                            }
                        }
                        if end > produced {
                            written += end - produced
                            produced = end
                        }
                        return written == output.count
                    }, completing: { inputLimit(produced: produced, room: output.count - written) { M * $0 + D } }, makeRoom: { consumed in
                        // Keep each stream from produced - reachBack on.
                        let keep = produced - bank.reachBack
                        if keep > base {
                            let held = (consumed + M - 1) / M - base   // values in the fullest stream
                            let drop = keep - base
                            if held > drop {
                                for p in 0..<M {
                                    let start = streams + p * segment
                                    start.update(from: start + drop, count: held - drop)
                                }
                            }
                            base = keep
                        }
                        return M * (base + capacity) - consumed
                    }, append: { source, n, consumed in
                        deal(source, n, from: consumed, step: M, into: streams - base, segment: segment)
                    })
                }
            }
        }
        self.base = base
        self.consumed = consumed
        self.produced = produced
        return (used, written)
    }

    mutating func reset() {
        streams.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        base = -bank.reachBack
        consumed = 0
        produced = 0
    }
}

/// Writes `count` outputs, the first at stream index `s[0]` of stream 0: thirty-two at a time (eight vectors share
/// each weight's load and each run's set-up), then four at a time; a last partial vector computes four and stores
/// what was asked. Every lane runs the same operations in the same order, whichever group it falls in.
/// With `check`, stops before storing a group with an output that is not finite (or a finite sum that overflowed);
/// returns the outputs written.
@inline(__always)
private func compute(_ s: UnsafePointer<Float>, _ runs: UnsafeBufferPointer<DealtDecimatorBank.Run>,
                     _ weights: UnsafePointer<SIMD4<Float>>, centre: Float, count: Int, check: Bool,
                     into out: UnsafeMutablePointer<Float>) -> Int {
    let h0 = SIMD4<Float>(repeating: centre)
    var k = 0
    while count &- k >= 32 {
        let pc = UnsafeRawPointer(s + k)
        var a0 = pc.loadUnaligned(as: SIMD4<Float>.self) * h0
        var a1 = pc.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float>.self) * h0
        var a2 = pc.loadUnaligned(fromByteOffset: 32, as: SIMD4<Float>.self) * h0
        var a3 = pc.loadUnaligned(fromByteOffset: 48, as: SIMD4<Float>.self) * h0
        var a4 = pc.loadUnaligned(fromByteOffset: 64, as: SIMD4<Float>.self) * h0
        var a5 = pc.loadUnaligned(fromByteOffset: 80, as: SIMD4<Float>.self) * h0
        var a6 = pc.loadUnaligned(fromByteOffset: 96, as: SIMD4<Float>.self) * h0
        var a7 = pc.loadUnaligned(fromByteOffset: 112, as: SIMD4<Float>.self) * h0
        for run in runs {
            var ahead = UnsafeRawPointer(s + (k &+ run.forward)), behind = UnsafeRawPointer(s + (k &+ run.backward))
            var c = weights + run.firstWeight
            let end = c + run.count
            // One pair per step: with two, LLVM relates the loads a float apart and splits them into shuffles.
            while c != end {
                let w = c.pointee
                a0 += (ahead.loadUnaligned(as: SIMD4<Float>.self) + behind.loadUnaligned(as: SIMD4<Float>.self)) * w
                a1 += (ahead.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float>.self)
                       + behind.loadUnaligned(fromByteOffset: 16, as: SIMD4<Float>.self)) * w
                a2 += (ahead.loadUnaligned(fromByteOffset: 32, as: SIMD4<Float>.self)
                       + behind.loadUnaligned(fromByteOffset: 32, as: SIMD4<Float>.self)) * w
                a3 += (ahead.loadUnaligned(fromByteOffset: 48, as: SIMD4<Float>.self)
                       + behind.loadUnaligned(fromByteOffset: 48, as: SIMD4<Float>.self)) * w
                a4 += (ahead.loadUnaligned(fromByteOffset: 64, as: SIMD4<Float>.self)
                       + behind.loadUnaligned(fromByteOffset: 64, as: SIMD4<Float>.self)) * w
                a5 += (ahead.loadUnaligned(fromByteOffset: 80, as: SIMD4<Float>.self)
                       + behind.loadUnaligned(fromByteOffset: 80, as: SIMD4<Float>.self)) * w
                a6 += (ahead.loadUnaligned(fromByteOffset: 96, as: SIMD4<Float>.self)
                       + behind.loadUnaligned(fromByteOffset: 96, as: SIMD4<Float>.self)) * w
                a7 += (ahead.loadUnaligned(fromByteOffset: 112, as: SIMD4<Float>.self)
                       + behind.loadUnaligned(fromByteOffset: 112, as: SIMD4<Float>.self)) * w
                ahead += 4
                behind -= 4
                c += 1
            }
        }
        if check {
            // x - x is 0 for every finite x: a non-finite lane anywhere makes the sum's lane non-finite.
            let sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
            if any(sum - sum .!= 0) { return k }
        }
        let o = UnsafeMutableRawPointer(out + k)
        o.storeBytes(of: a0, as: SIMD4<Float>.self)
        o.storeBytes(of: a1, toByteOffset: 16, as: SIMD4<Float>.self)
        o.storeBytes(of: a2, toByteOffset: 32, as: SIMD4<Float>.self)
        o.storeBytes(of: a3, toByteOffset: 48, as: SIMD4<Float>.self)
        o.storeBytes(of: a4, toByteOffset: 64, as: SIMD4<Float>.self)
        o.storeBytes(of: a5, toByteOffset: 80, as: SIMD4<Float>.self)
        o.storeBytes(of: a6, toByteOffset: 96, as: SIMD4<Float>.self)
        o.storeBytes(of: a7, toByteOffset: 112, as: SIMD4<Float>.self)
        k &+= 32
    }
    while k < count {
        var a = UnsafeRawPointer(s + k).loadUnaligned(as: SIMD4<Float>.self) * h0
        for run in runs {
            var ahead = UnsafeRawPointer(s + (k &+ run.forward)), behind = UnsafeRawPointer(s + (k &+ run.backward))
            var c = weights + run.firstWeight
            let end = c + run.count
            while c != end {
                a += (ahead.loadUnaligned(as: SIMD4<Float>.self) + behind.loadUnaligned(as: SIMD4<Float>.self)) * c.pointee
                ahead += 4
                behind -= 4
                c += 1
            }
        }
        if count &- k >= 4 {
            if check, any(a - a .!= 0) { return k }
            UnsafeMutableRawPointer(out + k).storeBytes(of: a, as: SIMD4<Float>.self)
        } else {
            // The lanes past the last output read values not yet arrived: only the stored ones are checked.
            for j in 0..<(count &- k) where check && a[j] - a[j] != 0 { return k }
            for j in 0..<(count &- k) { out[k &+ j] = a[j] }
        }
        k &+= 4
    }
    return count
}

/// Deals `count` input samples, the first being input index `first`, to the streams: input `i` goes to
/// `s[(i mod M) × segment + i / M]` (`s` offset so stream index `m` is `s[m]`).
@inline(__always)
private func deal(_ source: UnsafePointer<Float>, _ count: Int, from first: Int, step M: Int,
                  into s: UnsafeMutablePointer<Float>, segment: Int) {
    var i = 0, index = first
    // One at a time up to a multiple of M.
    while i < count, index % M != 0 {
        s[(index % M) &* segment &+ index / M] = source[i]
        i &+= 1
        index &+= 1
    }
    let q = UnsafeRawPointer(source)
    var m = index / M
    if M == 2 {
        let s0 = s, s1 = s + segment
        // Eight samples at a time: four of each stream.
        while i &+ 8 <= count {
            let u = q.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD4<Float>.self)
            let v = q.loadUnaligned(fromByteOffset: 4 &* i &+ 16, as: SIMD4<Float>.self)
            UnsafeMutableRawPointer(s0 + m).storeBytes(of: SIMD4(u[0], u[2], v[0], v[2]), as: SIMD4<Float>.self)
            UnsafeMutableRawPointer(s1 + m).storeBytes(of: SIMD4(u[1], u[3], v[1], v[3]), as: SIMD4<Float>.self)
            i &+= 8
            index &+= 8
            m &+= 4
        }
    } else if M == 3 {
        let s0 = s, s1 = s + segment, s2 = s + 2 &* segment
        // Twelve samples at a time: four of each stream.
        while i &+ 12 <= count {
            let u = q.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD4<Float>.self)
            let v = q.loadUnaligned(fromByteOffset: 4 &* i &+ 16, as: SIMD4<Float>.self)
            let w = q.loadUnaligned(fromByteOffset: 4 &* i &+ 32, as: SIMD4<Float>.self)
            UnsafeMutableRawPointer(s0 + m).storeBytes(of: SIMD4(u[0], u[3], v[2], w[1]), as: SIMD4<Float>.self)
            UnsafeMutableRawPointer(s1 + m).storeBytes(of: SIMD4(u[1], v[0], v[3], w[2]), as: SIMD4<Float>.self)
            UnsafeMutableRawPointer(s2 + m).storeBytes(of: SIMD4(u[2], v[1], w[0], w[3]), as: SIMD4<Float>.self)
            i &+= 12
            index &+= 12
            m &+= 4
        }
    }
    while i < count {
        s[(index % M) &* segment &+ index / M] = source[i]
        i &+= 1
        index &+= 1
    }
}
