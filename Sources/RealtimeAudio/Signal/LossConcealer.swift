/// Packet-loss concealment for speech, after the method of ITU-T G.711 Appendix I: fill a lost stretch with
/// the last pitch periods of what was heard, joined without a click, fading out after 10 ms and silent from
/// 60 ms, and blend back into the audio when it resumes.
///
/// How it conceals, at the loss's first sample:
/// 1. **Pitch.** The period (5 to 15 ms: 200 Hz down to 67 Hz) that best repeats the last 20 ms, by normalized
///    cross-correlation over the history (the last 48.75 ms).
/// 2. **Join.** The last quarter period before the loss is still in the output delay (3.75 ms), so it is
///    cross-faded into the same samples one period earlier: the repeated periods then continue the waveform
///    instead of jumping.
/// 3. **Repeat.** The last period repeats for 10 ms, then the last two, then the last three (one period
///    repeated for long sounds buzzy); each switch is cross-faded over a quarter period.
/// 4. **Fade.** Full level for 10 ms, then down 20 % per 10 ms: silence from 60 ms (longer repetition of one
///    syllable sounds worse than silence).
/// 5. **Resume.** The first audio after the loss is cross-faded with the concealment's continuation over a
///    quarter period, plus 4 ms for each 10 ms lost beyond the first.
///
/// The output is the input delayed by a quarter of the longest period (3.75 ms): that room is what makes the
/// join possible. ``finish(into:)`` writes the delayed rest. Streaming is exact: any split of the same received
/// and lost stretches gives the same output. Nothing is allocated after `init`. One per stream.
///
/// An ``AudioStream`` of `Float` samples at one rate (``process(_:into:)`` takes what was received); the
/// conventions there hold.
public struct LossConcealer: AudioStream {
    /// The rate of the stream it conceals, in its samples.
    public let sampleRate: SampleRate
    /// The output's delay behind the input, in samples (3.75 ms).
    public let delay: Int

    private let minimumPeriod: Int
    private let maximumPeriod: Int
    private let correlationLength: Int
    private let tenMs: Int
    /// The fade's step: 20 % per 10 ms.
    private let fadePerSample: Float
    /// The signal as concealed so far (received samples, and synthetic ones during a loss), newest last; its
    /// last `delay` samples are not output yet.
    private var history: [Float]
    /// Where the next sample goes in the `history` ring, and how many it holds.
    private var write = 0
    private var filled = 0
    /// The loss in progress: its length so far (samples), the period, and the periods' source (a copy of the
    /// history's tail at the loss's start).
    private var lostSamples = 0
    private var period = 0
    private var source: [Float]
    private var sourceCount = 0
    /// The search's half-rate copy of the source's end.
    private var decimated: [Float]
    /// Concealment made ahead of the delay line, a block at a time.
    private var scratch: [Float]
    /// The resume's cross-fade: its length, how far it has gone, and the loss it continues.
    private var blendLength = 0
    private var blendDone = 0
    private var lossLength = 0

    /// A concealer for a stream at `sampleRate` (its history and pitch search are sized for it).
    ///
    /// - Throws: ``SampleRateError/outOfRange(_:)`` outside 8000...48000 Hz.
    public init(sampleRate: SampleRate) throws(SampleRateError) {
        guard (8000...48000).contains(sampleRate.hertz) else { throw .outOfRange(sampleRate.hertz) }
        self.sampleRate = sampleRate
        let r = sampleRate.hertz
        minimumPeriod = r / 200
        maximumPeriod = r * 15 / 1000
        correlationLength = r / 50
        tenMs = r / 100
        fadePerSample = 0.2 / Float(r / 100)
        delay = maximumPeriod / 4
        let span = max(3 * maximumPeriod, correlationLength + maximumPeriod)
        history = [Float](repeating: 0, count: span + delay)
        source = [Float](repeating: 0, count: span)
        decimated = [Float](repeating: 0, count: (correlationLength + maximumPeriod) / 2 + 1)
        scratch = [Float](repeating: 0, count: 4 * tenMs)
    }

    /// Whether a loss is in progress (the last call was ``conceal(count:into:)``).
    public var isConcealing: Bool { lostSamples > 0 }

    /// The output's delay behind the input, in seconds (3.75 ms).
    public var latencySeconds: Double { Double(delay) / Double(sampleRate.hertz) }

    /// The most samples ``process(_:into:)`` writes for `count` received samples (`count`), and with `count` 0 the
    /// most ``finish(into:)`` writes (``delay``), in any state.
    public func maximumOutputCount(forInput count: Int) -> Int { max(count, delay) }

    /// Takes received samples; writes as many (the delayed signal) to `output`, as many as it has room for.
    ///
    /// - Returns: the samples consumed and written: both `min(input.count, output.count)`.
    @discardableResult
    public mutating func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> (consumed: Int, produced: Int) {
        let input = UnsafeBufferPointer(rebasing: input[..<min(input.count, output.count)])
        guard !input.isEmpty else { return (0, 0) }
        if lostSamples > 0 {
            // Cross-fade from the concealment's continuation into the audio that resumed, over a quarter period
            // and 4 ms more for each 10 ms lost beyond the first (whatever the chunks it comes in).
            let extra = max(0, (lostSamples + tenMs - 1) / tenMs - 1) * (sampleRate.hertz / 250)
            blendLength = period / 4 + extra
            blendDone = 0
            lossLength = lostSamples
            lostSamples = 0
        }
        var i = 0
        while i < input.count, blendDone < blendLength {
            let w = Float(blendDone + 1) / Float(blendLength + 1)
            output[i] = push(w * input[i] + (1 - w) * synthetic(lossLength + blendDone))
            blendDone += 1
            i += 1
        }
        if i < input.count { pushBlock(UnsafeBufferPointer(rebasing: input[i...]), into: UnsafeMutableBufferPointer(rebasing: output[i...])) }
        return (input.count, input.count)
    }

    /// Conceals `count` lost samples: writes `count` samples to `output`.
    ///
    /// - Precondition: `output.count >= count` (the caller's own buffer).
    @discardableResult
    public mutating func conceal(count: Int, into output: UnsafeMutableBufferPointer<Float>) -> Int {
        precondition(output.count >= count, "LossConcealer.conceal: output buffer too small")
        guard count > 0 else { return 0 }
        if lostSamples == 0 {
            blendLength = 0
            begin()
        }
        var done = 0
        var block: [Float] = []
        swap(&block, &scratch)
        while done < count {
            let k = min(count - done, block.count)
            block.withUnsafeMutableBufferPointer { fillSynthetic(from: lostSamples, into: UnsafeMutableBufferPointer(rebasing: $0[..<k])) }
            lostSamples += k
            block.withUnsafeBufferPointer { pushBlock(UnsafeBufferPointer(rebasing: $0[..<k]), into: UnsafeMutableBufferPointer(rebasing: output[done...])) }
            done += k
        }
        swap(&block, &scratch)
        return count
    }

    /// Writes the `delay` samples still held (at the end of the stream), and starts over.
    ///
    /// - Precondition: `output.count >= delay` (the caller's own buffer, sized with `maximumOutputCount(forInput: 0)`).
    @discardableResult
    public mutating func finish(into output: UnsafeMutableBufferPointer<Float>) -> Int {
        precondition(output.count >= delay, "LossConcealer.finish: output buffer too small")
        for i in 0..<delay { output[i] = push(0) }
        reset()
        return delay
    }

    /// Forgets the stream.
    public mutating func reset() {
        history.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        write = 0
        filled = 0
        lostSamples = 0
        period = 0
        blendLength = 0
        blendDone = 0
    }

    /// Appends a sample to the history; returns the one `delay` behind it.
    private mutating func push(_ x: Float) -> Float {
        let n = history.count
        var back = write - delay
        if back < 0 { back += n }
        let out = history[back]
        history[write] = x
        write += 1
        if write == n { write = 0 }
        filled = min(filled + 1, n)
        return out
    }

    /// ``push(_:)`` for a run of samples: the delayed ones out, the new ones in, in ring segments.
    private mutating func pushBlock(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) {
        let n = history.count
        var done = 0
        history.withUnsafeMutableBufferPointer { h in
            while done < input.count {
                var back = write - delay
                if back < 0 { back += n }
                // As far as neither the read nor the write position wraps, and the read stays behind the write.
                let k = min(input.count - done, n - write, n - back, delay)
                // In first, out second: `input` and `output` may be the same memory (the regions of the ring never
                // overlap: they are `delay` apart and `k <= delay`).
                (h.baseAddress! + write).update(from: input.baseAddress! + done, count: k)
                (output.baseAddress! + done).update(from: h.baseAddress! + back, count: k)
                write += k
                if write == n { write = 0 }
                done += k
            }
        }
        filled = min(filled + input.count, n)
    }

    /// The history's sample `k` back from the newest (0: the newest).
    private func ringIndex(_ k: Int) -> Int {
        var i = write - 1 - k
        while i < 0 { i += history.count }
        return i
    }

    /// The loss starts: find the period, join the held quarter period to the one before it, keep the periods.
    private mutating func begin() {
        // The history's newest samples, in order, ending where the loss begins.
        sourceCount = source.count
        let n = history.count
        var from = write - sourceCount
        if from < 0 { from += n }
        let first = min(sourceCount, n - from)
        source.withUnsafeMutableBufferPointer { s in
            history.withUnsafeBufferPointer { h in
                s.baseAddress!.update(from: h.baseAddress! + from, count: first)
                if first < sourceCount { (s.baseAddress! + first).update(from: h.baseAddress!, count: sourceCount - first) }
            }
        }
        period = filled >= correlationLength + maximumPeriod ? findPeriod() : minimumPeriod
        // The join: the held quarter period fades into the samples one period earlier (in the output delay and in
        // the periods' source alike).
        let quarter = period / 4
        for i in 0..<quarter {
            let w = Float(i + 1) / Float(quarter + 1)
            let k = sourceCount - quarter + i
            let joined = (1 - w) * source[k] + w * source[k - period]
            source[k] = joined
            history[ringIndex(quarter - 1 - i)] = joined
        }
    }

    /// The period (samples) whose shift best matches the last 20 ms: the largest normalized correlation, found
    /// on the signal at half its rate first (pairs averaged: a quarter of the work, eight lanes at a time), then
    /// refined around the best at full resolution.
    private mutating func findPeriod() -> Int {
        let end = sourceCount
        let half = (correlationLength + maximumPeriod) / 2
        for i in 0..<half { decimated[i] = 0.5 * (source[end - 2 * half + 2 * i] + source[end - 2 * half + 2 * i + 1]) }
        let window = correlationLength / 2
        let coarse: Int = decimated.withUnsafeBufferPointer { d -> Int in
            var best = minimumPeriod / 2
            var bestScore: Float = -.infinity
            for p in (minimumPeriod / 2)...(maximumPeriod / 2) {
                var c = SIMD8<Float>(), e = SIMD8<Float>()
                var i = half - window
                while i + 8 <= half {
                    let x = SIMD8<Float>(UnsafeBufferPointer(rebasing: d[i..<(i + 8)]))
                    let y = SIMD8<Float>(UnsafeBufferPointer(rebasing: d[(i - p)..<(i - p + 8)]))
                    c += x * y
                    e += y * y
                    i += 8
                }
                var cs = c.sum(), es = e.sum()
                while i < half { cs += d[i] * d[i - p]; es += d[i - p] * d[i - p]; i += 1 }
                let v = es > 0 ? cs / es.squareRoot() : 0
                // Prefer the shortest period within 1 % of the best: a multiple of the period scores alike.
                if v > bestScore * 1.01 || bestScore == -.infinity { bestScore = v; best = p }
            }
            return 2 * best
        }
        return source.withUnsafeBufferPointer { h -> Int in
            func score(_ p: Int) -> Float {
                var c: Float = 0, e: Float = 0
                for i in (end - correlationLength)..<end { let y = h[i - p]; c += h[i] * y; e += y * y }
                return e > 0 ? c / e.squareRoot() : 0
            }
            var refined = coarse, refinedScore = score(coarse)
            for q in (coarse - 1)...(coarse + 1) where q != coarse && q >= minimumPeriod && q <= maximumPeriod {
                let v = score(q)
                if v > refinedScore { refinedScore = v; refined = q }
            }
            return refined
        }
    }

    /// Samples `j0...` of the concealment into `out`: ``synthetic(_:)``, a run at a time (the period count, the
    /// read position and the gain stepped, not recomputed, outside the cross-fades).
    private func fillSynthetic(from j0: Int, into out: UnsafeMutableBufferPointer<Float>) {
        var i = 0
        let fade = period / 4
        while i < out.count {
            let j = j0 + i
            let periods = min(3, 1 + j / tenMs)
            let sinceSwitch = j - (periods - 1) * tenMs
            if period == 0 || j >= 6 * tenMs || (periods > 1 && sinceSwitch < fade) {
                out[i] = synthetic(j)
                i += 1
                continue
            }
            // Up to the next 10 ms boundary: one period count, a straight gain line.
            let boundary = (j / tenMs + 1) * tenMs
            let n = min(out.count - i, boundary - j)
            let span = periods * period
            let base = sourceCount - span
            var position = j % span
            let fading = j >= tenMs
            source.withUnsafeBufferPointer { src in
                for k in 0..<n {
                    // The gain as ``synthetic(_:)`` computes it, sample for sample (so any split gives the same).
                    let gain: Float = fading ? max(0, 1 - fadePerSample * Float(j + k - tenMs)) : 1
                    out[i + k] = gain * src[base + position]
                    position += 1
                    if position == span { position = 0 }
                }
            }
            i += n
        }
    }

    /// Sample `j` of the concealment (from the loss's start): the last one, two or three periods repeated,
    /// switches cross-faded, faded out from 10 ms to 60 ms.
    private func synthetic(_ j: Int) -> Float {
        let gain: Float = j < tenMs ? 1 : max(0, 1 - fadePerSample * Float(j - tenMs))
        guard gain > 0, period > 0 else { return 0 }
        let periods = min(3, 1 + j / tenMs)
        var value = repeating(periods, j)
        let sinceSwitch = j - (periods - 1) * tenMs
        let fade = period / 4
        if periods > 1, sinceSwitch < fade {
            let w = Float(sinceSwitch + 1) / Float(fade + 1)
            value = w * value + (1 - w) * repeating(periods - 1, j)
        }
        return gain * value
    }

    /// The last `k` periods of the source (which ends where the loss began), repeated from `j` samples in.
    private func repeating(_ k: Int, _ j: Int) -> Float {
        // The source ends `delay` samples after the output stopped: the loss's sample 0 continues its end.
        let span = k * period
        return source[sourceCount - span + (j % span)]
    }
}
