import RealModule

/// A half-band low-pass: every tap at an even distance from the centre is exactly 0 and the centre is 1/2, so
/// half the products vanish. Its transition is symmetric about a quarter of its rate, which is where a ×2
/// interpolator or a ÷2 decimator needs it: the presets' passband and stopband edges mirror each other about the
/// fold (0.9 / 1.1, 0.93 / 1.07).
struct HalfbandDesign: Sendable {
    /// The non-zero taps around the centre (at odd distances `-(2J-1) ... 2J-1`), `2J` of them (a multiple of
    /// `granule`), normalized to sum 1: the odd phase of the ×2 interpolator. The decimator uses them halved.
    let taps: [Double]
    /// `"halfband"` (equiripple) or `"halfband-kaiser"`.
    let method: String

    /// Kaiser's length estimate with equal ripples in both bands, as a count `2J` of non-zero taps (a multiple of
    /// `granule`).
    static func estimatedTaps(pass: Double, attenuation: Double, granule: Int = 4) -> Int {
        let length = (attenuation - 13) / (14.6 * (0.5 - 2 * pass)) + 1
        return max(8, Int((length + 1) / 2 + Double(granule - 1)) / granule * granule)
    }

    /// The shortest half-band with its passband to `pass` (cycles per sample, below 1/4) and `attenuation` dB
    /// everywhere past `1/2 - pass`.
    ///
    /// Remez exchange with equal weights on symmetric bands gives a half-band by itself (its even taps come out at
    /// rounding level, and are set to exactly 0), with equal ripples, so the passband is flat to a few millionths
    /// of a dB. Past about 200 taps the exchange stops converging in double precision; a Kaiser-windowed half-band
    /// sinc (zeros on the even taps by construction, about 8 % longer) takes over. Either is accepted only once its
    /// response, evaluated on a dense grid, meets the attenuation.
    /// `granule`: the step of `2J` in the search; the `DealtDecimator` takes any `J`, so its designs use 2.
    init(pass: Double, attenuation: Double, granule: Int = 4) {
        let stop = 0.5 - pass
        let estimate = Self.estimatedTaps(pass: pass, attenuation: attenuation, granule: granule)
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
                return sinc(offset / 2) * kaiserShape(r, beta: beta) / i0Beta
            }
        }
        func normalized(_ g: [Double]) -> [Double] {
            let sum = g.reduce(0, +)
            return g.map { $0 / sum }
        }
        func meets(_ g: [Double]) -> Bool { Self.stopbandLevel(normalized(g), from: stop) <= -attenuation }
        // The shortest count (a multiple of `granule`) that meets the attenuation, searched from the estimate.
        func shortest(_ design: @escaping (Int) -> [Double]?) -> [Double]? {
            shortestLength(from: estimate, granule: granule) { count in design(count).flatMap { meets($0) ? $0 : nil } }?.1
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
