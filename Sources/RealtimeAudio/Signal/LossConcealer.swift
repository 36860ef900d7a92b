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
public struct LossConcealer: Sendable {
    public let sampleRate: SampleRate
    /// The output's delay behind the input, in samples (3.75 ms).
    public let delay: Int

    private let minimumPeriod: Int
    private let maximumPeriod: Int
    private let correlationLength: Int
    private let tenMs: Int
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
    /// The resume's cross-fade: its length, how far it has gone, and the loss it continues.
    private var blendLength = 0
    private var blendDone = 0
    private var lossLength = 0

    /// - Throws: ``SampleRateError/outOfRange(_:)`` outside 8000...48000 Hz.
    public init(sampleRate: SampleRate) throws(SampleRateError) {
        guard (8000...48000).contains(sampleRate.hertz) else { throw .outOfRange(sampleRate.hertz) }
        self.sampleRate = sampleRate
        let r = sampleRate.hertz
        minimumPeriod = r / 200
        maximumPeriod = r * 15 / 1000
        correlationLength = r / 50
        tenMs = r / 100
        delay = maximumPeriod / 4
        let span = max(3 * maximumPeriod, correlationLength + maximumPeriod)
        history = [Float](repeating: 0, count: span + delay)
        source = [Float](repeating: 0, count: span)
    }

    /// Whether a loss is in progress (the last call was ``conceal(count:into:)``).
    public var isConcealing: Bool { lostSamples > 0 }

    /// Takes received samples; writes as many (the delayed signal) to `output`.
    ///
    /// - Precondition: `output.count >= input.count` (the caller's own buffer).
    /// - Returns: the samples written: `input.count`.
    @discardableResult
    public mutating func receive(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> Int {
        precondition(output.count >= input.count, "LossConcealer.receive: output buffer too small")
        if lostSamples > 0 {
            // Cross-fade from the concealment's continuation into the audio that resumed, over a quarter period
            // and 4 ms more for each 10 ms lost beyond the first (whatever the chunks it comes in).
            let extra = max(0, (lostSamples + tenMs - 1) / tenMs - 1) * (sampleRate.hertz / 250)
            blendLength = period / 4 + extra
            blendDone = 0
            lossLength = lostSamples
            lostSamples = 0
        }
        for i in 0..<input.count {
            var x = input[i]
            if blendDone < blendLength {
                let w = Float(blendDone + 1) / Float(blendLength + 1)
                x = w * x + (1 - w) * synthetic(lossLength + blendDone)
                blendDone += 1
            }
            output[i] = push(x)
        }
        return input.count
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
        for i in 0..<count {
            output[i] = push(synthetic(lostSamples))
            lostSamples += 1
        }
        return count
    }

    /// Writes the `delay` samples still held (at the end of the stream), and starts over.
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
        for i in 0..<sourceCount { source[i] = history[ringIndex(sourceCount - 1 - i)] }
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

    /// The period (samples) whose shift best matches the last 20 ms: the largest normalized correlation.
    private func findPeriod() -> Int {
        var best = minimumPeriod
        var bestScore: Float = -1
        source.withUnsafeBufferPointer { h in
            let end = sourceCount
            let start = end - correlationLength
            for p in minimumPeriod...maximumPeriod {
                var c: Float = 0, e: Float = 0
                for i in start..<end {
                    let y = h[i - p]
                    c += h[i] * y
                    e += y * y
                }
                let score = e > 0 ? c / e.squareRoot() : 0
                // Prefer the shortest period within 1 % of the best: a multiple of the period scores alike.
                if score > bestScore * 1.01 { bestScore = score; best = p }
            }
        }
        return best
    }

    /// Sample `j` of the concealment (from the loss's start): the last one, two or three periods repeated,
    /// switches cross-faded, faded out from 10 ms to 60 ms.
    private func synthetic(_ j: Int) -> Float {
        let gain: Float = j < tenMs ? 1 : max(0, 1 - 0.2 * Float(j - tenMs) / Float(tenMs))
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
