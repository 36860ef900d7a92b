import RealModule

/// The energy front end of ``ServerVAD``: sums the energy of eight speech bands over 10 ms frames.
///
/// Every input rate is first brought down to an analysis rate of 8 to 16 kHz (an integer decimation behind an
/// anti-alias FIR cut at 4 kHz, the way a resampler to 8 kHz cuts), so the bands, and therefore the decisions, are
/// the same whether the caller sends 8 kHz telephony or 48 kHz microphone audio, and the per-sample work at high
/// rates is a few multiply-adds. The filter's delay is a whole number of analysis samples and a stream that needs
/// no filter is delayed as much, so each 10 ms frame holds the same stretch of sound at every rate: a shift of a
/// millisecond moves a frame's noise energy by tenths of a decibel, enough to flip a frame whose score sits at the
/// level that holds a turn. (A shorter filter that let 4-5 kHz fold into the top band, with a delay the 8 kHz path
/// lacked, put 6 % of the real-voice set's turns more than 20 ms away from the same turns at 8 kHz.)
/// The bands (150 Hz to 3.7 kHz, second-order band-pass sections) leave out DC, mains hum fundamentals and
/// rumble below speech and hiss above the telephone band; they run side by side in `SIMD8` lanes, so eight
/// bands cost what one recursive filter's latency costs.
struct BandAnalyzer: Sendable {
    static let bands = 8
    /// Band edges in hertz: about a third of an octave wide at the bottom, wider above where speech has less
    /// energy per hertz.
    static let edges: [Double] = [150, 300, 500, 750, 1050, 1450, 2000, 2750, 3700]

    /// Input samples taken per pass through the filters.
    static let block = 1024
    /// Delay of the anti-alias filter at an 8 kHz analysis rate, in samples (1.25 ms): every rate is delayed by
    /// that time, a stream that needs no filter too, so the frames of every rate hold the same stretch of sound.
    static let delayAt8kHz = 10
    /// The filter's delay in analysis samples (``delayAt8kHz`` scaled to the analysis rate).
    let delay: Int

    let decimation: Int
    let analysisRate: Double
    /// Input samples per 10 ms frame.
    let frameLength: Int

    // Anti-alias FIR: `taps` coefficients, applied at every `decimation`-th input (at 8 kHz and below only its
    // length counts: the input is delayed by ``delay``).
    private let fir: [Float]
    /// No filter (8 kHz and below): the input is only delayed.
    private let delayOnly: Bool
    private var history: [Float]
    /// Input index (mod `decimation`) of the next input sample: 0 means the next input is a decimation point.
    private var phase = 0

    // Band-pass biquads in transposed direct form II, one band per lane.
    private let b0: SIMD8<Float>
    private let a1: SIMD8<Float>
    private let a2: SIMD8<Float>
    private var s1 = SIMD8<Float>()
    private var s2 = SIMD8<Float>()
    private var energy = SIMD8<Float>()
    /// The analysis-rate samples of one block, filled before the band filters run over them.
    private var scratch: [Float]
    private var samplesInFrame = 0
    private var analysisSamplesInFrame = 0

    init(rate: Int) {
        decimation = max(1, rate / 8000)
        analysisRate = Double(rate) / Double(decimation)
        frameLength = rate / 100
        delayOnly = rate <= 8000
        // The same delay in time at every rate: 10 analysis samples at 8 kHz.
        delay = Int((analysisRate * Double(Self.delayAt8kHz) / 8000).rounded())
        if !delayOnly {
            // Kaiser-windowed sinc cut at 4 kHz (half an 8 kHz analysis rate, as a resampler to 8 kHz cuts), 2 delay
            // taps per decimation step plus one: odd, so its delay is a whole number of analysis samples
            // (``delay``), and zero taps in front make a multiple of 8 for the SIMD dot product.
            let length = 2 * delay * decimation + 1
            let cutoff = 4000 / Double(rate)
            let beta = 5.0
            let centre = Double(length - 1) / 2
            var h = (0..<length).map { i -> Double in
                let m = Double(i) - centre
                let r = m / (centre + 1)
                return 2 * cutoff * sinc(2 * cutoff * m) * kaiserShape(r, beta: beta) / besselI0(beta)
            }
            let sum = h.reduce(0, +)
            h = h.map { $0 / sum }
            fir = [Float](repeating: 0, count: (length + 7) / 8 * 8 - length) + h.map(Float.init)
        } else {
            // Nothing above 4 kHz to remove; only the filter's delay, so every rate sees the same signal at the same
            // moment.
            fir = [Float](repeating: 0, count: delay + 1)
        }
        // The last taps - 1 inputs, then room for a block.
        history = [Float](repeating: 0, count: fir.count + Self.block)
        scratch = [Float](repeating: 0, count: Self.block / decimation + 2)

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
        b0 = SIMD8(c0)
        a1 = SIMD8(c1)
        a2 = SIMD8(c2)
    }

    mutating func reset() {
        history.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        phase = 0
        s1 = SIMD8()
        s2 = SIMD8()
        energy = SIMD8()
        samplesInFrame = 0
        analysisSamplesInFrame = 0
    }

    /// Input samples still needed to complete the current frame.
    var remainingInFrame: Int { frameLength - samplesInFrame }

    /// Absorbs up to ``remainingInFrame`` samples. Returns the mean energy per band when the frame completes.
    mutating func absorb(_ input: UnsafeBufferPointer<Float>) -> SIMD8<Float>? {
        precondition(input.count <= remainingInFrame)
        var offset = 0
        while offset < input.count {
            let n = min(input.count - offset, Self.block)
            absorbBlock(UnsafeBufferPointer(rebasing: input[offset..<(offset + n)]))
            offset += n
        }
        samplesInFrame += input.count
        guard samplesInFrame == frameLength else { return nil }
        let scale = 1 / Float(max(1, analysisSamplesInFrame))
        let result = energy * scale
        energy = SIMD8()
        samplesInFrame = 0
        analysisSamplesInFrame = 0
        return result
    }

    private mutating func absorbBlock(_ input: UnsafeBufferPointer<Float>) {
        guard let src = input.baseAddress, !input.isEmpty else { return }
        // First the analysis-rate samples (sanitized: NaN and infinity become 0), then the band filters over
        // them in one tight loop whose state stays in registers.
        // The scratch buffer moves out for the call (no allocation: an empty array takes its place), so
        // `decimate` may mutate the rest of `self` while writing into it.
        var samples: [Float] = []
        swap(&samples, &scratch)
        defer { swap(&samples, &scratch) }
        let produced = samples.withUnsafeMutableBufferPointer { out in
            decimate(src, input.count, into: out.baseAddress!)
        }
        var s1 = self.s1, s2 = self.s2, e = self.energy
        let b0 = self.b0, a1 = self.a1, a2 = self.a2
        samples.withUnsafeBufferPointer { x in
            for i in 0..<produced {
                // Band-pass: b1 = 0 and b2 = -b0, so y = b0 x + s1, s1' = s2 - a1 y, s2' = -b0 x - a2 y.
                let bx = b0 * SIMD8(repeating: x[i])
                let y = bx + s1
                s1 = s2 - a1 * y
                s2 = -bx - a2 * y
                e += y * y
            }
        }
        // After speech, digital silence (a G.711 line's 0xFF, a muted microphone) lets the filters ring down through
        // the subnormal range, where every multiply takes a microcode assist, so silence cost more than speech
        // (BENCHMARKS.md, server VAD cost). Below 1e-15 (-300 dB) the ring-down is nothing a decision can see.
        let tiny = SIMD8<Float>(repeating: 1e-15)
        s1.replace(with: 0, where: (s1 .< tiny) .& (s1 .> -tiny))
        s2.replace(with: 0, where: (s2 .< tiny) .& (s2 .> -tiny))
        self.s1 = s1
        self.s2 = s2
        self.energy = e
        analysisSamplesInFrame += produced
    }

    /// Appends `count` inputs to the history and writes the anti-aliased value at every decimation point.
    private mutating func decimate(_ src: UnsafePointer<Float>, _ count: Int, into out: UnsafeMutablePointer<Float>) -> Int {
        let d = decimation, taps = fir.count
        var produced = 0
        var phase = self.phase
        let fir = self.fir
        history.withUnsafeMutableBufferPointer { h in
            let base = h.baseAddress!
            let start = taps - 1
            _ = sanitize(src, count, into: base + start)
            let end = start + count
            var j = start + phase
            if delayOnly {
                // Only the delay: the output for input index j is the input `delay` earlier.
                out.update(from: base + (start - delay), count: count)
                produced = count
                j = end
            } else {
                // Decimation points: the output for input index j reads the `taps` inputs ending at j.
                fir.withUnsafeBufferPointer { f in
                    while j < end {
                        out[produced] = dot8(base + (j - (taps - 1)), f.baseAddress!, taps)
                        produced += 1
                        j += d
                    }
                }
            }
            phase = j - end
            // Keep the last taps - 1 samples.
            UnsafeMutableRawPointer(base).copyMemory(from: base + (end - (taps - 1)), byteCount: 4 * (taps - 1))
        }
        self.phase = phase
        return produced
    }
}

/// Copies `count` samples with NaN, ±infinity and magnitudes below 1e-10 (-200 dBFS, finer than any 16-bit or G.711
/// step) replaced by 0: such tiny inputs would keep the band filters in the subnormal range, where every multiply is
/// many times dearer.
private func sanitize(_ src: UnsafePointer<Float>, _ count: Int, into out: UnsafeMutablePointer<Float>) -> Int {
    for i in 0..<count {
        let v = src[i]
        let a = abs(v)
        out[i] = a >= 1e-10 && a < .infinity ? v : 0
    }
    return count
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
