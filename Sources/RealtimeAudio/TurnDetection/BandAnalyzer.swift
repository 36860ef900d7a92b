import RealModule

/// The energy front end of ``ServerVAD``: sums the energy of eight speech bands over 10 ms frames.
///
/// Every input rate is first brought down to an analysis rate of 8 to 16 kHz (an integer decimation behind a
/// short anti-alias FIR), so the bands, and therefore the decisions, are the same whether the caller sends 8 kHz
/// telephony or 48 kHz microphone audio, and the per-sample work at high rates is a few multiply-adds.
/// The bands (150 Hz to 3.7 kHz, second-order band-pass sections) leave out DC, mains hum fundamentals and
/// rumble below speech and hiss above the telephone band; they run as two interleaved `SIMD4` chains, so eight
/// bands cost what one recursive filter's latency costs.
struct BandAnalyzer: Sendable {
    static let bands = 8
    /// Band edges in hertz: about a third of an octave wide at the bottom, wider above where speech has less
    /// energy per hertz.
    static let edges: [Double] = [150, 300, 500, 750, 1050, 1450, 2000, 2750, 3700]

    let decimation: Int
    let analysisRate: Double
    /// Input samples per 10 ms frame.
    let frameLength: Int

    // Anti-alias FIR (unused when `decimation == 1`): `taps` coefficients, applied at every `decimation`-th input.
    private let fir: [Float]
    private var history: [Float]
    private var historyCount: Int
    /// Input index (mod `decimation`) of the next input sample: 0 means the next input is a decimation point.
    private var phase = 0

    // Band-pass biquads in transposed direct form II, bands 0-3 and 4-7 in two SIMD4 lanes each.
    private let b0: (SIMD4<Float>, SIMD4<Float>)
    private let a1: (SIMD4<Float>, SIMD4<Float>)
    private let a2: (SIMD4<Float>, SIMD4<Float>)
    private var s1 = (SIMD4<Float>(), SIMD4<Float>())
    private var s2 = (SIMD4<Float>(), SIMD4<Float>())
    private var energy = (SIMD4<Float>(), SIMD4<Float>())
    private var samplesInFrame = 0
    private var analysisSamplesInFrame = 0

    init(rate: Int) {
        decimation = max(1, rate / 8000)
        analysisRate = Double(rate) / Double(decimation)
        frameLength = rate / 100
        if decimation > 1 {
            // Kaiser-windowed sinc cut at 3.9 kHz, a multiple of 8 taps for the SIMD dot product.
            let taps = (8 * decimation + 7) / 8 * 8
            let cutoff = 3900 / Double(rate)
            let beta = 6.0
            let centre = Double(taps - 1) / 2
            var h = (0..<taps).map { i -> Double in
                let m = Double(i) - centre
                let r = m / (centre + 1)
                return 2 * cutoff * sinc(2 * cutoff * m) * besselI0(beta * (1 - r * r).squareRoot()) / besselI0(beta)
            }
            let sum = h.reduce(0, +)
            h = h.map { $0 / sum }
            fir = h.map(Float.init)
        } else {
            fir = []
        }
        history = [Float](repeating: 0, count: fir.count + 1024)
        historyCount = max(0, fir.count - 1)

        var c0 = [Float](), c1 = [Float](), c2 = [Float]()
        for b in 0..<Self.bands {
            let lo = Self.edges[b], hi = Self.edges[b + 1]
            // RBJ band-pass (0 dB peak), pre-warped so the edges land where asked at any analysis rate.
            let w0 = 2 * Double.pi * (lo * hi).squareRoot() / analysisRate
            let bw = Double.log2(hi / lo)
            let alpha = Double.sin(w0) * Double.sinh(Double.log(2) / 2 * bw * w0 / Double.sin(w0))
            let a0 = 1 + alpha
            c0.append(Float(alpha / a0))
            c1.append(Float(-2 * Double.cos(w0) / a0))
            c2.append(Float((1 - alpha) / a0))
        }
        b0 = (SIMD4(c0[0..<4]), SIMD4(c0[4..<8]))
        a1 = (SIMD4(c1[0..<4]), SIMD4(c1[4..<8]))
        a2 = (SIMD4(c2[0..<4]), SIMD4(c2[4..<8]))
    }

    mutating func reset() {
        history.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        historyCount = max(0, fir.count - 1)
        phase = 0
        s1 = (SIMD4(), SIMD4())
        s2 = (SIMD4(), SIMD4())
        energy = (SIMD4(), SIMD4())
        samplesInFrame = 0
        analysisSamplesInFrame = 0
    }

    /// Input samples still needed to complete the current frame.
    var remainingInFrame: Int { frameLength - samplesInFrame }

    /// Absorbs up to ``remainingInFrame`` samples. Returns the mean energy per band when the frame completes.
    mutating func absorb(_ input: UnsafeBufferPointer<Float>) -> (SIMD4<Float>, SIMD4<Float>)? {
        precondition(input.count <= remainingInFrame)
        var offset = 0
        // The history buffer takes at most 1024 new samples per pass.
        while offset < input.count {
            let n = min(input.count - offset, history.count - historyCount)
            absorbBlock(UnsafeBufferPointer(rebasing: input[offset..<(offset + n)]))
            offset += n
        }
        samplesInFrame += input.count
        guard samplesInFrame == frameLength else { return nil }
        let scale = 1 / Float(max(1, analysisSamplesInFrame))
        let result = (energy.0 * scale, energy.1 * scale)
        energy = (SIMD4(), SIMD4())
        samplesInFrame = 0
        analysisSamplesInFrame = 0
        return result
    }

    private mutating func absorbBlock(_ input: UnsafeBufferPointer<Float>) {
        guard let src = input.baseAddress, !input.isEmpty else { return }
        let d = decimation
        let taps = fir.count
        var s1 = self.s1, s2 = self.s2, e = self.energy
        let b0 = self.b0, a1 = self.a1, a2 = self.a2
        var produced = 0
        @inline(__always) func band(_ x: Float) {
            // Transposed direct form II with b1 = 0 and b2 = -b0 (band-pass): y = b0 x + s1.
            let v = SIMD4<Float>(repeating: x)
            let y0 = b0.0 * v + s1.0, y1 = b0.1 * v + s1.1
            s1.0 = s2.0 - a1.0 * y0
            s1.1 = s2.1 - a1.1 * y1
            s2.0 = -(b0.0 * v) - a2.0 * y0
            s2.1 = -(b0.1 * v) - a2.1 * y1
            e.0 += y0 * y0
            e.1 += y1 * y1
        }
        if d == 1 {
            for i in 0..<input.count {
                let v = src[i]
                band(v - v == 0 ? v : 0)
            }
            produced = input.count
        } else {
            history.withUnsafeMutableBufferPointer { h in
                let base = h.baseAddress!
                let start = historyCount
                for i in 0..<input.count {
                    let v = src[i]
                    base[start + i] = v - v == 0 ? v : 0
                }
                let end = start + input.count
                // Decimation points: the output for input index j reads the `taps` inputs ending at j.
                var j = start + phase
                fir.withUnsafeBufferPointer { f in
                    while j < end {
                        band(dot8(base + (j - (taps - 1)), f.baseAddress!, taps))
                        produced += 1
                        j += d
                    }
                }
                phase = j - end
                // Keep the last taps - 1 samples.
                let keep = taps - 1
                UnsafeMutableRawPointer(base).copyMemory(from: base + (end - keep), byteCount: 4 * keep)
                historyCount = keep
            }
        }
        self.s1 = s1
        self.s2 = s2
        self.energy = e
        analysisSamplesInFrame += produced
    }
}

/// Dot product of `count` (a multiple of 8) floats in SIMD lanes (a Float reduction does not vectorize by
/// itself). Unlike the resampler's `dot`, the taps need no alignment: they live in a plain array.
@inline(__always)
private func dot8(_ x: UnsafePointer<Float>, _ h: UnsafePointer<Float>, _ count: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    let xr = UnsafeRawPointer(x), hr = UnsafeRawPointer(h)
    while i < count {
        acc += xr.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            * hr.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        i &+= 8
    }
    let q = acc.lowHalf + acc.highHalf
    return (q[0] + q[2]) + (q[1] + q[3])
}
