import RealModule

/// A half-band low-pass: every tap at an even distance from the centre is exactly 0 and the centre is 1/2, so
/// half the products vanish. Its transition is symmetric about a quarter of its rate, which is where a ×2
/// interpolator or a ÷2 decimator needs it: the presets' passband and stopband edges mirror each other about the
/// fold (0.9 / 1.1, 0.93 / 1.07).
struct HalfbandDesign: Sendable {
    /// The non-zero taps around the centre (at odd distances `-(2J-1) ... 2J-1`), `2J` of them (a multiple of 8),
    /// normalized to sum 1: the odd phase of the ×2 interpolator. The decimator uses them halved.
    let taps: [Double]
    /// `"halfband"` (equiripple) or `"halfband-kaiser"`.
    let method: String

    /// Kaiser's length estimate with equal ripples in both bands, as a count `2J` of non-zero taps (a multiple
    /// of 8).
    static func estimatedTaps(pass: Double, attenuation: Double) -> Int {
        let length = (attenuation - 13) / (14.6 * (0.5 - 2 * pass)) + 1
        return max(8, Int((length + 1) / 2 + 7) / 8 * 8)
    }

    /// The shortest half-band with its passband to `pass` (cycles per sample, below 1/4) and `attenuation` dB
    /// everywhere past `1/2 - pass`.
    ///
    /// Remez exchange with equal weights on symmetric bands gives a half-band by itself (its even taps come out at
    /// rounding level, and are set to exactly 0), with equal ripples, so the passband is flat to a few millionths
    /// of a dB. Past about 200 taps the exchange stops converging in double precision; a Kaiser-windowed half-band
    /// sinc (zeros on the even taps by construction, about 8 % longer) takes over. Either is accepted only once its
    /// response, evaluated on a dense grid, meets the attenuation.
    init(pass: Double, attenuation: Double) {
        let stop = 0.5 - pass
        let estimate = Self.estimatedTaps(pass: pass, attenuation: attenuation)
        func remez(_ count: Int) -> [Double]? {
            // 2J non-zero taps and the centre span 4J - 1 samples.
            guard let result = remezLowpass(length: 2 * count - 1, passbandEdge: pass, stopbandEdge: stop, stopbandWeight: 1)
            else { return nil }
            return stride(from: 0, to: 2 * count - 1, by: 2).map { result.taps[$0] }
        }
        func kaiser(_ count: Int) -> [Double] {
            let beta = kaiserBeta(attenuation), i0Beta = besselI0(beta)
            return (0..<count).map { i -> Double in
                let offset = Double(2 * (i - count / 2) + 1)            // -(2J-1) ... 2J-1
                let r = offset / Double(count + 1)
                return sinc(offset / 2) * besselI0(beta * (1 - r * r).squareRoot()) / i0Beta
            }
        }
        func normalized(_ g: [Double]) -> [Double] {
            let sum = g.reduce(0, +)
            return g.map { $0 / sum }
        }
        func meets(_ g: [Double]) -> Bool { Self.stopbandLevel(normalized(g), from: stop) <= -attenuation }
        // The shortest count (a multiple of 8) that meets the attenuation, searched from the estimate.
        func shortest(_ design: @escaping (Int) -> [Double]?) -> [Double]? {
            shortestLength(from: estimate) { count in design(count).flatMap { meets($0) ? $0 : nil } }?.1
        }
        if let g = shortest(remez) {
            taps = normalized(g)
            method = "halfband"
        } else {
            taps = normalized(shortest(kaiser) ?? kaiser(estimate + 56))
            method = "halfband-kaiser"
        }
    }

    /// The highest level, in dB, of the half-band with non-zero taps `g` (normalized to sum 1) from `stop` to
    /// 1/2 cycle per sample, on a grid of 16 points per ripple.
    static func stopbandLevel(_ g: [Double], from stop: Double) -> Double {
        let points = 16 * g.count
        var worst = 0.0
        for i in 0...points {
            let f = stop + (0.5 - stop) * Double(i) / Double(points)
            var h = 0.5
            for (j, tap) in g.enumerated() {
                h += tap / 2 * Double.cos(2 * .pi * f * Double(2 * (j - g.count / 2) + 1))
            }
            worst = max(worst, abs(h))
        }
        return 20 * Double.log10(max(worst, 1e-300))
    }
}

/// The coefficients of a ÷2 half-band decimator, shared read-only (``ResamplerFilter`` holds it).
final class HalfbandBank: @unchecked Sendable {   // immutable after init: safe to share
    let inputRate: Int
    /// `2J` non-zero taps, halved (the centre tap 1/2 is applied separately). 64-byte aligned.
    let coefficients: UnsafePointer<Float>
    let taps: Int
    let designMethod: String

    init(inputRate: Int, design: HalfbandDesign) {
        self.inputRate = inputRate
        taps = design.taps.count
        designMethod = design.method
        let c = UnsafeMutableRawPointer.allocate(byteCount: 4 * taps, alignment: 64).bindMemory(to: Float.self, capacity: taps)
        for (i, g) in design.taps.enumerated() { c[i] = Float(g / 2) }
        coefficients = UnsafePointer(c)
    }

    deinit { coefficients.deallocate() }
}

/// The streaming state of a ÷2 half-band decimator: output `k` is the filtered input at time `2k` (delay
/// compensated, like every stage).
///
/// Output `k` is `x[2k] / 2` plus the taps applied to the odd samples `x[2k - 2J + 1] ... x[2k + 2J - 1]`, so the
/// input is split as it arrives into its even and its odd samples; the odd ones then sit next to each other and the
/// dot product runs on contiguous memory with no zero taps.
struct HalfbandDecimator {
    let bank: HalfbandBank
    /// Odd input samples (absolute odd index `oddBase + i` is input `2 (oddBase + i) + 1`), and even ones.
    private var odd: [Float]
    private var even: [Float]
    private var oddBase: Int
    private var oddCount: Int
    private var evenBase = 0
    private var evenCount = 0
    private(set) var consumed = 0
    private(set) var produced = 0

    private static let block = 1024

    init(bank: HalfbandBank) {
        self.bank = bank
        odd = [Float](repeating: 0, count: bank.taps + Self.block)
        even = [Float](repeating: 0, count: bank.taps + Self.block)
        // The J odd samples before the stream are zeros.
        oddBase = -bank.taps / 2
        oddCount = bank.taps / 2
    }

    /// Input samples past the output's own time that it needs.
    var lookahead: Int { bank.taps - 1 }

    func outputCapacity(forInput count: Int) -> Int {
        // Output k is complete once input 2k + 2J - 1 has arrived.
        let last = consumed + count - bank.taps
        return last < 0 ? 0 : max(0, last / 2 + 1 - produced)
    }

    var pendingOutputCount: Int { max(0, (consumed + 1) / 2 - produced) }

    mutating func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> (consumed: Int, produced: Int) {
        let half = bank.taps / 2, taps = bank.taps, g = bank.coefficients
        // State in locals: stored properties mutated inside the buffer closures would pay a dynamic exclusivity
        // check per access.
        var oddBase = self.oddBase, oddCount = self.oddCount, evenBase = self.evenBase, evenCount = self.evenCount
        var consumed = self.consumed, produced = self.produced
        var used = 0, written = 0
        odd.withUnsafeMutableBufferPointer { oddBuffer in
            even.withUnsafeMutableBufferPointer { evenBuffer in
                let o = oddBuffer.baseAddress!, e = evenBuffer.baseAddress!
                while true {
                    let ready = min(output.count - written, oddBase + oddCount - (half - 1) - produced)
                    if ready > 0 {
                        let out = output.baseAddress! + written
                        let window = o + (produced - half - oddBase), centre = e + (produced - evenBase)
                        for n in 0..<ready {
                            out[n] = 0.5 * centre[n] + dot(window + n, g, taps)
                        }
                        produced += ready
                        written += ready
                    }
                    var limit = input.count - used
                    // A full output still takes the input that completes no further output.
                    if written == output.count { limit = min(limit, 2 * produced + taps - 1 - consumed) }
                    if limit <= 0 { break }
                    // Keep what the next output reads, then split the new input into its two halves.
                    let dropOdd = produced - half - oddBase
                    if dropOdd > 0 {
                        o.update(from: o + dropOdd, count: oddCount - dropOdd)
                        oddBase += dropOdd
                        oddCount -= dropOdd
                    }
                    let dropEven = produced - evenBase
                    if dropEven > 0 {
                        e.update(from: e + dropEven, count: evenCount - dropEven)
                        evenBase += dropEven
                        evenCount -= dropEven
                    }
                    let n = min(limit, 2 * min(oddBuffer.count - oddCount, evenBuffer.count - evenCount))
                    split(input.baseAddress! + used, n, odd: o, &oddCount, even: e, &evenCount, oddFirst: consumed & 1 == 1)
                    used += n
                    consumed += n
                }
            }
        }
        self.oddBase = oddBase
        self.oddCount = oddCount
        self.evenBase = evenBase
        self.evenCount = evenCount
        self.consumed = consumed
        self.produced = produced
        return (used, written)
    }

    mutating func finish(into output: UnsafeMutableBufferPointer<Float>, count: Int) -> Int {
        precondition(output.count >= count, "HalfbandDecimator.finish: output buffer too small")
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
        odd.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        oddBase = -bank.taps / 2
        oddCount = bank.taps / 2
        evenBase = 0
        evenCount = 0
        consumed = 0
        produced = 0
    }
}

/// Appends `count` samples alternately to `even` and `odd` (starting with `odd` when `oddFirst`), NaN and ±infinity
/// as 0 (``zeroNonFinite``, as the polyphase path). Eight samples at a time: the two halves are one shuffle each.
@inline(__always)
private func split(_ source: UnsafePointer<Float>, _ count: Int, odd: UnsafeMutablePointer<Float>, _ oddCount: inout Int,
                   even: UnsafeMutablePointer<Float>, _ evenCount: inout Int, oddFirst: Bool) {
    let firstEven = even + evenCount, firstOdd = odd + oddCount
    var src = source, remaining = count
    var e = firstEven, o = firstOdd
    if oddFirst, remaining > 0 {
        o.pointee = src.pointee
        o += 1
        src += 1
        remaining -= 1
    }
    while remaining >= 8 {
        let v = UnsafeRawPointer(src).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(e).storeBytes(of: v.evenHalf, as: SIMD4<Float>.self)
        UnsafeMutableRawPointer(o).storeBytes(of: v.oddHalf, as: SIMD4<Float>.self)
        e += 4
        o += 4
        src += 8
        remaining -= 8
    }
    while remaining > 0 {
        e.pointee = src.pointee
        e += 1
        src += 1
        remaining -= 1
        if remaining > 0 {
            o.pointee = src.pointee
            o += 1
            src += 1
            remaining -= 1
        }
    }
    zeroNonFinite(firstEven, e - firstEven)
    zeroNonFinite(firstOdd, o - firstOdd)
    evenCount = e - even
    oddCount = o - odd
}
