/// The model-to-caller audio path of one session: the model's pcm16 at its rate, 24 kHz unless the session says
/// 16 kHz (`response.output_audio.delta`, bytes or base64) -> `speed` -> resample to the client's rate -> encode the session's `output_audio_format`.
///
/// It keeps the **playback clock** of the response in progress: told how many samples the client has played,
/// ``audioEndMs(playedSamples:)`` gives the point reached in the model's own audio, under any speed, which is the
/// `audio_end_ms` `conversation.item.truncate` needs on barge-in; ``interrupt(playedSamples:)`` drops what is
/// buffered and returns that point. A speed change takes effect at the next response.
///
/// Nothing is allocated per chunk; one instance per session, on any thread.
public struct OutboundAudio: Sendable {
    /// The rate the Realtime API's pcm16 has unless a session says otherwise.
    public static let defaultModelRate = SampleRate.hz24000

    /// The rate the model speaks (`audio.output.format.rate`): 24 kHz, or 16 kHz for models that speak it.
    public let modelRate: SampleRate

    /// The client's audio format.
    public private(set) var format: AudioFormat
    /// The client's sample rate (the format's default unless given).
    public let clientRate: SampleRate
    /// The largest model chunk `append` takes at once, in bytes (base64: decoded bytes).
    public let maximumChunkBytes: Int

    private var pcm = PCM16StreamDecoder()
    private var scaler: SpeedScaler
    private var resampler: Resampler?
    private var samples: [Float]
    private var stretched: [Float]
    private var resampled: [Float]
    private var base64: [UInt8]
    /// Model samples received and client samples produced in the response in progress.
    private var modelSamples = 0
    private var clientSamples = 0

    /// Builds the pipeline.
    ///
    /// - Parameters:
    ///   - format: what the client takes.
    ///   - clientRate: the client's rate, in Hz; nil: the format's default (G.711: 8 kHz; pcm16: the model's).
    ///   - speed: the playback speed of the responses, 0.25...1.5 (pitch kept); ``setSpeed(_:)`` changes it.
    ///   - maximumChunkBytes: the largest model chunk an `append` takes, in bytes; buffers are sized for it once.
    ///   - modelRate: the rate of the model's pcm16 (``defaultModelRate`` unless the session says otherwise).
    /// - Throws: ``PipelineError/speed(_:)`` outside 0.25...1.5, ``PipelineError/rate(_:)``.
    public init(format: AudioFormat, clientRate: SampleRate? = nil, speed: Double = 1, maximumChunkBytes: Int = 32768,
                modelRate: SampleRate = OutboundAudio.defaultModelRate) throws(PipelineError) {
        self.format = format
        let rate = clientRate ?? format.defaultSampleRate
        self.clientRate = rate
        self.modelRate = modelRate
        self.maximumChunkBytes = max(2, maximumChunkBytes)
        do { scaler = try SpeedScaler(sampleRate: modelRate, speed: speed) } catch { throw .speed(error) }
        do { resampler = rate == modelRate ? nil : try Resampler(from: modelRate, to: rate) } catch { throw .rate(error) }
        let chunk = self.maximumChunkBytes / 2 + 1
        samples = [Float](repeating: 0, count: chunk)
        // Bounds at the slowest speed, so a speed change never outgrows these buffers. Every call gives the scaler
        // room for its whole output, so it never owes more than its lookahead: the steady bound holds.
        let most = scaler.steadyOutputCount(forInput: chunk)
        stretched = [Float](repeating: 0, count: most)
        resampled = [Float](repeating: 0, count: resampler.map { max($0.outputCapacity(forInput: most), $0.finishCapacity) } ?? 0)
        base64 = [UInt8](repeating: 0, count: Base64.decodedCapacity(forCharacterCount: Base64.encodedCount(forByteCount: self.maximumChunkBytes)))
    }

    /// The speed of the response in progress.
    public var speed: Double { scaler.speed }

    /// The most client bytes an `append` of `byteCount` model bytes can write, **whatever the state and the speed**
    /// (bounds at the slowest speed, 0.25, so a later ``setSpeed(_:)`` never outgrows a buffer sized before it).
    ///
    /// Size the output buffer once with ``maximumOutputBytes`` and every legal chunk fits; a smaller buffer gets
    /// ``PipelineError/outputTooSmall(bytes:needed:)`` for a chunk that might not fit, never a trap.
    /// - Complexity: O(1).
    public func outputCapacity(forInputBytes byteCount: Int) -> Int {
        let count = min(max(0, byteCount), maximumChunkBytes + 1) / 2 + 1
        let stretched = scaler.steadyOutputCount(forInput: count)
        let client = resampler.map { $0.outputCapacity(forInput: stretched) } ?? stretched
        return client * max(format.bytesPerSample, 2)
    }

    /// The most client bytes ``finishResponse(into:)`` writes, in any state and at any speed.
    public var finishCapacity: Int {
        let stretched = scaler.steadyOutputCount(forInput: 0)
        let client = resampler.map { $0.outputCapacity(forInput: stretched) + $0.finishCapacity } ?? stretched
        return client * max(format.bytesPerSample, 2)
    }

    /// The most client bytes any `append` (up to ``maximumChunkBytes``) or ``finishResponse(into:)`` writes, in
    /// any state and at any speed: size the output buffer once with it.
    public var maximumOutputBytes: Int { max(outputCapacity(forInputBytes: maximumChunkBytes), finishCapacity) }

    /// Sets `speed` for the next response (at once when no response is in progress).
    ///
    /// - Throws: ``PipelineError/speed(_:)``; the speed in force is kept.
    public mutating func setSpeed(_ newSpeed: Double) throws(PipelineError) {
        do { try scaler.setSpeed(newSpeed) } catch { throw .speed(error) }
    }

    /// Changes `output_audio_format` (a `session.update`): only between responses; a format with another wire rate
    /// rebuilds the pipeline at that rate.
    public mutating func setFormat(_ newFormat: AudioFormat) throws(PipelineError) {
        guard newFormat != format else { return }
        guard modelSamples == 0 else { throw .formatChangeMidStream(field: "output_audio_format", from: format, to: newFormat) }
        guard newFormat.defaultSampleRate == clientRate else {
            // Another wire rate: rebuilt here, between responses, with the speed (and a pending one) kept.
            let pending = scaler.pendingSpeed
            self = try OutboundAudio(format: newFormat, speed: scaler.speed, maximumChunkBytes: maximumChunkBytes, modelRate: modelRate)
            if let pending { try setSpeed(pending) }
            return
        }
        format = newFormat
    }

    /// Appends model audio bytes (pcm16 at ``modelRate``, little-endian; a chunk may end inside a sample).
    ///
    /// - Returns: the client-format bytes written to `output`.
    /// - Throws: ``PipelineError/chunkTooLarge(bytes:maximum:)``, or ``PipelineError/outputTooSmall(bytes:needed:)``
    ///   when `output` is smaller than `outputCapacity(forInputBytes: bytes.count)`; nothing is taken then.
    public mutating func append(_ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) throws(PipelineError) -> Int {
        guard bytes.count <= maximumChunkBytes else { throw .chunkTooLarge(bytes: bytes.count, maximum: maximumChunkBytes) }
        let needed = outputCapacity(forInputBytes: bytes.count)
        guard output.count >= needed else { throw .outputTooSmall(bytes: output.count, needed: needed) }
        // `samples` holds a chunk's samples plus the carried byte's (sized at init).
        let count = samples.withUnsafeMutableBufferPointer { pcm.decodeUnchecked(bytes, into: $0) }
        modelSamples += count
        let made = samples.withUnsafeBufferPointer { src in
            stretched.withUnsafeMutableBufferPointer { dst in
                var rest = UnsafeBufferPointer(rebasing: src[..<count])
                var total = 0
                while !rest.isEmpty {
                    let (used, n) = scaler.process(rest, into: UnsafeMutableBufferPointer(rebasing: dst[total...]))
                    rest = UnsafeBufferPointer(rebasing: rest[used...])
                    total += n
                    if used == 0 && n == 0 { break }   // cannot happen with `stretched` sized as in init
                }
                return total
            }
        }
        return deliver(made, into: output)
    }

    /// Appends base64 model audio (the `delta` of `response.audio.delta`, as ASCII bytes).
    ///
    /// - Throws: ``PipelineError/base64(_:)`` naming the bad offset; nothing is taken then.
    public mutating func append(base64 characters: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) throws(PipelineError) -> Int {
        var scratch: [UInt8] = []
        swap(&scratch, &base64)
        defer { swap(&scratch, &base64) }
        let count = try decodeBase64Payload(characters, into: &scratch, maximum: maximumChunkBytes)
        return try withPayload(scratch, count: count) { (bytes) throws(PipelineError) -> Int in try append(bytes, into: output) }
    }

    /// Ends the response (`response.audio.done`): writes the rest, so the response lasts exactly its audio at its
    /// speed; then a pending speed applies and the playback clock restarts.
    ///
    /// - Throws: ``PipelineError/outputTooSmall(bytes:needed:)`` when `output` is smaller than ``finishCapacity``;
    ///   nothing changes then.
    public mutating func finishResponse(into output: UnsafeMutableBufferPointer<UInt8>) throws(PipelineError) -> Int {
        guard output.count >= finishCapacity else { throw .outputTooSmall(bytes: output.count, needed: finishCapacity) }
        let made = stretched.withUnsafeMutableBufferPointer { scaler.finish(into: $0) }
        var written = deliver(made, into: output)
        if resampler != nil {
            let n = resampled.withUnsafeMutableBufferPointer { resampler!.finish(into: $0) }
            written += encode(n, into: UnsafeMutableBufferPointer(rebasing: output[written...]))
            clientSamples += n
        }
        pcm.reset()
        modelSamples = 0
        clientSamples = 0
        return written
    }

    /// Where the client is in the model's audio of this response, in ms, after it has played `playedSamples`
    /// client samples: the `audio_end_ms` of `conversation.item.truncate`. Never past the audio received.
    public func audioEndMs(playedSamples: Int) -> Int {
        Self.audioEndMs(playedSamples: min(max(0, playedSamples), clientSamples), clientRate: clientRate, speed: scaler.speed,
                        modelSamples: modelSamples, modelRate: modelRate)
    }

    /// The point reached in a response's model audio, in ms, once `playedSamples` client samples of it have played
    /// at `clientRate` and `speed`, never past its `modelSamples` (at `modelRate`): for a response that has finished
    /// arriving (``finishResponse(into:)`` restarted this pipeline's clock) but still plays.
    public static func audioEndMs(playedSamples: Int, clientRate: SampleRate, speed: Double, modelSamples: Int,
                                  modelRate: SampleRate = defaultModelRate) -> Int {
        // Client samples -> the scaler's output at the model rate (the resampler keeps time exactly) -> model time (the
        // scaler keeps its totals at `speed` to within a pitch period).
        let modelTime = Double(max(0, playedSamples)) / Double(clientRate.hertz) * speed
        return min(Int((modelTime * 1000).rounded()), max(0, modelSamples) * 1000 / modelRate.hertz)
    }

    /// Model samples (at ``modelRate``) received in the response in progress.
    public var receivedModelSamples: Int { modelSamples }

    /// Client samples produced in the response in progress.
    public var producedSamples: Int { clientSamples }

    /// Barge-in: drops everything buffered and returns ``audioEndMs(playedSamples:)`` for the truncate; the next
    /// response starts clean (at a pending speed, if one was set).
    public mutating func interrupt(playedSamples: Int) -> Int {
        let end = audioEndMs(playedSamples: playedSamples)
        scaler.reset()
        resampler?.reset()
        pcm.reset()
        modelSamples = 0
        clientSamples = 0
        return end
    }

    private mutating func deliver(_ count: Int, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        guard resampler != nil else {
            clientSamples += count
            return stretched.withUnsafeBufferPointer { encodeSamples(UnsafeBufferPointer(rebasing: $0[..<count]), into: output) }
        }
        let n = stretched.withUnsafeBufferPointer { src in
            resampled.withUnsafeMutableBufferPointer { resampler!.process(UnsafeBufferPointer(rebasing: src[..<count]), into: $0).produced }
        }
        clientSamples += n
        return encode(n, into: output)
    }

    private func encode(_ count: Int, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        resampled.withUnsafeBufferPointer { encodeSamples(UnsafeBufferPointer(rebasing: $0[..<count]), into: output) }
    }

    private func encodeSamples(_ samples: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        if let law = format.g711 {
            law.encode(samples, into: UnsafeMutableBufferPointer(rebasing: output[..<samples.count]))
            return samples.count
        }
        return PCM16.encode(samples, into: output)
    }
}
