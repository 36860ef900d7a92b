/// An event of the inbound pipeline, as the Realtime API names it. Times are milliseconds of the input audio
/// buffer, from its first sample.
public enum InboundEvent: Sendable, Equatable, CustomStringConvertible {
    /// `input_audio_buffer.speech_started`: `audio_start_ms` includes the prefix padding, as the API defines it.
    case speechStarted(audioStartMs: Int)
    /// `input_audio_buffer.speech_stopped`: `audio_end_ms` is the end of speech plus the silence duration.
    case speechStopped(audioEndMs: Int)
    /// `input_audio_buffer.timeout_triggered`: `idle_timeout_ms` passed with no speech after the idle timer was
    /// armed; the span is the idle audio.
    case timeoutTriggered(audioStartMs: Int, audioEndMs: Int)

    /// The Realtime API's event type.
    public var type: String {
        switch self {
        case .speechStarted: "input_audio_buffer.speech_started"
        case .speechStopped: "input_audio_buffer.speech_stopped"
        case .timeoutTriggered: "input_audio_buffer.timeout_triggered"
        }
    }

    /// The event as a JSON object on one line.
    public var json: String {
        var line = JSONLine(type: type)
        switch self {
        case .speechStarted(let start): line.add("audio_start_ms", start)
        case .speechStopped(let end): line.add("audio_end_ms", end)
        case .timeoutTriggered(let start, let end):
            line.add("audio_start_ms", start)
            line.add("audio_end_ms", end)
        }
        return line.text
    }

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String { json }
}

/// Bad input to a pipeline: typed, naming what was wrong; the pipeline's state is as before the call.
public enum PipelineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The `audio` (or `delta`) field is not valid base64.
    case base64(Base64Error)
    /// A chunk larger than the pipeline was built for (`maximumChunkBytes`).
    case chunkTooLarge(bytes: Int, maximum: Int)
    /// `input_audio_format` / `output_audio_format` changed while a stream was in progress.
    case formatChangeMidStream(field: String, from: AudioFormat, to: AudioFormat)
    /// A speed outside 0.25...1.5.
    case speed(SpeedError)
    /// A turn-detection setting the detector cannot take.
    case turnDetection(ServerVADError)
    /// A rate the resampler cannot convert.
    case rate(ResamplerError)
    /// A rate a part of the pipeline cannot run at (loss concealment takes 8000...48000 Hz).
    case sampleRate(SampleRateError)
    /// The pcm16 stream ends in the middle of a sample (``InboundAudio/finish(into:events:)``); nothing was
    /// taken: append the byte that completes it, or drop it with ``InboundAudio/discardPartialSample()``.
    case pcm16(PCM16Error)
    /// The caller's output buffer holds fewer bytes than this call may write (see the pipeline's
    /// `maximumOutputCount(forInput:)` and `maximumOutputBytes`); nothing was taken.
    case outputTooSmall(bytes: Int, needed: Int)

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String {
        switch self {
        case .base64(let error): "audio: \(error)"
        case .chunkTooLarge(let bytes, let maximum): "audio: a chunk of \(bytes) bytes is larger than the \(maximum) this pipeline takes"
        case .formatChangeMidStream(let field, let from, let to): "\(field): cannot change from \(from) to \(to) in the middle of a stream (clear or finish it first)"
        case .speed(let error): "speed: \(error)"
        case .turnDetection(let error): "turn_detection: \(error)"
        case .rate(let error): "rate: \(error)"
        case .sampleRate(let error): "rate: \(error)"
        case .pcm16(let error): "audio: \(error)"
        case .outputTooSmall(let bytes, let needed): "output buffer of \(bytes) bytes is smaller than the \(needed) this call may write"
        }
    }
}

/// The events one call of a pipeline fired, in order: storage reserved once, reused call after call, so
/// collecting them allocates nothing.
public struct InboundEvents: Sendable, RandomAccessCollection {
    private var storage: [InboundEvent] = []

    /// An empty list with room for the events of a chunk (a chunk fires a few at most), so filling it allocates
    /// nothing.
    public init() { storage.reserveCapacity(8) }

    /// 0: the first event of the last chunk.
    public var startIndex: Int { 0 }
    /// The number of events the last chunk fired.
    public var endIndex: Int { storage.count }
    /// The event at `position`, in the order the chunk fired them.
    public subscript(position: Int) -> InboundEvent { storage[position] }

    mutating func removeAll() { storage.removeAll(keepingCapacity: true) }
    /// Takes `list`'s storage, leaving it empty, so filling the result and putting it back allocates nothing.
    static func borrowing(_ list: inout InboundEvents) -> InboundEvents {
        var taken = InboundEvents(empty: ())
        swap(&taken, &list)
        return taken
    }
    private init(empty: Void) {}
    mutating func append(_ event: InboundEvent) { storage.append(event) }
}

/// The caller-to-model audio path of one session: client audio (bytes or base64, any chunking, in the session's
/// `input_audio_format`) -> decode -> resample to the model rate (24 kHz, or 16 kHz) -> model-ready pcm16, with the server VAD's events.
///
/// - The detector runs on the decoded audio at the client's rate (its decisions do not depend on the rate), which
///   costs half of running it at 24 kHz for G.711 callers (0.49 M against 1.0 M instructions per second of audio,
///   BENCHMARKS.md); its times are the input buffer's milliseconds.
/// - `idle_timeout_ms`: after ``armIdleTimer()`` (the gateway arms it when the assistant stops talking), audio that
///   reaches the timeout with no speech fires ``InboundEvent/timeoutTriggered(audioStartMs:audioEndMs:)`` once.
/// - Echo guard: while ``setOutputPlaying(_:)`` says the assistant's audio plays, the threshold is raised by
///   `echoThresholdBoost`, so the caller's microphone picking up the assistant does not barge in; where the
///   gateway knows what was played and when (a carrier leg), ``setEchoGate(_:)`` also keeps input no louder
///   than the expected echo from starting a turn.
/// - Chunking never changes the output bytes or the events (apart from the echo guard, whose effect starts at the
///   frame after the gateway's call). Nothing is allocated per chunk; one instance per session, on any thread.
///
/// An ``AudioStream`` from client bytes to model bytes: the conventions there hold. ``append(_:into:events:)``
/// (the Realtime API's name) hands you the events of each chunk; ``process(_:into:)``, the stream-shaped call,
/// leaves them in ``events`` until the next call.
public struct InboundAudio: AudioStream {
    /// `audio.input.noise_reduction` of a Realtime session: the microphone the caller speaks into.
    public enum NoiseReduction: String, Sendable, Equatable, CaseIterable {
        /// Close-talking microphones: headsets, handsets.
        case nearField = "near_field"
        /// Far-field microphones: laptops, conference rooms.
        case farField = "far_field"
    }

    /// The rate the Realtime API's pcm16 has unless a session says otherwise.
    public static let defaultModelRate = SampleRate.hz24000

    /// The rate the model takes (`audio.input.format.rate`): 24 kHz, or 16 kHz for models that take it.
    public let modelRate: SampleRate

    /// The client's audio format.
    public private(set) var format: AudioFormat
    /// The client's sample rate (the format's default unless given).
    public let inputRate: SampleRate
    /// The largest chunk `append` takes at once, in bytes (base64: decoded bytes).
    public let maximumChunkBytes: Int
    /// `turn_detection.idle_timeout_ms`, if set.
    public let idleTimeoutMs: Int?
    /// How much the threshold rises while output plays (probability units).
    public let echoThresholdBoost: Double
    /// The noise reduction the session asked for (`audio.input.noise_reduction`), carried for the stage that
    /// will run it; ``reducesNoise`` says whether any runs.
    public let requestedNoiseReduction: NoiseReduction?
    /// Whether this pipeline reduces noise: `false` in this version, whatever ``requestedNoiseReduction`` says (no
    /// noise-reduction stage exists yet; a gateway that needs it must not assume it ran).
    public var reducesNoise: Bool { false }
    /// Whether lost packets are concealed (``appendLost(samples:into:events:)``); the audio is then 3.75 ms later
    /// (``LossConcealer/delay``).
    public var concealsLoss: Bool { concealer != nil }
    private var concealer: LossConcealer?

    private var pcm = PCM16StreamDecoder()
    private var resampler: Resampler?
    private var vad: ServerVAD?
    private var decoded: [Float]
    private var resampled: [Float]
    private var base64: [UInt8]
    private var received = 0
    /// Input samples decoded since the start of the stream (the VAD's clock).
    private var inputSamples = 0
    private var idleArmedAtSample: Int?

    /// Builds the pipeline.
    ///
    /// - Parameters:
    ///   - format: what the client sends (pcm16 little-endian, or G.711 µ-law / A-law bytes).
    ///   - inputRate: the client's rate, in Hz; nil: the format's own (G.711: 8 kHz; pcm16: the model's rate).
    ///   - turnDetection: the server VAD's settings, or nil for no turn detection (`turn_detection: null`).
    ///   - idleTimeoutMs: `idle_timeout_ms`: this long after ``armIdleTimer()`` (the assistant has finished) with
    ///     no turn started, one `timeoutTriggered` event (nil: never).
    ///   - echoThresholdBoost: how much the detector's threshold rises (0...1, added to `threshold`) while
    ///     ``setOutputPlaying(_:)`` says our own audio is playing, so its echo does not start a turn.
    ///   - maximumChunkBytes: the largest `append` payload (decoded); buffers are sized for it once.
    ///   - concealment: conceal lost packets (``appendLost(samples:into:events:)``) with G.711 Appendix I
    ///     repetition instead of silence.
    ///   - modelRate: the rate of the pcm16 the model takes (``defaultModelRate``, or 16 kHz when the session
    ///     says so).
    ///   - noiseReduction: the session's `noise_reduction`, carried for the caller to see (``reducesNoise`` is
    ///     false: the audio is not denoised).
    /// - Throws: ``PipelineError`` for a rate the detector or resampler cannot take.
    public init(format: AudioFormat, inputRate: SampleRate? = nil, turnDetection: ServerVADConfiguration? = .default,
                idleTimeoutMs: Int? = nil, echoThresholdBoost: Double = 0.2, maximumChunkBytes: Int = 32768,
                concealment: Bool = false, modelRate: SampleRate = InboundAudio.defaultModelRate,
                noiseReduction: NoiseReduction? = nil) throws(PipelineError) {
        self.format = format
        let rate = inputRate ?? format.defaultSampleRate
        self.inputRate = rate
        self.modelRate = modelRate
        self.requestedNoiseReduction = noiseReduction
        self.maximumChunkBytes = max(2, maximumChunkBytes)
        self.idleTimeoutMs = idleTimeoutMs
        self.echoThresholdBoost = echoThresholdBoost
        do {
            resampler = rate == modelRate ? nil : try Resampler(from: rate, to: modelRate)
        } catch { throw .rate(error) }
        if let turnDetection {
            do { vad = try ServerVAD(sampleRate: rate, configuration: turnDetection) } catch { throw .turnDetection(error) }
        }
        if concealment {
            do { concealer = try LossConcealer(sampleRate: rate) } catch { throw .sampleRate(error) }
        }
        // Sized for the largest chunk of any format at this rate (pcm16 and G.711 may be swapped between streams):
        // one sample per byte, plus a pcm16 byte carried over.
        let samples = self.maximumChunkBytes + 1
        decoded = [Float](repeating: 0, count: samples)
        resampled = [Float](repeating: 0, count: resampler.map { $0.maximumOutputCount(forInput: samples) } ?? 0)
        base64 = [UInt8](repeating: 0, count: Base64.decodedCapacity(forCharacterCount: Base64.encodedCount(forByteCount: self.maximumChunkBytes)))
        largestBound = maximumOutputCount(forInput: self.maximumChunkBytes)
    }

    /// The most model bytes (pcm16 at ``modelRate``) an `append` of `byteCount` client bytes can write, and with
    /// `byteCount` 0 the most ``finish(into:events:)`` writes, **whatever the state** of the stream (a bound computed
    /// from the configuration, not from what has arrived).
    ///
    /// A buffer of this size for one chunk size is too small for a larger chunk: size it once with
    /// ``maximumOutputBytes`` and every legal chunk fits; a smaller buffer gets
    /// ``PipelineError/outputTooSmall(bytes:needed:)`` for a chunk that might not fit, never a trap.
    /// - Complexity: O(1).
    public func maximumOutputCount(forInput byteCount: Int) -> Int {
        let bytes = min(max(0, byteCount), maximumChunkBytes + 1)
        // One sample per byte (G.711) or one per two (pcm16, plus the carried byte).
        let samples = format.bytesPerSample == 2 ? bytes / 2 + 1 : bytes
        // `finish` runs the concealer's held 3.75 ms through the resampler, then drains it.
        let held = concealer?.delay ?? 0
        guard let resampler else { return 2 * max(samples, held) }
        let drain = (held > 0 ? resampler.maximumOutputCount(forInput: held) : 0) + resampler.maximumOutputCount(forInput: 0)
        return 2 * max(resampler.maximumOutputCount(forInput: samples), drain)
    }

    /// `maximumOutputCount(forInput: maximumChunkBytes)`: the most model bytes any `append` or
    /// ``finish(into:events:)`` writes, in any state: size the output buffer once with it.
    public var maximumOutputBytes: Int { largestBound }

    /// `maximumOutputCount(forInput: maximumChunkBytes)`, computed once (``outputShortfall(_:largest:exact:)``).
    private var largestBound = 0

    /// The bound a call of `bytes` bytes needs when `output` is short of it, else nil.
    private func fits(_ output: UnsafeMutableBufferPointer<UInt8>, forInput bytes: Int) -> Int? {
        outputShortfall(output, largest: largestBound) { maximumOutputCount(forInput: bytes) }
    }

    /// The lookahead, in seconds: the resampler's, and the concealer's delay when loss is concealed.
    public var latencySeconds: Double { (resampler?.latencySeconds ?? 0) + (concealer?.latencySeconds ?? 0) }

    /// The model samples ``finish(into:events:)`` would write now (the resampler's lookahead still owed).
    public var pendingModelSamples: Int { resampler?.pendingOutputCount ?? 0 }

    /// Whether nothing has been appended since creation, ``reset()`` or ``finish(into:events:)``.
    public var isIdle: Bool { received == 0 }

    /// Whether the detector is inside a turn.
    public var isInTurn: Bool { vad?.isInTurn ?? false }

    /// Input audio taken so far, in milliseconds.
    public var inputMs: Int { inputSamples * 1000 / inputRate.hertz }

    /// Appends client audio bytes (an `input_audio_buffer.append` payload, decoded).
    ///
    /// Writes the model-ready pcm16 (little-endian, at ``modelRate``) to `output` and the events this audio fired to `events`
    /// (emptied first). A pcm16 chunk may end inside a sample: the odd byte waits for the next chunk.
    /// - Returns: the bytes written to `output`.
    /// - Throws: ``PipelineError/chunkTooLarge(bytes:maximum:)``, or ``PipelineError/outputTooSmall(bytes:needed:)``
    ///   when `output` is smaller than `maximumOutputCount(forInput: bytes.count)`; nothing is taken then.
    public mutating func append(_ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>,
                                events: inout InboundEvents) throws(PipelineError) -> Int {
        events.removeAll()
        guard bytes.count <= maximumChunkBytes else { throw .chunkTooLarge(bytes: bytes.count, maximum: maximumChunkBytes) }
        if let needed = fits(output, forInput: bytes.count) { throw .outputTooSmall(bytes: output.count, needed: needed) }
        received += bytes.count
        let samples: Int = decoded.withUnsafeMutableBufferPointer { dst in
            if let law = format.g711 {
                law.decode(bytes, into: UnsafeMutableBufferPointer(rebasing: dst[..<bytes.count]))
                return bytes.count
            }
            // `decoded` holds a chunk's samples plus the carried byte's (sized at init).
            return pcm.decodeUnchecked(bytes, into: dst)
        }
        return deliver(samples, into: output, events: &events)
    }

    /// The events the last ``process(_:into:)`` or ``finish(into:)`` fired, in order (the calls that take an
    /// `events` list leave this one alone).
    public private(set) var events = InboundEvents()

    /// ``append(_:into:events:)`` in the stream shape: the events go to ``events``.
    ///
    /// - Returns: all of `bytes` consumed, and the model bytes written.
    public mutating func process(_ bytes: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) throws(PipelineError) -> (consumed: Int, produced: Int) {
        var fired = InboundEvents.borrowing(&events)
        defer { events = fired }
        return (bytes.count, try append(bytes, into: output, events: &fired))
    }

    /// ``finish(into:events:)`` in the stream shape: the events go to ``events``.
    public mutating func finish(into output: UnsafeMutableBufferPointer<UInt8>) throws(PipelineError) -> Int {
        var fired = InboundEvents.borrowing(&events)
        defer { events = fired }
        return try finish(into: output, events: &fired)
    }

    /// Appends `samples` lost samples (at the input rate: a lost frame's worth, as a jitter buffer reports it):
    /// concealed (when the pipeline was built with `concealment`) or silence, so the model's stream and the
    /// detector's clock stay on the caller's timeline; the detector holds a turn through it (``ServerVAD/setConcealed(_:)``).
    ///
    /// - Throws: ``PipelineError/chunkTooLarge(bytes:maximum:)`` past the largest chunk's samples
    ///   (`maximumChunkBytes / format.bytesPerSample`), ``PipelineError/outputTooSmall(bytes:needed:)``; nothing is
    ///   taken then.
    public mutating func appendLost(samples: Int, into output: UnsafeMutableBufferPointer<UInt8>,
                                    events: inout InboundEvents) throws(PipelineError) -> Int {
        events.removeAll()
        let count = max(0, samples)
        // The lost samples' size on the wire, saturating: the refusal names it whatever the count.
        let (product, overflow) = count.multipliedReportingOverflow(by: format.bytesPerSample)
        let bytes = overflow ? Int.max : product
        guard bytes <= maximumChunkBytes else { throw .chunkTooLarge(bytes: bytes, maximum: maximumChunkBytes) }
        if let needed = fits(output, forInput: bytes) { throw .outputTooSmall(bytes: output.count, needed: needed) }
        decoded.withUnsafeMutableBufferPointer { d in
            if concealer != nil { _ = concealer!.conceal(count: count, into: d) } else { d.baseAddress!.update(repeating: 0, count: count) }
        }
        vad?.setConcealed(true)
        defer { vad?.setConcealed(false) }
        return deliver(count, into: output, events: &events, concealed: true)
    }

    /// Appends base64 audio (the `audio` field of `input_audio_buffer.append`, as ASCII bytes).
    ///
    /// - Throws: ``PipelineError/base64(_:)`` naming the bad offset, or ``PipelineError/chunkTooLarge(bytes:maximum:)``;
    ///   nothing is taken then, so the next valid chunk continues the stream as if the bad one never came.
    public mutating func append(base64 characters: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>,
                                events: inout InboundEvents) throws(PipelineError) -> Int {
        events.removeAll()
        var scratch: [UInt8] = []
        swap(&scratch, &base64)
        defer { swap(&scratch, &base64) }
        let count = try decodeBase64Payload(characters, into: &scratch, maximum: maximumChunkBytes)
        return try withPayload(scratch, count: count) { (bytes) throws(PipelineError) -> Int in try append(bytes, into: output, events: &events) }
    }

    /// Ends the input stream (`input_audio_buffer.commit` of a finished call, or the end of a file): drains the
    /// resampler's lookahead and ends a turn still open at the end of the audio. Then the pipeline starts a new
    /// stream, times from 0.
    /// - Throws: ``PipelineError/outputTooSmall(bytes:needed:)`` when `output` is smaller than
    ///   `maximumOutputCount(forInput: 0)`; ``PipelineError/pcm16(_:)`` when the pcm16 stream ends inside a sample
    ///   (append the missing byte, or drop the half with ``discardPartialSample()``). Nothing changes then.
    public mutating func finish(into output: UnsafeMutableBufferPointer<UInt8>, events: inout InboundEvents) throws(PipelineError) -> Int {
        events.removeAll()
        if let needed = fits(output, forInput: 0) { throw .outputTooSmall(bytes: output.count, needed: needed) }
        guard pcm.pendingByteCount == 0 else { throw .pcm16(.danglingByte) }
        var written = 0
        if concealer != nil {
            // The concealer's delay holds the stream's last 3.75 ms.
            let n = decoded.withUnsafeMutableBufferPointer { concealer!.finish(into: $0) }
            written += deliver(n, into: output, events: &events, concealed: true)
        }
        if resampler != nil {
            let n = resampled.withUnsafeMutableBufferPointer { resampler!.finish(into: $0) }
            written += encode(n, into: UnsafeMutableBufferPointer(rebasing: output[written...]))
        }
        if let stop = vad?.finish(), case .speechStopped(let end, _) = stop { events.append(.speechStopped(audioEndMs: end)) }
        reset()
        return written
    }

    /// Drops the half sample an odd pcm16 byte count left pending (see ``finish(into:events:)``).
    public mutating func discardPartialSample() { pcm.reset() }

    /// The byte of a half pcm16 sample waiting for its second byte: 0 or 1.
    public var pendingByteCount: Int { pcm.pendingByteCount }

    /// Drops the stream in progress (`input_audio_buffer.clear`): a half sample, the resampler's history, a turn.
    public mutating func reset() {
        pcm.reset()
        concealer?.reset()
        resampler?.reset()
        vad?.reset()
        received = 0
        inputSamples = 0
        idleArmedAtSample = nil
    }

    /// Changes `input_audio_format` (a `session.update`): only between streams.
    ///
    /// A format with another wire rate (pcm16 <-> G.711) rebuilds the pipeline at that format's rate.
    /// - Throws: ``PipelineError/formatChangeMidStream(field:from:to:)`` while audio is in progress; nothing changes.
    public mutating func setFormat(_ newFormat: AudioFormat) throws(PipelineError) {
        guard newFormat != format else { return }
        guard isIdle else { throw .formatChangeMidStream(field: "input_audio_format", from: format, to: newFormat) }
        guard newFormat.defaultSampleRate == inputRate else {
            // Another wire rate needs other filters and buffers: rebuilt here, between streams (a session.update),
            // never on the per-chunk path; the detector's settings and the echo guard's state carry over.
            let boost = vad?.thresholdBoost ?? 0
            self = try InboundAudio(format: newFormat, turnDetection: vad?.configuration, idleTimeoutMs: idleTimeoutMs,
                                    echoThresholdBoost: echoThresholdBoost, maximumChunkBytes: maximumChunkBytes,
                                    concealment: concealsLoss, modelRate: modelRate, noiseReduction: requestedNoiseReduction)
            vad?.setThresholdBoost(boost)
            return
        }
        format = newFormat
        largestBound = maximumOutputCount(forInput: maximumChunkBytes)
    }

    /// Tells the pipeline whether the assistant's audio is playing (the echo guard).
    public mutating func setOutputPlaying(_ playing: Bool) {
        vad?.setThresholdBoost(playing ? echoThresholdBoost : 0)
    }

    /// Sets the detector's echo gate (dBFS of a 10 ms frame at the input rate; nil to lift it): while set, input
    /// quieter than it cannot start a turn (``ServerVAD/setEchoGate(_:)``). A carrier leg computes it from what it
    /// played (`OutboundLeg.echoGate(now:)`), so the reply's echo does not barge in and a caller talking over it
    /// does.
    public mutating func setEchoGate(_ levelDB: Double?) {
        vad?.setEchoGate(levelDB)
    }

    /// Starts the idle timer at the current input position (when the assistant has finished speaking).
    public mutating func armIdleTimer() {
        guard idleTimeoutMs != nil else { return }
        idleArmedAtSample = inputSamples
    }

    /// Stops the idle timer.
    public mutating func disarmIdleTimer() { idleArmedAtSample = nil }

    // MARK: - The path

    private mutating func deliver(_ count: Int, into output: UnsafeMutableBufferPointer<UInt8>, events: inout InboundEvents,
                                  concealed: Bool = false) -> Int {
        if concealer != nil, !concealed {
            // Received audio goes through the concealer's delay (in place: it reads each sample before writing it).
            decoded.withUnsafeMutableBufferPointer { d in _ = concealer!.process(UnsafeBufferPointer(rebasing: d[..<count]), into: d) }
        }
        decoded.withUnsafeBufferPointer { d in detect(UnsafeBufferPointer(rebasing: d[..<count]), events: &events) }
        inputSamples += count
        guard resampler != nil else {
            return decoded.withUnsafeBufferPointer { PCM16.encode(UnsafeBufferPointer(rebasing: $0[..<count]), into: output) }
        }
        let made = decoded.withUnsafeBufferPointer { src in
            resampled.withUnsafeMutableBufferPointer { resampler!.process(UnsafeBufferPointer(rebasing: src[..<count]), into: $0).produced }
        }
        return encode(made, into: output)
    }

    private func encode(_ count: Int, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        resampled.withUnsafeBufferPointer { PCM16.encode(UnsafeBufferPointer(rebasing: $0[..<count]), into: output) }
    }

    /// Runs the detector over `samples` (which start at `inputSamples`), stopping at the idle deadline if one
    /// falls inside, so the events come in stream order whatever the chunking.
    private mutating func detect(_ samples: UnsafeBufferPointer<Float>, events: inout InboundEvents) {
        var rest = samples
        var position = inputSamples
        while !rest.isEmpty {
            var piece = rest
            if let armed = idleArmedAtSample, let timeout = idleTimeoutMs {
                let deadline = armed + timeout * inputRate.hertz / 1000
                if deadline <= position {
                    events.append(.timeoutTriggered(audioStartMs: armed * 1000 / inputRate.hertz, audioEndMs: armed * 1000 / inputRate.hertz + timeout))
                    idleArmedAtSample = nil
                    continue
                }
                piece = UnsafeBufferPointer(rebasing: rest[..<min(rest.count, deadline - position)])
            }
            if vad != nil {
                var disarm = false
                vad!.process(piece) { event, _, _ in
                    switch event {
                    case .speechStarted(let start, _):
                        events.append(.speechStarted(audioStartMs: start))
                        disarm = true
                    case .speechStopped(let end, _):
                        events.append(.speechStopped(audioEndMs: end))
                    }
                }
                if disarm { idleArmedAtSample = nil }
            }
            position += piece.count
            rest = UnsafeBufferPointer(rebasing: rest[piece.count...])
        }
        // A deadline exactly at the end of this audio fires now, not with the next chunk.
        if let armed = idleArmedAtSample, let timeout = idleTimeoutMs, armed + timeout * inputRate.hertz / 1000 <= position {
            events.append(.timeoutTriggered(audioStartMs: armed * 1000 / inputRate.hertz, audioEndMs: armed * 1000 / inputRate.hertz + timeout))
            idleArmedAtSample = nil
        }
    }
}
