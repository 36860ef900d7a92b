import RealModule

/// The coefficients of one polyphase FIR stage (`inputRate -> outputRate`, reduced ratio `L / M`): immutable, built
/// once and shared read-only by every resampler of its configuration (``ResamplerFilter`` holds it).
///
/// The prototype is an equiripple (Parks–McClellan) or Kaiser-windowed-sinc low-pass at `L × inputRate`, whichever
/// needs fewer multiply-adds per output; each phase is normalized to unit DC gain.
final class PolyphaseBank: @unchecked Sendable {   // immutable after init: safe to share
    let inputRate: Int
    let outputRate: Int
    /// Upsampling factor `L` of the reduced ratio `outputRate / inputRate = L / M`.
    let phases: Int
    /// Downsampling factor `M`.
    let step: Int
    /// Taps per output sample (a multiple of 4, at least 8), spanning `taps` input samples.
    let taps: Int
    /// `phases × taps` coefficients, phase-major: phase `p` weighs inputs `n - taps/2 + 1 ... n + taps/2` for the
    /// output at input time `n + p / phases`. 64-byte aligned. The other stages built from a bank read these.
    let coefficients: UnsafePointer<Float>
    /// The same coefficients as `PolyphaseStage` reads them: rows in *output order* (row `j` is phase
    /// `j × M mod L`, the phase of every output `k ≡ j mod L`), cut into blocks of four taps, and block-major:
    /// block `b` of row `j` is at `(b × orderedRows + j) × 4`. Eight consecutive outputs then read one contiguous
    /// 128 bytes per block, from one pointer. Rows `L ..< L + 7` repeat rows `0 ..< 7`, so eight rows from any `j`
    /// are contiguous.
    let ordered: UnsafePointer<Float>
    /// Rows per block of ``ordered``: `L + 7`.
    let orderedRows: Int
    /// For each output-order row `j`, what the output that uses it needs alone: its input step to output `j + 1`
    /// (no division per output), and for a unit-impulse row (the output is a copy of one input sample), the tap.
    let steps: [PhaseStep]
    /// For each output-order row `j`, the eight outputs from one using it on, as ``dot8`` takes them (see
    /// ``PhaseOctet``).
    let octets: [PhaseOctet]
    /// `"equiripple"`, `"equiripple/N"` (designed at N phases, read between them by Lagrange interpolation),
    /// or `"kaiser"`.
    let designMethod: String
    /// Multiply-adds per output sample, averaged over the phases (impulse phases are free).
    let cost: Double
    /// A low-pass stage. `pass` and `stop` are in cycles per input sample.
    /// `ripple` is the passband's allowed deviation, linear (``ResamplerQuality/designPassRipple``); `kaiserOnly`
    /// skips the equiripple design (tests use it to get a many-phase bank with a copied phase).
    convenience init(inputRate: Int, outputRate: Int, pass: Double, stop: Double, attenuation: Double, ripple: Double,
                     kaiserOnly: Bool = false) {
        let (L, M) = reducedRatio(inputRate, outputRate)
        let kaiser = Self.kaiserDesign(phases: L, pass: pass, stop: stop, attenuation: attenuation)
        // A windowed sinc cut at the input's Nyquist frequency is a Nyquist filter: one phase in L is a plain copy,
        // which makes it as cheap as equiripple for integer upsampling, and flatter.
        let nyquist = L > M && abs((pass + stop) / 2 - 0.5) < 1e-12
        // Costs compared as multiply-adds per L outputs, in integers: a tie keeps the flatter windowed sinc (its
        // copied phase also skips the fixed cost of a dot product).
        let kaiserCost = kaiser.taps * (nyquist ? L - 1 : L)
        let equiripple = kaiserOnly ? nil : Self.equirippleDesign(phases: L, step: M, pass: pass, stop: stop,
                                                                    attenuation: attenuation, ripple: ripple)
        let design = equiripple.map { $0.taps * L < kaiserCost ? $0 : kaiser } ?? kaiser
        self.init(inputRate: inputRate, outputRate: outputRate, design: design)
    }

    private init(inputRate: Int, outputRate: Int, design: Design) {
        let (L, M) = reducedRatio(inputRate, outputRate)
        self.inputRate = inputRate
        self.outputRate = outputRate
        phases = L
        step = M
        let taps = design.taps
        self.taps = taps
        designMethod = design.method
        let coefficients = UnsafeMutableRawPointer.allocate(byteCount: 4 * L * taps, alignment: 64)
            .bindMemory(to: Float.self, capacity: L * taps)
        var impulseTap = [Int](repeating: -1, count: L)
        for p in 0..<L {
            var row = design.row(p)
            let sum = row.reduce(0, +) / design.dcGain
            for j in 0..<taps { row[j] /= sum }
            // Taps of 1e-12 and below are sin(pi k) rounding noise, far under float precision: a row that is
            // otherwise a single 1 is an exact copy.
            let big = row.indices.filter { abs(row[$0]) > 1e-12 }
            if big.count == 1, abs(row[big[0]] - 1) < 1e-12 {
                impulseTap[p] = big[0]
                for j in 0..<taps { row[j] = j == big[0] ? 1 : 0 }
            }
            for j in 0..<taps { coefficients[p * taps + j] = Float(row[j]) }
        }
        self.coefficients = UnsafePointer(coefficients)
        // Output order: row j is phase j M mod L.
        let rows = L + 7, blocks = taps / 4
        orderedRows = rows
        let ordered = UnsafeMutableRawPointer.allocate(byteCount: 16 * rows * blocks, alignment: 64)
            .bindMemory(to: Float.self, capacity: 4 * rows * blocks)
        for j in 0..<rows {
            let p = (j % L) * M % L
            for b in 0..<blocks {
                for t in 0..<4 { ordered[(b * rows + j) * 4 + t] = coefficients[p * taps + 4 * b + t] }
            }
        }
        self.ordered = UnsafePointer(ordered)
        // Output k's window starts floor(k M / L) - taps/2 + 1: from row j to j + 1 that moves by the carry.
        let steps = (0..<L).map { j in
            let p = j * M % L
            return PhaseStep(advance: Int32((p + M) / L), impulse: Int32(impulseTap[p]))
        }
        self.steps = steps
        cost = Double(taps * impulseTap.filter { $0 < 0 }.count) / Double(L)
        octets = (0..<L).map { j in
            let eight = (0..<8).map { steps[(j + $0) % L] }
            // Window starts of the eight and of the output after them, from the first one's.
            var start: [Int32] = [0]
            for step in eight { start.append(start.last! + step.advance) }
            return PhaseOctet(offset1: start[1], offset2: start[2], offset3: start[3], offset4: start[4],
                              offset5: start[5], offset6: start[6], offset7: start[7], advance: start[8],
                              next: Int32((j + 8) % L), copies: eight.contains { $0.impulse >= 0 } ? 1 : 0)
        }
    }

    deinit {
        coefficients.deallocate()
        ordered.deallocate()
    }

    /// A prototype design: taps per phase and each phase's row (before normalization).
    struct Design {
        let taps: Int
        let method: String
        /// The gain at DC each phase is normalized to: 1, or for an equiripple design the one that centres its
        /// passband on 1 (``remezLowpass``).
        var dcGain = 1.0
        let row: (Int) -> [Double]
    }

    /// Longest prototype designed by Remez exchange: its cost grows with the square of the length.
    static let maximumEquirippleLength = 1535
    /// Longest prototype designed for Lagrange interpolation (many phases): 12 phases of the `high` preset's taps.
    static let maximumInterpolatedLength = 2047

    /// Kaiser's estimate of the taps (a multiple of 8) an equiripple stage needs; `pass` and `stop` in cycles per
    /// input sample. ``ResamplerFilter`` plans its stages with it before designing any.
    static func estimatedTaps(pass: Double, stop: Double, attenuation: Double, ripple: Double) -> Int {
        let stopRipple = Double.pow(10, -attenuation / 20)
        let estimate = (-10 * Double.log10(ripple * stopRipple) - 13) / (14.6 * (stop - pass)) + 1
        return max(8, Int(estimate.rounded(.up) + 7) / 8 * 8)
    }

    /// An equiripple prototype with the fewest taps per phase (a multiple of 4, at least 8) that keeps the passband
    /// within `passRipple` of 1 (at the DC gain that centres it) and the stopband at `attenuation`; nil when even
    /// the interpolated design below cannot be made.
    ///
    /// Remez exchange costs the square of the prototype length, so ratios with many phases (44.1 kHz <-> 24 kHz
    /// has 80) cannot be designed at full length in milliseconds. They are designed at `L0 >= 12` phases instead
    /// and the continuous prototype is read between its samples by 12-point Lagrange interpolation: the
    /// prototype's band occupies under 1/24 of its own rate there, where that interpolator's error is below
    /// -140 dB, so the result keeps the equiripple's 1/3 fewer taps than a Kaiser window needs for the same figures.
    private static func equirippleDesign(phases L: Int, step M: Int, pass: Double, stop: Double, attenuation: Double,
                                         ripple passRipple: Double) -> Design? {
        var stopRipple = Double.pow(10, -attenuation / 20)
        let taps = max(8, estimatedTaps(pass: pass, stop: stop, attenuation: attenuation, ripple: passRipple) - 8)
        // Phases the Remez design runs at: all of them when short enough, else interpolate from fewer.
        let fitting = (maximumInterpolatedLength + 1) / (taps + 16)
        let L0 = L * (taps + 16) - 1 <= maximumEquirippleLength ? L : min(fitting, 12)
        guard L0 == L || L0 >= 12, stop / Double(L0) < 0.5 else { return nil }
        // Upsampling, a tone comes out with up to 2(L - 1) images, each from the stopband; a flat equiripple
        // stopband gives them all its full level, so their sum is held to the attenuation (16k -> 24k measured
        // 4 dB short without this). The sloped stopband of the interpolated designs makes far images small.
        if L > M, L0 == L { stopRipple /= Double(2 * (L - 1)).squareRoot() }
        var gains: [Int: Double] = [:]
        func attempt(_ taps: Int) -> [Double]? {
            guard taps >= 8, let result = remezLowpass(length: L0 * taps - 1, passbandEdge: pass / Double(L0),
                                            stopbandEdge: stop / Double(L0), stopbandWeight: passRipple / stopRipple,
                                            stopbandSlope: L0 < L),
                  result.passbandRipple <= passRipple else { return nil }
            gains[taps] = result.dcGain
            return result.taps
        }
        let best = shortestLength(from: taps, granule: 4, attempt)
        guard let (t, h) = best, let gain = gains[t] else { return nil }
        if L0 == L {
            // Phase p's tap j sits (j + 1) L - 1 - p samples into the odd-length prototype (centre L t / 2 - 1).
            return Design(taps: t, method: "equiripple", dcGain: gain) { p in
                (0..<t).map { j in
                    let index = (j + 1) * L - 1 - p
                    return index < h.count ? h[index] : 0
                }
            }
        }
        // Tap j of phase p is the prototype at input time j + 1 - t/2 - p/L, which is L0 × that past its centre.
        let centre = Double(L0 * t / 2 - 1)
        return Design(taps: t, method: "equiripple/\(L0)", dcGain: gain) { p in
            (0..<t).map { j in
                lagrange(h, at: centre + (Double(j + 1 - t / 2) - Double(p) / Double(L)) * Double(L0))
            }
        }
    }

    /// A Kaiser-windowed sinc, evaluated analytically at each phase's offsets: any number of phases.
    private static func kaiserDesign(phases L: Int, pass: Double, stop: Double, attenuation: Double) -> Design {
        // Kaiser's estimate of the window length for this attenuation and transition width.
        let estimate = (attenuation - 7.95) / (14.36 * (stop - pass)) + 1
        let taps = max(8, Int(estimate.rounded(.up) + 7) / 8 * 8)
        let beta = kaiserBeta(attenuation)
        let cutoff = (pass + stop) / 2
        let halfWidth = Double(taps) / 2
        let i0Beta = besselI0(beta)
        let first = -(taps / 2) + 1
        return Design(taps: taps, method: "kaiser") { p in
            let offset = Double(p) / Double(L)
            return (0..<taps).map { j in
                let tau = Double(first + j) - offset
                let r = tau / halfWidth
                let window = abs(r) >= 1 ? 0 : kaiserShape(r, beta: beta) / i0Beta
                return 2 * cutoff * sinc(2 * cutoff * tau) * window
            }
        }
    }
}

/// One output-order row's bookkeeping, packed so the per-output step reads one 8-byte record (row `j`'s first block
/// is at `4 j` in ``PolyphaseBank/ordered``).
struct PhaseStep: Sendable {
    /// Input samples between this output's window and the next one's.
    let advance: Int32
    /// The only non-zero tap when the row is a unit impulse, or -1.
    let impulse: Int32
}

/// Eight consecutive outputs from one output-order row on, for ``dot8``: their windows' offsets from the first
/// one's and where the output after them starts. One record per eight outputs replaces eight dependent
/// ``PhaseStep`` reads.
struct PhaseOctet: Sendable {
    let offset1: Int32, offset2: Int32, offset3: Int32, offset4: Int32, offset5: Int32, offset6: Int32, offset7: Int32
    /// Input samples from the first window to the next octet's.
    let advance: Int32
    /// The output-order row after the eight.
    let next: Int32
    /// 1 when one of the eight is a unit impulse (they then go one at a time, copies as copies).
    let copies: Int32
}

