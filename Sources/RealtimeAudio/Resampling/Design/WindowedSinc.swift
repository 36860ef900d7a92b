import RealModule

// The window-method building blocks every filter designer in the library shares (the resampler's Kaiser designs,
// the speed scaler's interpolator, the detector's anti-alias filter): Kaiser's window and its β, the sinc, and
// the search for the shortest filter that meets a specification.

/// The shortest length (a multiple of `granule`) for which `attempt` gives a design, searched from `start`: down
/// while designs keep coming, else up to six steps. Returns the length and its design.
func shortestLength(from start: Int, granule: Int = 8, _ attempt: (Int) -> [Double]?) -> (Int, [Double])? {
    var length = start
    if let first = attempt(length) {
        var best = (length, first)
        while length > granule, let shorter = attempt(length - granule) { length -= granule; best = (length, shorter) }
        return best
    }
    for _ in 0..<6 {
        length += granule
        if let design = attempt(length) { return (length, design) }
    }
    return nil
}

/// `(L, M)` with `output / input = L / M` reduced.
func reducedRatio(_ input: Int, _ output: Int) -> (Int, Int) {
    var (a, b) = (input, output)
    while b != 0 { (a, b) = (b, a % b) }
    return (output / a, input / a)
}

/// Kaiser's window shape parameter for a stopband attenuation in dB.
func kaiserBeta(_ attenuation: Double) -> Double {
    attenuation > 50 ? 0.1102 * (attenuation - 8.7) : 0.5842 * Double.pow(attenuation - 21, 0.4) + 0.07886 * (attenuation - 21)
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

/// Kaiser's window at `r` (-1 ... 1 from one end of the window to the other), unnormalized: `I0(β √(1 - r²))`.
/// Divide by `besselI0(beta)` for a peak of 1; every designer in the library (resampler, half-band, speed
/// scaler, detector) takes its window from here.
@inline(__always)
func kaiserShape(_ r: Double, beta: Double) -> Double {
    besselI0(beta * (1 - r * r).squareRoot())
}
