/// A speed the scaler cannot take.
public enum SpeedError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A speed outside ``SpeedScaler/speedRange`` (or NaN).
    case speedOutOfRange(Double)
    /// A sample rate below 8000 Hz: the pitch search needs speech's fundamental well under the Nyquist frequency.
    case rateTooLow(Int)

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String {
        switch self {
        case .speedOutOfRange(let speed):
            "speed \(speed) is out of range (\(SpeedScaler.speedRange.lowerBound)...\(SpeedScaler.speedRange.upperBound))"
        case .rateTooLow(let hertz):
            "sample rate \(hertz) Hz is too low for speed scaling (8000 Hz at least)"
        }
    }
}

/// Pitch-preserving time stretching for speech (the Realtime session's `speed`, 0.25 to 1.5).
///
/// How it works (pitch-synchronous overlap-add, the PICOLA family that sonic also belongs to): the output is the
/// input read by a pointer that normally moves one sample per output sample. To slow down, the pointer jumps back
/// by one pitch period; to speed up, it jumps one period ahead. Each jump is hidden by cross-fading, over one
/// period, the samples before the jump into the samples after it: the signal is periodic there, so the two agree
/// and the fade is inaudible, and the pitch stays because whole periods are repeated or dropped. The period is
/// found at each jump by a normalized squared-difference search, coarse on a 4 kHz average then exact at the full
/// rate, between 70 and 400 Hz.
///
/// - **Exact durations**: when to jump is decided from the running totals (input passed, output made), not from a
///   per-jump rounding, so the output tracks `input / speed` within one period at every moment, and ``finish(into:)``
///   makes the total exactly `round(inputCount / speed)`.
/// - **Speed 1.0 is a copy**: bit-identical, no latency, no search.
/// - **Chunking never changes the output**: every decision depends on the samples and the totals only; a chunk
///   boundary only changes when output is released.
/// - **Non-finite input** (NaN, ±infinity) is replaced by 0 as it enters (at speed 1 it is copied as is).
/// - **Latency**: a jump needs up to two periods of lookahead (``latencySeconds``, 29 ms).
/// - **Changing speed**: ``setSpeed(_:)`` applies at once while the scaler is idle (nothing given since creation,
///   ``finish(into:)`` or ``reset()``). During a turn the new speed waits for the turn's end, as the Realtime API
///   defines (`speed` changes between turns): the turn in progress keeps its speed, so its duration stays exact.
///
/// An ``AudioStream`` of `Float` samples at one rate: the conventions there hold (units, buffers, capacity,
/// threading). One instance per stream (a value type). `process` allocates nothing: buffers are sized at `init`.
public struct SpeedScaler: AudioStream {
    /// The speeds accepted, as the Realtime API defines them.
    public static let speedRange: ClosedRange<Double> = 0.25...1.5

    /// The rate of the stream, in and out.
    public let sampleRate: SampleRate
    /// The speed of the turn in progress.
    public private(set) var speed: Double
    /// A speed set during a turn, applied at the next ``finish(into:)`` or ``reset()``.
    public private(set) var pendingSpeed: Double?

    /// Shortest and longest pitch period searched, in samples, and the averaging factor of the coarse search.
    let minPeriod: Int
    let maxPeriod: Int
    let decimation: Int

    /// Input history and lookahead. `buffer[i]` is stream sample `bufferStart + i`; `filled` are valid.
    private var buffer: [Float]
    private var filled = 0
    private var bufferStart = 0
    /// The read pointer in 1/4096 samples (stream index × 4096): where the output continues from. Jumps are whole
    /// pitch periods to 1/4096 of a sample, so the pointer is fractional; samples between input samples are read
    /// through a 32-tap interpolator (to 1/256 of a sample), and at whole positions copied. The pointer keeps the
    /// finer unit so the rounding of each read does not accumulate into a pitch drift.
    private var read = 0
    /// A jump's cross-fade, released as the caller's buffer and the emission limit allow.
    private var staged: [Float]
    private var stagedCount = 0
    private var stagedRead = 0
    /// Samples to copy before the next jump.
    private var copyRemaining = 0
    /// The period of the last jump in 1/4096 samples (a search in silence keeps it).
    private var lastPeriod: Int
    /// Samples given, output made by the algorithm (staged included), output released.
    private var received = 0
    private var made = 0
    private var released = 0
    /// Scratch for the coarse search, and for the track a cross-fade fades into.
    private var coarse: [Float]
    private var fadeIn: [Float]

    /// Samples kept before the read pointer beyond one period, and needed after any read position: the
    /// interpolator's half-length.
    static let margin = Interpolator.taps

    /// Bits of fraction in the read pointer and in periods, and half a sample in that unit.
    static let fraction = 12
    static let half = 1 << (fraction - 1)

    /// Creates a scaler.
    ///
    /// - Parameters:
    ///   - sampleRate: the stream's rate (8 kHz or more; 24 kHz is the Realtime API's).
    ///   - speed: 0.25 ... 1.5; 1.0 copies.
    /// - Throws: ``SpeedError``.
    public init(sampleRate: SampleRate, speed: Double = 1) throws(SpeedError) {
        guard sampleRate.hertz >= 8000 else { throw .rateTooLow(sampleRate.hertz) }
        guard Self.speedRange.contains(speed) else { throw .speedOutOfRange(speed) }
        let rate = sampleRate.hertz
        self.sampleRate = sampleRate
        self.speed = speed
        decimation = max(1, rate / 4000)
        minPeriod = max(2, rate / 400)
        // A multiple of the decimation, so coarse lags map onto whole coarse samples.
        maxPeriod = (rate / 70 + decimation - 1) / decimation * decimation
        lastPeriod = ((minPeriod + maxPeriod) / 2) << Self.fraction
        buffer = [Float](repeating: 0, count: 3 * maxPeriod + 4 * Self.margin + 4096)
        staged = [Float](repeating: 0, count: maxPeriod + 1)
        fadeIn = [Float](repeating: 0, count: maxPeriod + 1)
        coarse = [Float](repeating: 0, count: 3 * maxPeriod / decimation + 1)
        // Build the shared interpolator now, not on the first fractional read in the middle of a stream (a
        // one-time cost of ~1,500 small allocations there would be a latency spike on the audio path).
        _ = Interpolator.shared
        reset()
    }

    /// Input held back at most before it reaches the output, in seconds: two of the longest periods (a forward
    /// jump compares the two periods ahead of the read pointer); 0 at speed 1.
    public var latencySeconds: Double { speed == 1 ? 0 : Double(lookahead) / Double(sampleRate.hertz) }

    /// The lookahead in input samples.
    var lookahead: Int { 2 * maxPeriod + Self.margin }

    /// Input samples given since the start of the turn.
    public var inputCount: Int { received }
    /// Output samples written since the start of the turn.
    public var outputCount: Int { released }

    /// Whether a new speed would apply at once: nothing has been given since creation, `finish` or `reset`.
    public var isIdle: Bool { received == 0 }

    /// Sets the speed: at once when idle, else at the end of the turn (see the type's documentation).
    ///
    /// - Throws: ``SpeedError/speedOutOfRange(_:)``; the current speed is kept.
    public mutating func setSpeed(_ newSpeed: Double) throws(SpeedError) {
        guard Self.speedRange.contains(newSpeed) else { throw .speedOutOfRange(newSpeed) }
        if isIdle {
            speed = newSpeed
            pendingSpeed = nil
        } else {
            pendingSpeed = newSpeed
        }
    }

    /// The most samples ``process(_:into:)`` can write for `count` input samples, and with `count` 0 the most
    /// ``finish(into:)`` writes, **in any state and at any speed** of the range (a speed set later cannot outgrow it). Size `output` once with it for the largest chunk and every
    /// call consumes its whole input; a smaller buffer is valid too (`process` stops when it is full).
    ///
    /// Why it is larger than `count / speed`: `process` takes input into its history while there is space even when
    /// the output is full, so after calls with little room it owes up to a history's worth (a few thousand samples)
    /// at the slowest speed, 0.25.
    /// - Complexity: O(1).
    public func maximumOutputCount(forInput count: Int) -> Int {
        Self.bound(Self.clamped(count) + buffer.count + maxPeriod + 2 * Self.margin)
    }

    /// The bound when every call so far had room for its whole output (as the pipelines give): nothing owed beyond
    /// the lookahead, so `count` plus two periods, at the slowest speed.
    func steadyOutputCount(forInput count: Int) -> Int {
        Self.bound(Self.clamped(count) + 2 * maxPeriod + 2 * Self.margin + 64)
    }

    /// `count` within 0...`Int.max / 32`, so the sums above cannot overflow whatever the caller asks.
    private static func clamped(_ count: Int) -> Int { min(max(0, count), Int.max / 32) }

    /// `count / 0.25`, rounded up, plus rounding; saturating for any count.
    private static func bound(_ count: Int) -> Int {
        let n = Double(max(0, min(count, Int.max / 16)))
        return Int((n / speedRange.lowerBound).rounded(.up)) + 2
    }

    /// The number of samples ``finish(into:)`` writes now.
    public var pendingOutputCount: Int { finalCount - released }

    /// `round(received / speed)`, the turn's exact output length.
    private var finalCount: Int { speed == 1 ? received : Int((Double(received) / speed).rounded()) }

    /// Stretches a chunk.
    ///
    /// Consumes input until it runs out or `output` is full, and writes the output the input so far determines.
    /// - Returns: input samples consumed and output samples written; `(n, 0)` is normal while the lookahead fills.
    /// - Complexity: O(n) with one pitch search per jump; no allocation.
    public mutating func process(
        _ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>
    ) -> (consumed: Int, produced: Int) {
        if speed == 1 {
            let n = min(input.count, output.count)
            if n > 0 { output.baseAddress!.update(from: input.baseAddress!, count: n) }
            received += n
            released += n
            return (n, n)
        }
        var used = 0
        // Never release more than the turn is owed so far, so `finish` can always land on the exact length.
        let written = run(into: output, finishing: false) { room in
            let n = min(room.count, input.count - used)
            if n > 0 {
                room.baseAddress!.update(from: input.baseAddress! + used, count: n)
                zeroNonFinite(room.baseAddress!, n)
            }
            used += n
            return n
        }
        return (used, written)
    }

    /// Ends the turn: writes the output still owed (``pendingOutputCount``), reading silence past the end, so the
    /// turn's total is exactly `round(inputCount / speed)`; then starts a new turn at the pending speed, if any.
    ///
    /// - Returns: the samples written.
    /// - Precondition: `output.count >= pendingOutputCount` (traps otherwise).
    public mutating func finish(into output: UnsafeMutableBufferPointer<Float>) -> Int {
        let owed = pendingOutputCount
        precondition(output.count >= owed, "SpeedScaler.finish: output buffer too small")
        var written = 0
        if speed != 1 {
            written = run(into: UnsafeMutableBufferPointer(rebasing: output[..<owed]), finishing: true) { room in
                room.update(repeating: 0)
                return room.count
            }
        }
        reset()
        return written
    }

    /// Drops the turn in progress (barge-in) and applies a pending speed. Allocation-free.
    public mutating func reset() {
        if let next = pendingSpeed { speed = next }
        pendingSpeed = nil
        // Silence before the stream, for the interpolator's history.
        let history = Self.margin
        buffer.withUnsafeMutableBufferPointer { $0[..<history].update(repeating: 0) }
        filled = history
        bufferStart = -history
        read = 0
        stagedCount = 0
        stagedRead = 0
        copyRemaining = 0
        lastPeriod = ((minPeriod + maxPeriod) / 2) << Self.fraction
        received = 0
        made = 0
        released = 0
    }

    // MARK: - The engine

    /// Runs the jump/copy schedule, taking input from `refill` (which fills up to `room.count` samples and says
    /// how many) until it gives nothing, `output` is full or the release limit is reached.
    private mutating func run(
        into output: UnsafeMutableBufferPointer<Float>, finishing: Bool,
        refill: (UnsafeMutableBufferPointer<Float>) -> Int
    ) -> Int {
        var written = 0
        let out = output.baseAddress
        var inputDone = false
        while true {
            let limit = finishing ? finalCount : Int(Double(received) / speed)
            var room = min(output.count - written, limit - released)
            // 1. Release a staged cross-fade.
            if stagedRead < stagedCount, room > 0 {
                let n = min(room, stagedCount - stagedRead)
                staged.withUnsafeBufferPointer { out!.advanced(by: written).update(from: $0.baseAddress! + stagedRead, count: n) }
                stagedRead += n
                written += n
                released += n
                continue
            }
            // 2. Take input while there is room behind the lookahead.
            if !inputDone {
                compact()
                let space = buffer.count - filled
                if space > 0 {
                    let n = buffer.withUnsafeMutableBufferPointer { refill(UnsafeMutableBufferPointer(rebasing: $0[filled...])) }
                    if n == 0 { inputDone = true } else {
                        filled += n
                        if !finishing { received += n }   // `finish`'s silence is not input
                        continue
                    }
                }
            }
            room = min(output.count - written, limit - released)
            guard stagedRead >= stagedCount, room > 0 else { break }
            let available = bufferStart + filled
            // 3. Copy straight through (interpolated between input samples).
            if copyRemaining > 0 {
                let n = min(copyRemaining, (available - Self.margin) - (read >> Self.fraction), room)
                if n <= 0 { break }
                readTrack(at: read, count: n, into: out! + written)
                read += n << Self.fraction
                made += n
                copyRemaining -= n
                written += n
                released += n
                continue
            }
            // 4. A jump, once its lookahead is in.
            let position = read >> Self.fraction
            if speed < 1 {
                // Back: needs one period of history (real input, not the silence before the stream) and one ahead.
                let history = min(maxPeriod, position - Self.margin)
                if history < minPeriod {
                    copyRemaining = minPeriod + Self.margin - position
                    continue
                }
                guard available - position >= maxPeriod + Self.margin else { break }
                let period = searchPeriod(at: position, backward: true, longest: history)
                let length = (period + Self.half) >> Self.fraction
                crossFade(from: read, to: read - period, count: length)
                read += (length << Self.fraction) - period
                made += length
            } else {
                guard available - position >= 2 * maxPeriod + Self.margin else { break }
                let period = searchPeriod(at: position, backward: false, longest: maxPeriod - 1)
                let length = (period + Self.half) >> Self.fraction
                crossFade(from: read, to: read + period, count: length)
                read += period + (length << Self.fraction)
                made += length
            }
            // Copy until the totals meet again: read - start = speed × made.
            let gap = (Double(read) / Double(1 << Self.fraction) - speed * Double(made)) / (speed - 1)
            copyRemaining = max(0, Int(gap.rounded()))
        }
        return written
    }

    /// Writes `count` samples of the input read from `position` (1/4096 samples) onwards, one sample apart.
    private func readTrack(at position: Int, count: Int, into destination: UnsafeMutablePointer<Float>) {
        buffer.withUnsafeBufferPointer { Self.readTrack($0, start: bufferStart, at: position, count: count, into: destination) }
    }

    private static func readTrack(
        _ x: UnsafeBufferPointer<Float>, start: Int, at position: Int, count: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        // To the interpolator's resolution, rounding: the error stays under 1/512 sample and does not add up.
        let steps = (position + (1 << (Self.fraction - Interpolator.phaseBits - 1))) >> (Self.fraction - Interpolator.phaseBits)
        let p = x.baseAddress! + ((steps >> Interpolator.phaseBits) - start)
        let phase = steps & (Interpolator.phases - 1)
        if phase == 0 {
            destination.update(from: p, count: count)
        } else {
            Interpolator.shared.read(p, phase: phase, count: count, into: destination)
        }
    }

    /// Moves the buffer's live part (one longest period of history before the read pointer) to its front, so
    /// input can keep arriving.
    private mutating func compact() {
        let keepFrom = (read >> Self.fraction) - maxPeriod - 2 * Self.margin - bufferStart
        guard keepFrom > 0, filled > buffer.count / 2 || filled == buffer.count else { return }
        let shift = min(keepFrom, filled)
        buffer.withUnsafeMutableBufferPointer { b in
            let base = b.baseAddress!
            base.update(from: base + shift, count: filled - shift)
        }
        filled -= shift
        bufferStart += shift
    }

    /// Stages `count` samples that fade from the input read at `fadeOut` into the input read at `fadeIn`
    /// (positions in 1/4096 samples) over the first half, then continue on the `fadeIn` side.
    ///
    /// Why half a period and a smoothstep: a fade over the whole period mixes two periods that, in speech, agree
    /// only at low frequencies, and the mix loses high-frequency energy (a duller voice); a short linear fade
    /// splatters. A C1-continuous fade over half the period keeps both small.
    private mutating func crossFade(from fadeOutPosition: Int, to fadeInPosition: Int, count: Int) {
        let fade = max(1, count / 2)
        let start = bufferStart
        buffer.withUnsafeBufferPointer { x in
            staged.withUnsafeMutableBufferPointer { Self.readTrack(x, start: start, at: fadeOutPosition, count: fade, into: $0.baseAddress!) }
            fadeIn.withUnsafeMutableBufferPointer { Self.readTrack(x, start: start, at: fadeInPosition, count: count, into: $0.baseAddress!) }
        }
        let step = 1 / Float(fade + 1)
        staged.withUnsafeMutableBufferPointer { s in
            fadeIn.withUnsafeBufferPointer { f in
                let out = s.baseAddress!, v = f.baseAddress!
                for i in 0..<fade {
                    let t = Float(i + 1) * step
                    let w = t * t * (3 - 2 * t)
                    out[i] += w * (v[i] - out[i])
                }
                if fade < count { (out + fade).update(from: v + fade, count: count - fade) }
            }
        }
        stagedCount = count
        stagedRead = 0
    }

    /// The pitch period at stream index `position`, in 1/4096 samples: the lag `L` whose two adjacent periods match
    /// best (normalized squared difference), comparing `[p, p + L)` with `[p + L, p + 2L)` forward or
    /// `[p - L, p)` with `[p, p + L)` backward, for `L` up to `longest`. Coarse on 4 kHz averages, exact at the
    /// full rate around the coarse winner, then to a fraction of a sample by a parabola through the best three:
    /// a jump by a whole number of samples would shift a 220 Hz voice (109.09 samples at 24 kHz) by 0.09 samples
    /// at every jump, which costs the harmonics 20 dB of cleanliness.
    private mutating func searchPeriod(at position: Int, backward: Bool, longest: Int) -> Int {
        let d = decimation, minPeriod = self.minPeriod
        let span = longest / d * d
        let found: Int? = buffer.withUnsafeBufferPointer { xb -> Int? in
            let x = xb.baseAddress! + (position - bufferStart)
            let coarseCount = 2 * span / d
            let lo = max(1, (minPeriod + d - 1) / d), hi = span / d
            guard lo <= hi else { return nil }
            let bestCoarse = coarse.withUnsafeMutableBufferPointer { cb -> Int? in
                let y = cb.baseAddress!
                let region = backward ? x - span : x
                let scale = 1 / Float(d)
                for k in 0..<coarseCount {
                    var sum: Float = 0
                    for j in 0..<d { sum += region[k * d + j] }
                    y[k] = sum * scale
                }
                var best: Int?, bestScore = Float.infinity
                for lag in lo...hi {
                    // Forward: y[0..<lag] against y[lag..<2 lag]; backward: y[hi-lag..<hi] against y[hi..<hi+lag].
                    let first = backward ? hi - lag : 0
                    let score = mismatch(y + first, y + first + lag, lag)
                    if score < bestScore { bestScore = score; best = lag }
                }
                return best
            }
            guard let bestCoarse else { return nil }
            func score(_ lag: Int) -> Float { backward ? mismatch(x - lag, x, lag) : mismatch(x, x + lag, lag) }
            let from = max(minPeriod, bestCoarse * d - d + 1), to = min(longest, bestCoarse * d + d - 1)
            guard from <= to else { return nil }
            var lag = from, best = score(from)
            if from < to {
                for candidate in (from + 1)...to {
                    let s = score(candidate)
                    if s < best { best = s; lag = candidate }
                }
            }
            guard best.isFinite else { return nil }
            // The parabola compares equal windows (the search's windows grow with the lag, which would tilt it).
            func fixed(_ candidate: Int) -> Float {
                backward ? mismatch(x - candidate, x, lag) : mismatch(x, x + candidate, lag)
            }
            let before = fixed(lag - 1), after = fixed(lag + 1)
            let curvature = before - 2 * best + after
            var offset = curvature > 0 ? 0.5 * (before - after) / curvature : 0
            offset = min(0.5, max(-0.5, offset))
            return Int(((Double(lag) + Double(offset)) * Double(1 << Self.fraction)).rounded())
        }
        // A search in silence keeps the last period; never reach past the history a backward jump has.
        let period = min(max(found ?? lastPeriod, minPeriod << Self.fraction), longest << Self.fraction)
        lastPeriod = period
        return period
    }
}

/// Normalized squared difference of two `count`-sample segments: 0 when equal, about 1 when unrelated, and +inf
/// when both are silent (no period to find there).
@inline(__always)
private func mismatch(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
    var diff = SIMD4<Float>(), energy = SIMD4<Float>()
    var i = 0
    let ar = UnsafeRawPointer(a), br = UnsafeRawPointer(b)
    while i + 4 <= count {
        let u = ar.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self)
        let v = br.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self)
        let e = u - v
        diff += e * e
        energy += u * u + v * v
        i += 4
    }
    var dsum = diff.sum(), esum = energy.sum()
    while i < count {
        let e = a[i] - b[i]
        dsum += e * e
        esum += a[i] * a[i] + b[i] * b[i]
        i += 1
    }
    return esum > 1e-20 ? dsum / esum : .infinity
}

// MARK: - Array conveniences (they allocate)

extension SpeedScaler {
    /// Stretches a whole turn in one go: `process` then `finish`, so the result has exactly
    /// `round(input.count / speed)` samples.
    public mutating func stretch(_ input: [Float]) -> [Float] { processAll(input) }
}
