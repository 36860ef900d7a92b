/// The model-to-caller audio path of one session: the model's pcm16 at 24 kHz (`response.audio.delta`, bytes or
/// base64) -> `speed` -> resample to the client's rate -> encode the session's `output_audio_format`.
///
/// It keeps the **playback clock** of the response in progress: told how many samples the client has played,
/// ``audioEndMs(playedSamples:)`` gives the point reached in the model's own audio, under any speed, which is the
/// `audio_end_ms` `conversation.item.truncate` needs on barge-in; ``interrupt(playedSamples:)`` drops what is
/// buffered and returns that point. A speed change takes effect at the next response.
///
/// Nothing is allocated per chunk; one instance per session, on any thread.
public struct OutboundAudio: Sendable {
    /// The rate the model speaks.
    public static let modelRate = SampleRate.hz24000

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
    /// - Throws: ``PipelineError/speed(_:)`` outside 0.25...1.5, ``PipelineError/rate(_:)``.
    public init(format: AudioFormat, clientRate: SampleRate? = nil, speed: Double = 1, maximumChunkBytes: Int = 32768) throws(PipelineError) {
        self.format = format
        let rate = clientRate ?? format.defaultSampleRate
        self.clientRate = rate
        self.maximumChunkBytes = max(2, maximumChunkBytes)
        do { scaler = try SpeedScaler(sampleRate: Self.modelRate, speed: speed) } catch { throw .speed(error) }
        do { resampler = rate == Self.modelRate ? nil : try Resampler(from: Self.modelRate, to: rate) } catch { throw .rate(error) }
        let chunk = self.maximumChunkBytes / 2 + 1
        samples = [Float](repeating: 0, count: chunk)
        // The scaler may release up to its lookahead on top of the chunk, four times over at speed 0.25.
        let most = Int(Double(chunk + scaler.latency + 64) / SpeedScaler.speedRange.lowerBound) + 1
        stretched = [Float](repeating: 0, count: most)
        resampled = [Float](repeating: 0, count: resampler.map { Int((Double(most) * Double(rate.hertz) / 24000).rounded(.up)) + Int($0.latency.rounded(.up)) + 4 } ?? 0)
        base64 = [UInt8](repeating: 0, count: Base64.decodedCapacity(forCharacterCount: Base64.encodedCount(forByteCount: self.maximumChunkBytes)))
    }

    /// The speed of the response in progress.
    public var speed: Double { scaler.speed }

    /// The most client bytes an `append` of `byteCount` model bytes can write in the response in progress, whatever
    /// the state (also enough for ``finishResponse(into:)``): size the output buffer once per speed with it.
    public func outputCapacity(forInputBytes byteCount: Int) -> Int {
        let count = (byteCount + 1) / 2
        // The scaler may release its whole lookahead at once (and `finish` the silence-padded rest of the turn).
        let stretched = Int(Double(count + 2 * scaler.latency + 2) / scaler.speed) + 2
        let client = resampler.map { r in
            Int((Double(stretched) * Double(clientRate.hertz) / Double(Self.modelRate.hertz)).rounded(.up)) + Int(r.latency.rounded(.up)) + 4
        } ?? stretched
        return client * format.bytesPerSample
    }

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
            self = try OutboundAudio(format: newFormat, speed: scaler.speed, maximumChunkBytes: maximumChunkBytes)
            if let pending { try setSpeed(pending) }
            return
        }
        format = newFormat
    }

    /// Appends model audio bytes (pcm16, 24 kHz, little-endian; a chunk may end inside a sample).
    ///
    /// - Returns: the client-format bytes written to `output`.
    /// - Throws: ``PipelineError/chunkTooLarge(bytes:maximum:)``; nothing is taken then.
    /// - Precondition: `output.count >= outputCapacity(forInputBytes: bytes.count)`.
    public mutating func append(_ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) throws(PipelineError) -> Int {
        guard bytes.count <= maximumChunkBytes else { throw .chunkTooLarge(bytes: bytes.count, maximum: maximumChunkBytes) }
        precondition(output.count >= outputCapacity(forInputBytes: bytes.count), "OutboundAudio.append: output buffer too small")
        let count = samples.withUnsafeMutableBufferPointer { pcm.decode(bytes, into: $0) }
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
    /// - Precondition: `output.count >= outputCapacity(forInputBytes: 0)`.
    public mutating func finishResponse(into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        precondition(output.count >= outputCapacity(forInputBytes: 0), "OutboundAudio.finishResponse: output buffer too small")
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
        let played = min(max(0, playedSamples), clientSamples)
        // Client samples -> the scaler's output at 24 kHz (the resampler keeps time exactly) -> model time (the
        // scaler keeps its totals at `speed` to within a pitch period).
        let modelTime = Double(played) / Double(clientRate.hertz) * scaler.speed
        return min(Int((modelTime * 1000).rounded()), modelSamples * 1000 / Self.modelRate.hertz)
    }

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
