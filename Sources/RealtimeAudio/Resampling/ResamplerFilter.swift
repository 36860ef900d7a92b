import RealModule
import Synchronization

/// The quality presets of ``Resampler``: a filter specification each.
///
/// Edges are fractions of the *fold*, the lower of the two Nyquist frequencies. A tone at `passbandEdge × fold`
/// keeps its level within ±0.1 dB, and anything above `stopbandEdge × fold` that would alias or image back below
/// the fold is attenuated by `stopbandAttenuation` dB. Only the band right next to the fold, where neither
/// speech energy nor the peers' "strict" measurement lies, may alias less.
///
/// Measured figures (score_resampler.py, float path, worst over its nine pairs; latency is the lookahead, half the
/// filter; instructions per output sample under callgrind for 8k→24k / 24k→8k / 16k→24k / 48k→24k / 44.1k→24k;
/// BENCHMARKS.md has every pair):
///
/// | preset | flat ±0.1 dB to | stopband, strict | latency, 8 kHz side | latency, both ≥ 16 kHz | instructions per output |
/// |---|---|---|---|---|---|
/// | `fast`  | 0.805 fold | −84.1 dB | 2.0 ms | ≤ 1.0 ms | 78 / 128 / 79 / 99 / 98 |
/// | `voice` | 0.90 fold | −104.5 dB | 4.5 ms | ≤ 2.25 ms | 83 / 185 / 84 / 130 / 129 |
/// | `high`  | 0.93 fold | −131.8 dB | 5.0 ms | ≤ 2.9 ms | 120 / 284 / 121 / 192 / 205 |
///
/// Filter banks are designed once per process and configuration (`shared`): microseconds to milliseconds for most
/// pairs, about 0.25 s (`voice`) and 1 s (`high`) for the many-phase 44.1 kHz <-> 24 kHz pairs. A resampler on a
/// designed bank costs one allocation.
///
/// For comparison, soxr HQ holds 21 to 64 ms back when fed 20 ms chunks, and speexdsp's VoIP default (quality 3)
/// reaches −86 dB with a 7 dB droop at 0.9 of the fold.
public enum ResamplerQuality: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Cheapest; for previews and non-speech monitoring.
    case fast
    /// The default for live sessions: speech is clean and the lookahead stays a few milliseconds.
    case voice
    /// Mastering-grade: soxr HQ's passband and stopband at a fraction of its streaming latency.
    case high

    /// Parses a preset name (`fast`, `voice`, `high`).
    ///
    /// - Throws: ``ResamplerError/unknownQuality(_:)``, listing the valid names.
    public init(name: String) throws(ResamplerError) {
        guard let quality = ResamplerQuality(rawValue: name) else { throw .unknownQuality(name) }
        self = quality
    }

    /// Highest frequency kept within ±0.1 dB, as a fraction of the fold.
    public var passbandEdge: Double {
        switch self {
        case .fast: 0.80
        case .voice: 0.90
        case .high: 0.93
        }
    }

    /// Where the stopband starts, as a fraction of the fold: anything above it that could alias or image onto
    /// the passband is attenuated by ``stopbandAttenuation``. `voice` and `high` mirror the passband edge, so
    /// nothing can land on the passband; `fast` stops at 1.1 like the others measure but keeps a wider
    /// transition, for half the taps.
    public var stopbandEdge: Double {
        switch self {
        case .fast: 1.10
        case .voice: 1.10
        case .high: 1.07
        }
    }

    /// Attenuation, in dB, of everything that could land on the passband.
    public var stopbandAttenuation: Double {
        switch self {
        case .fast: 80
        case .voice: 100
        case .high: 130
        }
    }

    /// Design attenuation: a few dB above the promise, since float32 coefficients and arithmetic cost some.
    var designAttenuation: Double { stopbandAttenuation + (self == .high ? 6 : 4) }

    public var description: String { rawValue }
}

/// A configuration the resampler cannot take.
public enum ResamplerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A sample rate outside 1 ... ``SampleRate/maximumHertz``.
    case invalidRate(Int)
    /// A preset name that does not exist.
    case unknownQuality(String)
    /// The reduced ratio `outRate / inRate` needs more than ``ResamplerFilter/maximumPhases`` filter phases
    /// (rates with almost no common factor, such as 44100 and 44101).
    case ratioTooFine(input: Int, output: Int)

    public var description: String {
        switch self {
        case .invalidRate(let hertz):
            "sample rate \(hertz) Hz is out of range (1...\(SampleRate.maximumHertz) Hz)"
        case .unknownQuality(let name):
            "unknown resampler quality '\(name)' (valid: \(ResamplerQuality.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .ratioTooFine(let input, let output):
            "cannot resample \(input) Hz to \(output) Hz: the reduced ratio needs more than \(ResamplerFilter.maximumPhases) filter phases"
        }
    }
}

/// The polyphase filter bank of one (input rate, output rate, quality): immutable, built once and shared
/// read-only by every ``Resampler`` with that configuration.
///
/// The prototype is a Kaiser-windowed sinc, evaluated analytically at each phase's offsets, so any ratio
/// `L / M` (reduced) gets exact phases; each phase is normalized to unit DC gain. ``shared(from:to:quality:)``
/// keeps one bank per configuration for the life of the process: a gateway creates a resampler per session,
/// and sessions then share a few hundred kilobytes of coefficients instead of each building its own. The lock
/// that guards that cache is taken only when a resampler is created, never on the per-chunk path.
public final class ResamplerFilter: @unchecked Sendable {   // immutable after init: safe to share
    /// Phases above this would make tables of many megabytes.
    public static let maximumPhases = 4096

    public let inputRate: Int
    public let outputRate: Int
    public let quality: ResamplerQuality
    /// Upsampling factor `L` of the reduced ratio `outputRate / inputRate = L / M`.
    public let phases: Int
    /// Downsampling factor `M`.
    public let step: Int
    /// Taps per output sample (a multiple of 8), spanning `taps` input samples.
    public let taps: Int
    /// `phases × taps` coefficients, phase-major: phase `p` weighs inputs `n - taps/2 + 1 ... n + taps/2` for the
    /// output at input time `n + p / phases`. 64-byte aligned, so the dot product's loads of them fold into its
    /// multiplies.
    let coefficients: UnsafePointer<Float>
    /// For each phase, the index of its only non-zero tap when the phase is a unit impulse (the output is then
    /// a copy of one input sample), or -1. With the cutoff at the fold, an integer upsampler's phase 0 is one:
    /// a third of 8 kHz -> 24 kHz outputs cost nothing.
    let impulseTap: [Int]
    /// For each phase, what follows the output that uses it: the next output's phase and how many input samples
    /// its window starts later, so the per-output step needs no division.
    let steps: [PhaseStep]

    /// How the prototype was designed: `"equiripple"` (Parks–McClellan at every phase), `"equiripple/N"`
    /// (Parks–McClellan at N phases, read between them by Lagrange interpolation, for ratios with many phases) or
    /// `"kaiser"` (windowed sinc, when it is cheaper or no equiripple design fits).
    public let designMethod: String

    /// Builds a filter bank (cost: `phases × taps` window evaluations, about 30 ns each).
    ///
    /// - Throws: ``ResamplerError/invalidRate(_:)`` or ``ResamplerError/ratioTooFine(input:output:)``.
    public init(from input: Int, to output: Int, quality: ResamplerQuality) throws(ResamplerError) {
        guard (1...SampleRate.maximumHertz).contains(input) else { throw .invalidRate(input) }
        guard (1...SampleRate.maximumHertz).contains(output) else { throw .invalidRate(output) }
        let g = gcd(input, output)
        let L = output / g, M = input / g
        guard L <= Self.maximumPhases else { throw .ratioTooFine(input: input, output: output) }
        inputRate = input
        outputRate = output
        self.quality = quality
        phases = L
        step = M

        // All frequencies in cycles per input sample.
        let fold = Double(min(input, output)) / 2 / Double(input)
        let pass = quality.passbandEdge * fold
        let stop = quality.stopbandEdge * fold
        let attenuation = quality.designAttenuation
        // The cheaper of the two per output sample. A windowed sinc cut at the fold is a Nyquist filter: one
        // phase in L is a plain copy, which makes it as cheap as equiripple for integer upsampling, and flatter.
        let kaiser = Self.kaiserDesign(phases: L, pass: pass, stop: stop, attenuation: attenuation)
        // (Only when upsampling: then the fold is the input's Nyquist and the sinc's zeros fall on input samples.)
        let nyquist = output > input && abs((pass + stop) / 2 - fold) < 1e-12
        // Costs compared as multiply-adds per L outputs, in integers: a tie keeps the flatter windowed sinc.
        let kaiserCost = kaiser.taps * (nyquist ? L - 1 : L)
        let equiripple = Self.equirippleDesign(phases: L, pass: pass, stop: stop, attenuation: attenuation)
        let design = equiripple.map { $0.taps * L < kaiserCost ? $0 : kaiser } ?? kaiser
        let taps = design.taps
        self.taps = taps
        designMethod = design.method

        let coefficients = UnsafeMutableRawPointer.allocate(byteCount: 4 * L * taps, alignment: 64)
            .bindMemory(to: Float.self, capacity: L * taps)
        var impulseTap = [Int](repeating: -1, count: L)
        for p in 0..<L {
            var row = design.row(p)
            let sum = row.reduce(0, +)
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
        self.impulseTap = impulseTap
        steps = (0..<L).map { p in
            PhaseStep(next: Int32((p + M) % L), advance: Int32((p + M) / L), impulse: Int32(impulseTap[p]),
                      row: Int32(p * taps))
        }
    }

    deinit { coefficients.deallocate() }

    /// A prototype design: taps per phase and each phase's row (before normalization).
    private struct Design {
        let taps: Int
        let method: String
        let row: (Int) -> [Double]
    }

    /// Longest prototype designed by Remez exchange: its cost grows with the square of the length.
    static let maximumEquirippleLength = 1535
    /// Longest prototype designed for Lagrange interpolation (many phases): 12 phases of the `high` preset's taps.
    static let maximumInterpolatedLength = 2047

    /// An equiripple prototype with the fewest taps per phase (a multiple of 8) that keeps the passband within
    /// ±0.035 dB and the stopband at `attenuation`; nil when even the interpolated design below cannot be made.
    ///
    /// Remez exchange costs the square of the prototype length, so ratios with many phases (44.1 kHz <-> 24 kHz
    /// has 80) cannot be designed at full length in milliseconds. They are designed at `L0 >= 12` phases instead
    /// and the continuous prototype is read between its samples by 12-point Lagrange interpolation: the
    /// prototype's band occupies under 1/24 of its own rate there, where that interpolator's error is below
    /// -140 dB, so the result keeps the equiripple's 1/3 fewer taps than a Kaiser window needs for the same figures.
    private static func equirippleDesign(phases L: Int, pass: Double, stop: Double, attenuation: Double) -> Design? {
        let passRipple = 0.004                                   // ±0.035 dB: a third of the ±0.1 dB promise
        let stopRipple = Double.pow(10, -attenuation / 20)
        // Kaiser's estimate of an equiripple filter's length, in input samples (independent of the phase count).
        let estimate = (-10 * Double.log10(passRipple * stopRipple) - 13) / (14.6 * (stop - pass)) + 1
        var taps = max(8, Int(estimate.rounded()) / 8 * 8)
        // Phases the Remez design runs at: all of them when short enough, else interpolate from fewer.
        let fitting = (maximumInterpolatedLength + 1) / (taps + 16)
        let L0 = L * (taps + 16) - 1 <= maximumEquirippleLength ? L : min(fitting, 12)
        guard L0 == L || L0 >= 12, stop / Double(L0) < 0.5 else { return nil }
        func attempt(_ taps: Int) -> [Double]? {
            guard let result = remezLowpass(length: L0 * taps - 1, passbandEdge: pass / Double(L0),
                                            stopbandEdge: stop / Double(L0), stopbandWeight: passRipple / stopRipple,
                                            stopbandSlope: L0 < L),
                  result.passbandRipple <= passRipple else { return nil }
            return result.taps
        }
        var best: (Int, [Double])?
        if let h = attempt(taps) {
            best = (taps, h)
            while taps > 8, let h = attempt(taps - 8) { taps -= 8; best = (taps, h) }
        } else {
            for _ in 0..<4 {
                taps += 8
                if let h = attempt(taps) { best = (taps, h); break }
            }
        }
        guard let (t, h) = best else { return nil }
        if L0 == L {
            // Phase p's tap j sits (j + 1) L - 1 - p samples into the odd-length prototype (centre L t / 2 - 1).
            return Design(taps: t, method: "equiripple") { p in
                (0..<t).map { j in
                    let index = (j + 1) * L - 1 - p
                    return index < h.count ? h[index] : 0
                }
            }
        }
        // Tap j of phase p is the prototype at input time j + 1 - t/2 - p/L, which is L0 × that past its centre.
        let centre = Double(L0 * t / 2 - 1)
        return Design(taps: t, method: "equiripple/\(L0)") { p in
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
        let beta = attenuation > 50 ? 0.1102 * (attenuation - 8.7) : 0.5842 * Double.pow(attenuation - 21, 0.4) + 0.07886 * (attenuation - 21)
        let cutoff = (pass + stop) / 2
        let halfWidth = Double(taps) / 2
        let i0Beta = besselI0(beta)
        let first = -(taps / 2) + 1
        return Design(taps: taps, method: "kaiser") { p in
            let offset = Double(p) / Double(L)
            return (0..<taps).map { j in
                let tau = Double(first + j) - offset
                let r = tau / halfWidth
                let window = abs(r) >= 1 ? 0 : besselI0(beta * (1 - r * r).squareRoot()) / i0Beta
                return 2 * cutoff * sinc(2 * cutoff * tau) * window
            }
        }
    }

    /// The shared filter bank for this configuration, built on first use.
    ///
    /// - Throws: as ``init(from:to:quality:)``.
    public static func shared(from input: Int, to output: Int, quality: ResamplerQuality) throws(ResamplerError) -> ResamplerFilter {
        let key = Key(input: input, output: output, quality: quality)
        if let filter = cache.withLock({ $0[key] }) { return filter }
        let filter = try ResamplerFilter(from: input, to: output, quality: quality)
        return cache.withLock { table in
            if let existing = table[key] { return existing }
            table[key] = filter
            return filter
        }
    }

    private struct Key: Hashable {
        let input: Int, output: Int, quality: ResamplerQuality
    }

    private static let cache = Mutex<[Key: ResamplerFilter]>([:])
}

/// One phase's bookkeeping, packed so the per-output step reads one 16-byte record.
struct PhaseStep: Sendable {
    /// The phase of the next output.
    let next: Int32
    /// Input samples between this output's window and the next one's.
    let advance: Int32
    /// The only non-zero tap when the phase is a unit impulse, or -1.
    let impulse: Int32
    /// Offset of the phase's coefficient row.
    let row: Int32
}

private func gcd(_ a: Int, _ b: Int) -> Int {
    var (a, b) = (a, b)
    while b != 0 { (a, b) = (b, a % b) }
    return a
}

func sinc(_ x: Double) -> Double {
    abs(x) < 1e-12 ? 1 : Double.sin(.pi * x) / (.pi * x)
}

/// The modified Bessel function of the first kind, order 0, by its power series.
func besselI0(_ x: Double) -> Double {
    let q = x * x / 4
    var term = 1.0, sum = 1.0, k = 1.0
    while term > sum * 1e-17 {
        term *= q / (k * k)
        sum += term
        k += 1
    }
    return sum
}

/// `samples` read at a fractional index by 12-point Lagrange interpolation (zeros outside the array).
func lagrange(_ samples: [Double], at x: Double) -> Double {
    let base = Int(x.rounded(.down))
    if Double(base) == x { return samples.indices.contains(base) ? samples[base] : 0 }
    let first = base - 5
    var sum = 0.0
    for k in first..<(first + 12) where samples.indices.contains(k) {
        var weight = 1.0
        for m in first..<(first + 12) where m != k { weight *= (x - Double(m)) / Double(k - m) }
        sum += weight * samples[k]
    }
    return sum
}
