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
/// filter, except for `high`'s FFT convolution, whose output comes a frame at a time: there it is the mean lag at
/// 20 ms pushes and, in parentheses, the longest; instructions per output sample under callgrind for 8k→24k /
/// 24k→8k / 16k→24k / 48k→24k / 44.1k→24k; BENCHMARKS.md has every pair):
///
/// | preset | flat ±0.1 dB to | stopband, strict | latency, 8 kHz side | latency, both ≥ 16 kHz | instructions per output |
/// |---|---|---|---|---|---|
/// | `fast`  | 0.805 fold | −84.0 dB | 1.75 ms | ≤ 1.1 ms | 38 / 66 / 40 / 46 / 60 |
/// | `voice` | 0.90 fold | −103.1 dB | 4.5 ms | ≤ 1.4 ms | 51 / 101 / 54 / 56 / 81 |
/// | `high`  | 0.93 fold | −134.3 dB | 16 ms (27) | ≤ 9.1 ms (16.6) | 37 / 122 / 50 / 63 / 137 |
///
/// soxr HQ, the reference for `high`, costs 53 / 143 / 90 / 66 on the first four pairs and holds 43 / 43 / 21 / 21 ms
/// back at 20 ms pushes.
///
/// Filter banks are designed once per process and configuration (`shared`): microseconds to milliseconds for most
/// pairs, about 0.25 s (`voice`) and 1 s (`high`) for the many-phase 44.1 kHz <-> 24 kHz pairs. A resampler on a
/// designed bank costs one or two allocations: its history, 5 to 60 KB (14 KB for 8k→24k `voice`, 34 KB for
/// 24k→8k: the block stages keep their input expanded four-fold, the decimators twice over).
///
/// For comparison, speexdsp's VoIP default (quality 3) reaches −86 dB with a 7 dB droop at 0.9 of the fold.
public enum ResamplerQuality: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Cheapest; for previews and non-speech monitoring.
    case fast
    /// The default for live sessions: speech is clean and the lookahead stays a few milliseconds.
    case voice
    /// Mastering-grade: soxr HQ's passband and stopband at no more than its cost and half its streaming latency
    /// (FFT convolution: the output comes a frame at a time, 8 to 16 ms behind on average).
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

    /// Passband deviation the equiripple designs may use, linear, from 1 with the passband centred on it (the DC gain
    /// then differs from 1 by up to as much): ±0.069 dB for `voice` (its taps are what its cost
    /// is made of: 8 to 24 fewer than at ±0.035 dB), ±0.035 dB for the others (`high`'s 0.93 edge sits closer to
    /// its transition, where float32 coefficients add their own error to the design's).
    var designPassRipple: Double { self == .voice ? 0.008 : 0.004 }

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String { rawValue }
}

/// A configuration the resampler cannot take.
public enum ResamplerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A preset name that does not exist.
    case unknownQuality(String)
    /// The reduced ratio `outRate / inRate` needs more than ``ResamplerFilter/maximumPhases`` filter phases:
    /// a pair is supported exactly when `outRate / gcd(inRate, outRate) <= 4096`. That holds for every pair of the
    /// usual rates (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000)
    /// but 11025 -> 384000; rates with almost no common factor (8000 -> 7999, 44100 -> 44101) are refused.
    case ratioTooFine(input: Int, output: Int)

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String {
        switch self {
        case .unknownQuality(let name):
            "unknown resampler quality '\(name)' (valid: \(ResamplerQuality.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .ratioTooFine(let input, let output):
            "cannot resample \(input) Hz to \(output) Hz: the pair needs \(reducedRatio(input, output).0) filter phases (output rate / greatest common divisor of the rates), more than the \(ResamplerFilter.maximumPhases) supported"
        }
    }
}

/// The filters of one (input rate, output rate, quality): immutable, built once and shared read-only by every
/// ``Resampler`` with that configuration.
///
/// A downsampling by 3.4 or more (32 kHz, 44.1 kHz, 48 kHz to 8 kHz; 44.1 kHz, 48 kHz to 11.025 kHz) first divides
/// the rate with a short **prestage** (`DealtDecimatorBank`): it only has to keep what would fold onto the
/// output's band, so a wide transition and few taps do. It divides by 3 where a third of the rate still leaves it a
/// transition of at least a tenth of its rate (48 kHz -> 16 kHz, 31 taps, ahead of the 16 kHz -> 8 kHz half-band;
/// 44.1 kHz -> 14.7 kHz, 33 taps, ahead of 14.7 kHz -> 8 kHz), else by 2 on a half-band (12 to 16 non-zero taps),
/// and the stage below runs at the lower rate with fewer taps (44.1 kHz -> 8 kHz on one stage would need a filter
/// about three times as long). `high` keeps FFT convolution where its ratio allows it.
///
/// The (last) stage is one FIR filter (equiripple or windowed sinc, exact phases for the reduced ratio `L / M`), run
/// one of four ways:
/// - `high` with small `L` and `M` (both at most 8: 8 kHz <-> 24 kHz, 16 kHz <-> 24 kHz, 48 kHz -> 24 kHz,
///   48 kHz -> 16 kHz, 24 kHz -> 48 kHz) runs **FFT convolution** (`FastConvolution`), in frames whose size is
///   picked so the mean lag stays within half of soxr HQ's streaming latency: its 80 to 240-tap filters cost
///   40 to 58 % fewer instructions than on the direct stages below (BENCHMARKS.md). Where no frame size fits that
///   lag, `high` stays on the direct stages;
/// - an **integer decimation** by 2 or 3 (`L = 1`: 24 kHz -> 8 kHz, 48 kHz -> 16 kHz, 48 kHz -> 24 kHz,
///   16 kHz -> 8 kHz) runs the `DealtDecimator`: the input dealt into `M` streams, thirty-two consecutive outputs
///   per pass, eight per vector set, the symmetric filter folded so a pair of taps costs one multiply; an exact
///   halving takes a **÷2 half-band** design there when it is shorter (half its taps are zero and are skipped, its
///   equal ripples keep the passband flat to millionths of a dB). Decimations by 4 to 8 run the `FoldedDecimator`
///   (the input expanded four-fold so each pair is one aligned load; for `M <= 3` the dealt layout, with no
///   expansion, costs 13 to 23 % fewer instructions per output);
/// - other ratios with small `L >= 2` and `M` (both at most 8: 8 kHz -> 24 kHz, 16 kHz -> 24 kHz,
///   24 kHz -> 16 kHz, 24 kHz -> 48 kHz) run the `BlockPolyphase` stage: sixteen outputs of one phase per pass,
///   four per vector;
/// - ratios with many phases (44.1 kHz <-> 24 kHz, 80/147; 22.05 kHz -> 8 kHz, 160/441) run the **polyphase**
///   stage (`PolyphaseStage`): a dot product per output, eight outputs side by side (`dot8`: one loop, one
///   pointer to the eight rows' taps, kept in output order, and two 4x4 transposed reductions for the eight, where a
///   lone dot product pays about 25 instructions of loop and reduction on top of its taps); a group of sixteen of
///   one phase would span too many outputs.
///
/// The dealt and folded decimators and the block polyphase stage compute outputs in groups with no horizontal
/// reduction per output; BENCHMARKS.md has the figures.
///
/// Why one stage and not a cheap polyphase stage with a wide transition ahead of a sharp half-band: such a chain
/// needs fewer multiply-adds, but every computed output also pays a fixed cost (the final reduction and the loop's
/// set-up), and its first stage computes two outputs per output, so it runs more instructions.
///
/// ``shared(from:to:quality:)`` keeps one bank per configuration for the life of the process: a gateway creates a
/// resampler per session, and sessions then share the coefficients instead of each building its own. The lock that
/// guards that cache is taken only when a resampler is created, never on the per-chunk path.
public final class ResamplerFilter: @unchecked Sendable {   // immutable after init: safe to share
    /// Phases above this would make tables of many megabytes.
    public static let maximumPhases = 4096

    /// The input rate the filter was designed for.
    public let inputRate: SampleRate
    /// The output rate.
    public let outputRate: SampleRate
    /// The preset the filter meets (passband, stopband, transition).
    public let quality: ResamplerQuality
    /// Upsampling factor `L` of the reduced ratio `outputRate / inputRate = L / M`.
    public let phases: Int
    /// Downsampling factor `M`.
    public let step: Int
    /// How the conversion runs: exactly one stage (see the type's documentation).
    enum Stage {
        /// One output at a time (ratios with many phases, such as 44.1 kHz <-> 24 kHz).
        case polyphase(PolyphaseBank)
        /// Four outputs per vector, the symmetric filter folded (``FoldedDecimatorBank``: `L = 1`).
        case folded(FoldedDecimatorBank)
        /// Sixteen outputs per pass (``BlockPolyphaseBank``: small `L >= 2` and `M`).
        case block(BlockPolyphaseBank)
        /// FFT convolution (``FastConvolutionBank``: `high` with small `L` and `M`).
        case fast(FastConvolutionBank)
        /// Thirty-two outputs per pass from the input dealt into `M` streams (`DealtDecimatorBank`: `L = 1`).
        case dealt(DealtDecimatorBank)
        /// A ÷2 or ÷3 prestage and the filter that follows it at the lower rate (large downsamplings).
        case chain(pre: DealtDecimatorBank, next: ResamplerFilter)
    }
    let stage: Stage

    /// The plan in one line: the kernel, then how its filter was designed (the chain's stages in order), such as
    /// `dealt: halfband ÷2 (72 taps)` or `chain: halfband ÷2 (20 taps) prestage -> block: equiripple 2/3 (48 taps)`.
    /// The golden plan test fixes it for every rate pair and preset, so a change of kernel or length is seen.
    var plan: String {
        switch stage {
        case .polyphase: "polyphase: \(designMethod)"
        case .folded: "folded: \(designMethod)"
        case .block: "block: \(designMethod)"
        case .fast: "fast: \(designMethod)"
        case .dealt: "dealt: \(designMethod)"
        case .chain(let pre, let next): "chain: \(pre.method) prestage -> \(next.plan)"
        }
    }
    var polyphase: PolyphaseBank? { if case .polyphase(let bank) = stage { bank } else { nil } }
    var folded: FoldedDecimatorBank? { if case .folded(let bank) = stage { bank } else { nil } }
    var block: BlockPolyphaseBank? { if case .block(let bank) = stage { bank } else { nil } }
    var fast: FastConvolutionBank? { if case .fast(let bank) = stage { bank } else { nil } }
    var dealt: DealtDecimatorBank? { if case .dealt(let bank) = stage { bank } else { nil } }
    /// Prestages run when what they must keep, `[0, stopbandEdge × fold]`, is at most this fraction of their input
    /// rate: their transition then spans at least a tenth of it, so they stay short.
    static let prestageLimit = 0.16
    /// The narrowest transition, in cycles per input sample, a ÷3 prestage may have (48 kHz -> 11.025 kHz `voice`:
    /// 0.104, 51 taps); narrower, the ÷2 prestage and the longer stage after it cost less.
    static let thirdTransition = 0.1

    /// The prestage of a large downsampling: ÷3 when the input rate divides by 3 and the transition left,
    /// `1/3 - keep - pass`, is at least ``thirdTransition``, else the ÷2 half-band (its zero taps make it the
    /// cheaper of the two where both fit); nil when the input rate divides by neither.
    static func prestage(input: Int, pass: Double, keep: Double, quality: ResamplerQuality) -> DealtDecimatorBank? {
        if input % 3 == 0, 1.0 / 3 - keep - pass >= thirdTransition,
           let third = DealtDecimatorBank(step: 3, pass: pass, keep: keep, attenuation: quality.designAttenuation,
                                          ripple: quality.designPassRipple / 8) {
            return third
        }
        guard input % 2 == 0 else { return nil }
        return DealtDecimatorBank(halfbandKeeping: keep, attenuation: quality.designAttenuation)
    }

    /// How the filter was designed and its length, such as `"equiripple 3/2 (48 taps)"`,
    /// `"halfband ÷2 (72 taps)"` or `"equiripple 3/1 (80 taps), FFT frames of 256 (halves)"`.
    public let designMethod: String
    /// Multiplies per output sample (a copied phase is free; a half-band's zeros are skipped; a folded decimator
    /// multiplies once per pair of taps; FFT convolution counts its butterflies and pointwise products).
    public let multiplyAddsPerOutput: Double
    /// The lookahead, in seconds: how far the output lags, at most, the input it has been given (half the filter;
    /// for FFT convolution, that plus the frames it waits for).
    public let latencySeconds: Double

    /// Designs the filter (microseconds to a second, see ``ResamplerQuality``).
    ///
    /// - Throws: ``ResamplerError/ratioTooFine(input:output:)`` for rates with almost no common factor.
    public convenience init(from input: SampleRate, to output: SampleRate, quality: ResamplerQuality) throws(ResamplerError) {
        try self.init(from: input.hertz, to: output.hertz, quality: quality, direct: false)
    }

    /// The same filter; with `direct`, on one direct stage (no FFT convolution, no prestage), as tests compare.
    init(from input: Int, to output: Int, quality: ResamplerQuality, direct: Bool) throws(ResamplerError) {
        let allowed = !direct && quality == .high
        // Rates come from `SampleRate`s (or a prestage's quotient of one): in range by construction.
        precondition((1...SampleRate.maximumHertz).contains(input) && (1...SampleRate.maximumHertz).contains(output))
        let (L, M) = reducedRatio(input, output)
        guard L <= Self.maximumPhases else { throw .ratioTooFine(input: input, output: output) }
        inputRate = SampleRate(unchecked: input)
        outputRate = SampleRate(unchecked: output)
        self.quality = quality
        phases = L
        step = M

        // All frequencies in cycles per input sample; the fold is the lower Nyquist frequency.
        let fold = Double(min(input, output)) / 2 / Double(input)
        let pass = quality.passbandEdge * fold, stop = quality.stopbandEdge * fold
        let attenuation = quality.designAttenuation
        // Downsampling by much more than two: divide the rate first with a short prestage (`high` keeps FFT
        // convolution where its ratio allows it): by 3 where a third of the rate still leaves the prestage a wide
        // transition, else by 2.
        let keep = quality.stopbandEdge * Double(output) / 2 / Double(input)
        if !direct, input > output, keep <= Self.prestageLimit,
           !(allowed && L <= FastConvolutionBank.maximumPhases && M <= FastConvolutionBank.maximumStep),
           let pre = Self.prestage(input: input, pass: pass, keep: keep, quality: quality) {
            let next = try ResamplerFilter(from: input / pre.step, to: output, quality: quality, direct: false)
            stage = .chain(pre: pre, next: next)
            designMethod = "\(pre.method) prestage, then \(next.designMethod)"
            multiplyAddsPerOutput = pre.cost * Double(input / pre.step) / Double(output) + next.multiplyAddsPerOutput
            latencySeconds = Double(pre.lookahead) / Double(input) + next.latencySeconds
            return
        }
        // The half-band's edges mirror each other about the fold: its passband reaches at least the preset's, its
        // stopband starts no later than the preset's. An exact halving takes it when it has fewer non-zero taps.
        let halfband = input == 2 * output
            ? HalfbandDesign(pass: max(quality.passbandEdge, 2 - quality.stopbandEdge) / 4, attenuation: attenuation, granule: 2)
            : nil
        if let halfband, halfband.taps.count < PolyphaseBank.estimatedTaps(pass: pass, stop: stop, attenuation: attenuation,
                                                                                           ripple: quality.designPassRipple) {
            let bank = DealtDecimatorBank(halfband: halfband)
            stage = .dealt(bank)
            designMethod = "\(halfband.method) ÷2 (\(halfband.taps.count) taps)"
            multiplyAddsPerOutput = bank.cost
            latencySeconds = Double(bank.lookahead) / Double(input)
        } else {
            let bank = PolyphaseBank(inputRate: input, outputRate: output, pass: pass, stop: stop, attenuation: attenuation,
                                     ripple: quality.designPassRipple)
            let design = "\(bank.designMethod) \(L)/\(M) (\(bank.taps) taps)"
            // `high`'s long filters run by FFT convolution, within half of soxr HQ's streaming latency (21.3 ms at
            // an 8 kHz side, 10.6 ms otherwise: the mean lag is held to 20 and 10).
            let convolution = allowed
                ? FastConvolutionBank(bank, meanLag: min(input, output) < 16000 ? 0.020 : 0.010) : nil
            designMethod = convolution.map { "\(design), FFT frames of \($0.size) (\($0.packing))" } ?? design
            if let convolution {
                stage = .fast(convolution)
                multiplyAddsPerOutput = convolution.cost
                latencySeconds = Double(convolution.maximumLag) / Double(input)
            } else if L == 1, M >= 2, M <= 3,
               let decimator = DealtDecimatorBank(step: M, row: (0..<bank.taps).map { bank.coefficients[$0] }, method: design) {
                stage = .dealt(decimator)
                multiplyAddsPerOutput = decimator.cost
                latencySeconds = Double(decimator.lookahead) / Double(input)
            } else if L == 1, FoldedDecimatorBank.steps.contains(M),
               let decimator = FoldedDecimatorBank(step: M, row: (0..<bank.taps).map { bank.coefficients[$0] }) {
                stage = .folded(decimator)
                multiplyAddsPerOutput = decimator.cost
                latencySeconds = Double(decimator.lookahead) / Double(input)
            } else if L >= 2, L <= BlockPolyphaseBank.maximumPhases, M <= BlockPolyphaseBank.maximumStep {
                let blocked = BlockPolyphaseBank(bank)
                stage = .block(blocked)
                multiplyAddsPerOutput = blocked.cost
                latencySeconds = Double(blocked.lookahead) / Double(input)
            } else {
                stage = .polyphase(bank)
                multiplyAddsPerOutput = bank.cost
                latencySeconds = Double(bank.taps / 2) / Double(input)
            }
        }
    }

    /// The shared filter bank for this configuration, built on first use.
    ///
    /// - Throws: as ``init(from:to:quality:)``.
    public static func shared(from input: SampleRate, to output: SampleRate, quality: ResamplerQuality) throws(ResamplerError) -> ResamplerFilter {
        let key = Key(input: input.hertz, output: output.hertz, quality: quality)
        if let filter = cache.withLock({ $0[key] }) { return filter }
        let filter = try ResamplerFilter(from: input.hertz, to: output.hertz, quality: quality, direct: false)
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
