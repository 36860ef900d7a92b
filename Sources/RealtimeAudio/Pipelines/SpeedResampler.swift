/// Speed, then rate: a ``SpeedScaler`` feeding a ``Resampler``, as one ``AudioStream`` of `Float` samples.
///
/// The chain the model's audio takes to a caller (``OutboundAudio`` encodes its output) and `rtaudio convert`
/// and `rtaudio play` take to a file or a device: written once, so both change speed and rate the same way.
/// Either part may be absent (speed 1 for good, or equal rates); with neither it is a copy.
///
/// The scaler always gets room for all it makes (its buffer is sized for `maximumChunk` inputs at the slowest
/// speed), so it never owes more than its lookahead; chunks larger than `maximumChunk` are taken in pieces,
/// which changes nothing (chunking is exact). The conventions of ``AudioStream`` hold. Nothing is allocated after
/// `init`; one instance per stream.
public struct SpeedResampler: AudioStream {
    /// The speed stage (nil: speed 1 for good). A copy: read its counts and speed from it.
    public private(set) var scaler: SpeedScaler?
    /// The rate stage (nil: the rates are equal).
    public private(set) var resampler: Resampler?
    /// The most input samples one pass through the scaler takes.
    public let maximumChunk: Int
    private var stretched: [Float]
    /// `maximumOutputCount(forInput: maximumChunk)`, computed once: the room that fits any pass.
    private let pieceBound: Int

    /// Chains `scaler` into `resampler`.
    ///
    /// - Parameters:
    ///   - scaler: the speed stage, or nil for speed 1 for good.
    ///   - resampler: the rate stage, or nil when the rates are equal.
    ///   - maximumChunk: the largest chunk `process` takes in one pass, in input samples (larger ones are taken in
    ///     pieces); the buffer between the stages is sized for it once.
    /// - Precondition: the scaler runs at the resampler's input rate (the caller builds both).
    public init(scaler: SpeedScaler?, resampler: Resampler?, maximumChunk: Int) {
        precondition(scaler == nil || resampler == nil || scaler!.sampleRate == resampler!.inputRate,
                     "SpeedResampler: the scaler's rate is not the resampler's input rate")
        self.scaler = scaler
        self.resampler = resampler
        self.maximumChunk = max(1, maximumChunk)
        stretched = [Float](repeating: 0, count: scaler?.steadyOutputCount(forInput: self.maximumChunk) ?? 0)
        let piece = scaler?.steadyOutputCount(forInput: self.maximumChunk) ?? self.maximumChunk
        pieceBound = resampler?.maximumOutputCount(forInput: piece) ?? piece
    }

    /// The speed of the turn in progress (1 without a scaler).
    public var speed: Double { scaler?.speed ?? 1 }

    /// Sets the speed for the next turn (at once when idle): see ``SpeedScaler/setSpeed(_:)``.
    ///
    /// - Throws: ``SpeedError/speedOutOfRange(_:)``; also for any speed but 1 when the chain has no scaler.
    public mutating func setSpeed(_ newSpeed: Double) throws(SpeedError) {
        guard scaler != nil else {
            if newSpeed != 1 { throw .speedOutOfRange(newSpeed) }
            return
        }
        try scaler!.setSpeed(newSpeed)
    }

    /// Both stages' lookahead, in seconds.
    public var latencySeconds: Double { (scaler?.latencySeconds ?? 0) + (resampler?.latencySeconds ?? 0) }

    /// The most samples `process` writes for `count` inputs (and with `count` 0 `finish`), in any state and at any
    /// speed: the resampler's bound for the scaler's.
    public func maximumOutputCount(forInput count: Int) -> Int {
        let stretched = scaler?.steadyOutputCount(forInput: count) ?? max(0, count)
        return resampler?.maximumOutputCount(forInput: stretched) ?? stretched
    }

    /// Changes speed, then rate.
    ///
    /// - Returns: the samples consumed (all, when `output` holds ``maximumOutputCount(forInput:)``) and written.
    ///   With a smaller `output` it takes the largest pieces whose bound still fits, and nothing once the room is
    ///   short of one sample's bound (`maximumOutputCount(forInput: 1)`, a few thousand samples): the scaler's
    ///   output is handed on whole, never held between calls, so the chain cannot take less than a bound's worth.
    public mutating func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> (consumed: Int, produced: Int) {
        var consumed = 0
        var produced = 0
        while consumed < input.count {
            var n = min(maximumChunk, input.count - consumed)
            let room = output.count - produced
            if room < pieceBound, maximumOutputCount(forInput: n) > room {
                // The largest piece the room holds (the bound grows with the piece): bound(low) fits, bound(high)
                // does not.
                var low = 0, high = n
                while high - low > 1 {
                    let middle = (low + high) / 2
                    if maximumOutputCount(forInput: middle) <= room { low = middle } else { high = middle }
                }
                n = low
                guard n > 0 else { break }
            }
            let piece = UnsafeBufferPointer(rebasing: input[consumed..<(consumed + n)])
            produced += pass(piece, into: UnsafeMutableBufferPointer(rebasing: output[produced...]))
            consumed += n
        }
        return (consumed, produced)
    }

    /// Ends the turn: drains the scaler into the resampler, then the resampler; both start a new stream.
    ///
    /// - Precondition: `output.count >= maximumOutputCount(forInput: 0)` (the caller's own buffer).
    public mutating func finish(into output: UnsafeMutableBufferPointer<Float>) -> Int {
        precondition(output.count >= maximumOutputCount(forInput: 0), "SpeedResampler.finish: output buffer too small")
        var written = 0
        if scaler != nil {
            let n = stretched.withUnsafeMutableBufferPointer { scaler!.finish(into: $0) }
            written = stretched.withUnsafeBufferPointer { resample(UnsafeBufferPointer(rebasing: $0[..<n]), into: output) }
        }
        if resampler != nil { written += resampler!.finish(into: UnsafeMutableBufferPointer(rebasing: output[written...])) }
        return written
    }

    /// Drops both stages' history (barge-in); a pending speed applies.
    public mutating func reset() {
        scaler?.reset()
        resampler?.reset()
    }

    /// One piece (at most `maximumChunk`) through both stages; `output` holds its bound.
    private mutating func pass(_ piece: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> Int {
        guard scaler != nil else { return resample(piece, into: output) }
        // `stretched` holds the scaler's whole output for a piece (its steady bound), so one call takes all of it.
        let n = stretched.withUnsafeMutableBufferPointer { dst in
            var rest = piece
            var total = 0
            while !rest.isEmpty {
                let (used, made) = scaler!.process(rest, into: UnsafeMutableBufferPointer(rebasing: dst[total...]))
                rest = UnsafeBufferPointer(rebasing: rest[used...])
                total += made
                if used == 0 && made == 0 { break }   // cannot happen with `stretched` sized as in init
            }
            return total
        }
        return stretched.withUnsafeBufferPointer { resample(UnsafeBufferPointer(rebasing: $0[..<n]), into: output) }
    }

    private mutating func resample(_ samples: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> Int {
        guard resampler != nil else {
            if !samples.isEmpty { output.baseAddress!.update(from: samples.baseAddress!, count: samples.count) }
            return samples.count
        }
        return resampler!.process(samples, into: output).produced
    }
}
