/// The model-to-caller audio path of one session: the model's pcm16 at its rate, 24 kHz unless the session says
/// 16 kHz (`response.output_audio.delta`, bytes or base64) -> `speed` -> resample to the client's rate -> encode the session's `output_audio_format`.
///
/// It keeps the **playback clock** of the response in progress: told how many samples the client has played,
/// ``audioEndMs(playedSamples:)`` gives the point reached in the model's own audio, under any speed, which is the
/// `audio_end_ms` `conversation.item.truncate` needs on barge-in; ``interrupt(playedSamples:)`` drops what is
/// buffered and returns that point. A speed change takes effect at the next response.
///
/// An ``AudioStream`` from model bytes to client bytes: ``process(_:into:)`` (or ``append(_:into:)``, its Realtime
/// API name) takes a chunk, ``finish(into:)`` ends a response, ``reset()`` drops it; the conventions there hold.
/// Nothing is allocated per chunk; one instance per session, on any thread.
public struct OutboundAudio: AudioStream {
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
    /// Speed, then the client's rate: the chain `rtaudio convert` shares.
    private var chain: SpeedResampler
    private var samples: [Float]
    /// The chain's output (speed, then the client's rate), before encoding.
    private var converted: [Float]
    private var base64: [UInt8]
    /// Model samples received and client samples produced in the response in progress.
    private var modelSamples = 0
    private var clientSamples = 0

    /// Builds the pipeline.
    ///
    /// - Parameters:
    ///   - format: what the client takes.
    ///   - clientRate: the client's rate; nil: the format's default (G.711: 8 kHz; pcm16: the model's).
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
        let scaler: SpeedScaler
        do { scaler = try SpeedScaler(sampleRate: modelRate, speed: speed) } catch { throw .speed(error) }
        let resampler: Resampler?
        do { resampler = rate == modelRate ? nil : try Resampler(from: modelRate, to: rate) } catch { throw .rate(error) }
        let chunk = self.maximumChunkBytes / 2 + 1
        chain = SpeedResampler(scaler: scaler, resampler: resampler, maximumChunk: chunk)
        samples = [Float](repeating: 0, count: chunk)
        // The chain's bound holds at the slowest speed, so a speed change never outgrows this buffer.
        converted = [Float](repeating: 0, count: chain.maximumOutputCount(forInput: chunk))
        base64 = [UInt8](repeating: 0, count: Base64.decodedCapacity(forCharacterCount: Base64.encodedCount(forByteCount: self.maximumChunkBytes)))
        largestBound = maximumOutputCount(forInput: self.maximumChunkBytes)
    }

    /// The speed of the response in progress.
    public var speed: Double { chain.speed }

    /// The chain's lookahead (speed, then rate), in seconds.
    public var latencySeconds: Double { chain.latencySeconds }

    /// The most client bytes an `append` of `byteCount` model bytes can write, and with `byteCount` 0 the most
    /// ``finish(into:)`` writes, **whatever the state and the speed** (bounds at the slowest speed, 0.25, so a later
    /// ``setSpeed(_:)`` never outgrows a buffer sized before it).
    ///
    /// Size the output buffer once with ``maximumOutputBytes`` and every legal chunk fits; a smaller buffer gets
    /// ``PipelineError/outputTooSmall(bytes:needed:)`` for a chunk that might not fit, never a trap.
    /// - Complexity: O(1).
    public func maximumOutputCount(forInput byteCount: Int) -> Int {
        let count = min(max(0, byteCount), maximumChunkBytes + 1) / 2 + 1
        return chain.maximumOutputCount(forInput: count) * max(format.bytesPerSample, 2)
    }

    /// `maximumOutputCount(forInput: maximumChunkBytes)`: the most client bytes any `append` or ``finish(into:)``
    /// writes, in any state and at any speed: size the output buffer once with it.
    public var maximumOutputBytes: Int { largestBound }

    /// `maximumOutputCount(forInput: maximumChunkBytes)`, computed once (``outputShortfall(_:largest:exact:)``).
    private var largestBound = 0

    /// The bound a call of `bytes` bytes needs when `output` is short of it, else nil.
    private func fits(_ output: UnsafeMutableBufferPointer<UInt8>, forInput bytes: Int) -> Int? {
        outputShortfall(output, largest: largestBound) { maximumOutputCount(forInput: bytes) }
    }

    /// Sets `speed` for the next response (at once when no response is in progress).
    ///
    /// - Throws: ``PipelineError/speed(_:)``; the speed in force is kept.
    public mutating func setSpeed(_ newSpeed: Double) throws(PipelineError) {
        do { try chain.setSpeed(newSpeed) } catch { throw .speed(error) }
    }

    /// Changes `output_audio_format` (a `session.update`): only between responses; a format with another wire rate
    /// rebuilds the pipeline at that rate.
    public mutating func setFormat(_ newFormat: AudioFormat) throws(PipelineError) {
        guard newFormat != format else { return }
        guard modelSamples == 0 else { throw .formatChangeMidStream(field: "output_audio_format", from: format, to: newFormat) }
        guard newFormat.defaultSampleRate == clientRate else {
            // Another wire rate: rebuilt here, between responses, with the speed (and a pending one) kept.
            let pending = chain.scaler?.pendingSpeed
            self = try OutboundAudio(format: newFormat, speed: chain.speed, maximumChunkBytes: maximumChunkBytes, modelRate: modelRate)
            if let pending { try setSpeed(pending) }
            return
        }
        format = newFormat
        largestBound = maximumOutputCount(forInput: maximumChunkBytes)
    }

    /// Appends model audio bytes (pcm16 at ``modelRate``, little-endian; a chunk may end inside a sample): the
    /// stream's ``process(_:into:)``, under the Realtime API's name.
    ///
    /// - Returns: the client-format bytes written to `output`.
    /// - Throws: ``PipelineError/chunkTooLarge(bytes:maximum:)``, or ``PipelineError/outputTooSmall(bytes:needed:)``
    ///   when `output` is smaller than `maximumOutputCount(forInput: bytes.count)`; nothing is taken then.
    public mutating func append(_ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) throws(PipelineError) -> Int {
        try process(bytes, into: output).produced
    }

    /// Takes a chunk of model bytes: decode, speed, rate, encode.
    ///
    /// - Returns: all of `bytes` consumed, and the client bytes written.
    /// - Throws: as ``append(_:into:)``; nothing is taken then.
    public mutating func process(_ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) throws(PipelineError) -> (consumed: Int, produced: Int) {
        guard bytes.count <= maximumChunkBytes else { throw .chunkTooLarge(bytes: bytes.count, maximum: maximumChunkBytes) }
        if let needed = fits(output, forInput: bytes.count) { throw .outputTooSmall(bytes: output.count, needed: needed) }
        // `samples` holds a chunk's samples plus the carried byte's (sized at init).
        let count = samples.withUnsafeMutableBufferPointer { pcm.decodeUnchecked(bytes, into: $0) }
        modelSamples += count
        let made = samples.withUnsafeBufferPointer { src in
            converted.withUnsafeMutableBufferPointer { chain.process(UnsafeBufferPointer(rebasing: src[..<count]), into: $0).produced }
        }
        clientSamples += made
        return (bytes.count, encode(made, into: output))
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
    /// - Throws: ``PipelineError/outputTooSmall(bytes:needed:)`` when `output` is smaller than
    ///   `maximumOutputCount(forInput: 0)`; ``PipelineError/pcm16(_:)`` when the model's audio ended inside a sample
    ///   (send the missing byte, or drop the half with ``discardPartialSample()``). Nothing changes then.
    public mutating func finish(into output: UnsafeMutableBufferPointer<UInt8>) throws(PipelineError) -> Int {
        if let needed = fits(output, forInput: 0) { throw .outputTooSmall(bytes: output.count, needed: needed) }
        guard pcm.pendingByteCount == 0 else { throw .pcm16(.danglingByte) }
        let made = converted.withUnsafeMutableBufferPointer { chain.finish(into: $0) }
        let written = encode(made, into: output)
        modelSamples = 0
        clientSamples = 0
        return written
    }

    /// Drops the half sample an odd byte count left pending (see ``finish(into:)``).
    public mutating func discardPartialSample() { pcm.reset() }

    /// The byte of a half pcm16 sample waiting for its second byte: 0 or 1.
    public var pendingByteCount: Int { pcm.pendingByteCount }

    /// Where the client is in the model's audio of this response, in ms, after it has played `playedSamples`
    /// client samples: the `audio_end_ms` of `conversation.item.truncate`. Never past the audio received.
    public func audioEndMs(playedSamples: Int) -> Int {
        Self.audioEndMs(playedSamples: min(max(0, playedSamples), clientSamples), clientRate: clientRate, speed: chain.speed,
                        modelSamples: modelSamples, modelRate: modelRate)
    }

    /// The point reached in a response's model audio, in ms, once `playedSamples` client samples of it have played
    /// at `clientRate` and `speed`, never past its `modelSamples` (at `modelRate`): for a response that has finished
    /// arriving (``finish(into:)`` restarted this pipeline's clock) but still plays.
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
        reset()
        return end
    }

    /// Drops the response in progress (what ``interrupt(playedSamples:)`` does, without a truncation point).
    public mutating func reset() {
        chain.reset()
        pcm.reset()
        modelSamples = 0
        clientSamples = 0
    }

    private func encode(_ count: Int, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        converted.withUnsafeBufferPointer { samples in
            let samples = UnsafeBufferPointer(rebasing: samples[..<count])
            if let law = format.g711 {
                law.encode(samples, into: UnsafeMutableBufferPointer(rebasing: output[..<samples.count]))
                return samples.count
            }
            return PCM16.encode(samples, into: output)
        }
    }
}
