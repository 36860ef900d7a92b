import RealModule
import RealtimeAudio

/// A leg's refusal, typed; the leg is as before the call.
public enum CarrierLegError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The model's audio or the pipeline's settings were refused by `OutboundAudio`.
    case pipeline(PipelineError)
    /// The pacer's configuration, or its response queue.
    case pacer(PacerError)
    /// The pacer's queue has no room for this chunk's output now: nothing was taken; offer it again after
    /// frames are released (read the model's socket more slowly meanwhile).
    case queueFull(needed: Int, free: Int)

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String {
        switch self {
        case .pipeline(let error): "\(error)"
        case .pacer(let error): "\(error)"
        case .queueFull(let needed, let free): "outbound queue full: the chunk needs \(needed) bytes, \(free) are free"
        }
    }
}

/// What a barge-in needs: the response cut, and where its listener was in the model's audio (the
/// `audio_end_ms` of `conversation.item.truncate`).
public struct Interruption: Sendable, Equatable {
    /// The pacer's id of the response that was playing.
    public var response: Int
    /// Client samples of it played.
    public var playedSamples: Int
    /// The point reached in its model audio, in ms.
    public var audioEndMs: Int
}

/// The outbound half of a call: the model's audio through `OutboundAudio` (speed, resampling, encoding) into a
/// ``Pacer``, the marks it releases tracked by a ``PlaybackClock``, so that on barge-in one call gives the
/// response to truncate and its `audio_end_ms` at the position **played**, at any speed, also for a response
/// that has finished arriving and still plays.
///
/// - Acknowledged legs (Twilio, Telnyx: they echo marks) place the playhead from the echoes; unacknowledged ones
///   (AudioSocket, chan_websocket) from the pacer's model of the carrier, `latencyMs` behind its releases.
/// - ``isPlaying(now:)`` is the echo guard's signal: feed it to `InboundAudio/setOutputPlaying(_:)`.
/// - Nothing is allocated per chunk or per frame; memory is fixed at init. One per call, from one task at a time.
public struct OutboundLeg: Sendable {
    /// Whether the carrier echoes marks.
    public let acknowledged: Bool
    /// The carrier's delay from receiving audio to playing it, in ms (the estimate's offset, and the echo
    /// guard's tail).
    public let latencyMs: Int
    /// How long after our audio has played its echo may still reach the inbound path, in ms (the caller's
    /// acoustic echo plus the return path): the echo guard stays on this much longer.
    public let echoTailMs: Int
    /// The echo return loss the echo gate assumes, in dB: the caller's phone returns our audio at least this
    /// much quieter (9 dB by default; an echo at -12 dB then stays 3 dB under the gate).
    public let echoReturnLossDB: Double
    /// The carrier's format (what the frames carry).
    public let format: CarrierMediaFormat
    /// The model-to-caller pipeline (speed, resampling, encoding), for its settings and counters.
    public private(set) var audio: OutboundAudio
    /// The pacer, for its statistics and queue.
    public private(set) var pacer: Pacer
    /// The playback clock, for the marks in flight.
    public private(set) var clock: PlaybackClock
    /// Responses whose audio ended inside a pcm16 sample, the half sample dropped (``finishResponse(now:)``).
    public private(set) var partialSamplesDropped = 0

    private var output: [UInt8]
    /// The levels (dBFS) of the latest frames released, with where each starts on the pacer's timeline: the
    /// echo gate's reference.
    private var frameLevels: [FrameLevel]
    private var frameLevelCount = 0

    private struct FrameLevel {
        var timeline: Int
        var samples: Int
        var levelDB: Float
    }
    /// The timing of queued responses (speed, model samples), by pacer id, oldest first.
    private var timings: [Timing]
    private var timingCount = 0
    /// The response the model is sending: its pacer id once it has produced bytes.
    private var openModelSamples = 0

    private struct Timing {
        var response: Int
        var speed: Double
        var modelSamples: Int
        var ended: Bool
    }

    /// Builds the leg for a carrier's format.
    ///
    /// - Parameters:
    ///   - format: the carrier's media format (encoding and rate) the frames are sent in.
    ///   - speed: the session's `speed` (0.25...1.5).
    ///   - acknowledged: whether the carrier echoes marks (Twilio, Telnyx).
    ///   - latencyMs: the carrier's delay from a frame's release to its playing (0...2000 ms): the unacknowledged
    ///     estimate's offset, and the echo guard's tail.
    ///   - returnDelayMs: the fixed part of the echoes' return delay (0...2000 ms; see ``PlaybackClock``).
    ///   - echoTailMs: how long the echo guard outlasts the playout (0...2000 ms; 250 by default: an echo path
    ///     of up to 200 ms and the return network).
    ///   - echoReturnLossDB: the echo gate's margin under the loudest audio played (0...60 dB).
    ///   - maximumChunkBytes: the largest piece of model audio ``appendModelAudio(_:now:)`` takes at once, in
    ///     bytes; the pipeline's buffers are sized for it once.
    ///   - modelRate: the rate of the model's pcm16 (the session's `audio.output.format.rate`: 24 or 16 kHz).
    ///   - configuration: the pacer's; by default a mark every frame on acknowledged legs (the playhead is placed
    ///     from the fastest echo: with marks every 100 ms the truncation error grows about 1.5-2x), none
    ///     between response ends on the others.
    /// - Throws: ``CarrierLegError``: also when the pacer's capacity is smaller than what one chunk of
    ///   `maximumChunkBytes` (or a response's end) may produce.
    public init(format: CarrierMediaFormat, speed: Double = 1, acknowledged: Bool, latencyMs: Int = 0, returnDelayMs: Int = 0,
                echoTailMs: Int = 250, echoReturnLossDB: Double = 9,
                pacer configuration: PacerConfiguration? = nil, maximumChunkBytes: Int = 32768,
                modelRate: SampleRate = OutboundAudio.defaultModelRate) throws(CarrierLegError) {
        // Acknowledged legs: a mark every frame (as carriers' own samples send them), so the clock has many
        // echoes to take the fastest from.
        let configuration = configuration ?? PacerConfiguration(markIntervalMs: acknowledged ? 20 : nil)
        self.format = format
        self.acknowledged = acknowledged
        self.latencyMs = min(max(0, latencyMs), 2000)
        self.echoTailMs = min(max(0, echoTailMs), 2000)
        self.echoReturnLossDB = echoReturnLossDB.isFinite ? min(max(0, echoReturnLossDB), 60) : 9
        do { audio = try OutboundAudio(format: format.audioFormat, clientRate: format.sampleRate, speed: speed, maximumChunkBytes: maximumChunkBytes, modelRate: modelRate) }
        catch { throw .pipeline(error) }
        do { pacer = try Pacer(format: format, configuration: configuration) } catch { throw .pacer(error) }
        // Any one chunk's output must fit the empty queue, or a refused chunk could never be taken.
        guard pacer.freeBytes >= audio.maximumOutputBytes else {
            throw .pacer(.invalidConfiguration("capacityMs \(configuration.capacityMs) holds \(pacer.freeBytes) bytes, less than the \(audio.maximumOutputBytes) one chunk of \(maximumChunkBytes) bytes may make"))
        }
        clock = PlaybackClock(sampleRate: format.sampleRate, returnDelayMs: returnDelayMs)
        output = [UInt8](repeating: 0, count: audio.maximumOutputBytes)
        frameLevels = [FrameLevel](repeating: FrameLevel(timeline: 0, samples: 0, levelDB: 0), count: 512)
        timings = [Timing](repeating: Timing(response: 0, speed: 1, modelSamples: 0, ended: false), count: Pacer.maximumQueuedResponses + 2)
    }

    /// Appends the model's audio (pcm16 little-endian bytes at the leg's model rate, any chunking).
    ///
    /// - Throws: ``CarrierLegError/queueFull(needed:free:)`` (nothing taken), ``CarrierLegError/pipeline(_:)``.
    public mutating func appendModelAudio(_ bytes: UnsafeBufferPointer<UInt8>, now: UInt64) throws(CarrierLegError) {
        let needed = audio.maximumOutputCount(forInput: bytes.count)
        guard pacer.freeBytes >= needed else { throw .queueFull(needed: needed, free: pacer.freeBytes) }
        let n: Int
        do { n = try output.withUnsafeMutableBufferPointer { (o) throws(PipelineError) -> Int in try audio.append(bytes, into: o) } }
        catch { throw .pipeline(error) }
        try deliver(n, now: now)
    }

    /// Appends the model's audio as base64 (the `delta` of `response.output_audio.delta`).
    ///
    /// - Throws: ``CarrierLegError/pipeline(_:)`` with the base64 error and its offset; nothing taken then.
    public mutating func appendModelAudio(base64 characters: UnsafeBufferPointer<UInt8>, now: UInt64) throws(CarrierLegError) {
        let needed = audio.maximumOutputCount(forInput: Base64.decodedCapacity(forCharacterCount: characters.count))
        guard pacer.freeBytes >= needed else { throw .queueFull(needed: needed, free: pacer.freeBytes) }
        let n: Int
        do { n = try output.withUnsafeMutableBufferPointer { (o) throws(PipelineError) -> Int in try audio.append(base64: characters, into: o) } }
        catch { throw .pipeline(error) }
        try deliver(n, now: now)
    }

    /// Ends the model's response (`response.output_audio.done`): the rest of its audio is queued, then its end.
    ///
    /// A response whose audio ended inside a pcm16 sample has that half sample dropped (one byte cannot be
    /// played) and counted in ``partialSamplesDropped``.
    public mutating func finishResponse(now: UInt64) throws(CarrierLegError) {
        let needed = audio.maximumOutputCount(forInput: 0)
        guard pacer.freeBytes >= needed else { throw .queueFull(needed: needed, free: pacer.freeBytes) }
        let speed = audio.speed
        let model = audio.receivedModelSamples
        let n: Int
        if audio.pendingByteCount > 0 {
            audio.discardPartialSample()
            partialSamplesDropped += 1
        }
        do { n = try output.withUnsafeMutableBufferPointer { (o) throws(PipelineError) -> Int in try audio.finish(into: o) } }
        catch { throw .pipeline(error) }
        try deliver(n, now: now, modelSamples: model)
        if timingCount > 0, timings[timingCount - 1].response == pacer.openResponse, !timings[timingCount - 1].ended {
            timings[timingCount - 1].speed = speed
            timings[timingCount - 1].ended = true
            pacer.endResponse(now: now)
        }
    }

    private mutating func deliver(_ n: Int, now: UInt64, modelSamples: Int? = nil) throws(CarrierLegError) {
        let model = modelSamples ?? audio.receivedModelSamples
        guard n > 0 else {
            if timingCount > 0, !timings[timingCount - 1].ended { timings[timingCount - 1].modelSamples = model }
            return
        }
        let response = pacer.openResponse
        do { _ = try output.withUnsafeBufferPointer { (o) throws(PacerError) -> Int in try pacer.append(UnsafeBufferPointer(rebasing: o[..<n]), now: now) } }
        catch { throw .pacer(error) }
        if timingCount == 0 || timings[timingCount - 1].response != response {
            if timingCount == timings.count {
                for k in 1..<timings.count { timings[k - 1] = timings[k] }
                timingCount -= 1
            }
            timings[timingCount] = Timing(response: response, speed: audio.speed, modelSamples: 0, ended: false)
            timingCount += 1
        }
        timings[timingCount - 1].modelSamples = model
    }

    /// When ``poll(now:_:)`` next has a frame to release (absolute ns), nil while it waits for audio.
    public var nextDeadline: UInt64? { pacer.nextDeadline }

    /// Releases the frames and marks due at `now`, in order, for the gateway to send (through the carrier's
    /// adapter); the marks are tracked by the clock.
    public mutating func poll(now: UInt64, _ emit: (PacerOutput) -> Void) {
        // Disjoint stored properties passed inout together: no copy of the clock's or the levels' storage.
        frameLevelCount = Self.poll(&pacer, &clock, &frameLevels, frameLevelCount, format, now: now, emit)
    }

    private static func poll(_ pacer: inout Pacer, _ clock: inout PlaybackClock, _ levels: inout [FrameLevel], _ count: Int,
                             _ format: CarrierMediaFormat, now: UInt64, _ emit: (PacerOutput) -> Void) -> Int {
        var levelCount = count
        let encoding = format.encoding
        var timeline = pacer.releasedTimeline
        let run = pacer.run
        let wasRunning = pacer.isRunning
        var newRun = false
        let bytesPerSample = format.bytesPerSample
        pacer.poll(now: now) { out in
            switch out {
            case .frame(let bytes, _, _):
                if !wasRunning { newRun = true }
                let samples = bytes.count / bytesPerSample
                levels[levelCount % levels.count] = FrameLevel(timeline: timeline, samples: samples, levelDB: level(of: bytes, encoding))
                levelCount += 1
                timeline += samples
            case .mark(.pacer(let response, let sample)):
                // A start mark of a stopped pacer opens the run its frame starts.
                if !wasRunning, sample == 0 { newRun = true }
                clock.sent(response: response, sample: sample, timeline: timeline, run: run + (newRun ? 1 : 0), now: now)
            case .mark(.named):
                break
            }
            emit(out)
        }
        return levelCount
    }

    /// The square of each G.711 code's linear value.
    private static let muLawSquares: [Float] = (0..<256).map { let x = Float(G711.muLaw.decode(UInt8($0))); return x * x }
    private static let aLawSquares: [Float] = (0..<256).map { let x = Float(G711.aLaw.decode(UInt8($0))); return x * x }

    /// A frame's level in dBFS (10 log10 of its mean square, full scale 1.0).
    private static func level(of bytes: UnsafeBufferPointer<UInt8>, _ encoding: CarrierMediaFormat.Encoding) -> Float {
        var sum: Float = 0
        var n = 0
        switch encoding {
        case .muLaw, .aLaw:
            // Each code's square from a table: the same sums, without decoding every frame's codes again.
            let squares = encoding == .muLaw ? Self.muLawSquares : Self.aLawSquares
            squares.withUnsafeBufferPointer { table in
                for code in bytes { sum += table[Int(code)] }
            }
            n = bytes.count
        case .linear16LittleEndian, .linear16BigEndian:
            var i = 0
            while i + 1 < bytes.count {
                let x = Float(Int16(bitPattern: UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8))
                sum += x * x
                i += 2
            }
            n = bytes.count / 2
        }
        guard n > 0 else { return -200 }
        return 10 * Float.log10(sum / Float(n) / (32768 * 32768) + 1e-20)
    }

    /// The echo gate for the inbound detector now (`InboundAudio/setEchoGate(_:)`), in dBFS: the loudest frame
    /// the carrier played (by the pacer's model) over the last `echoTailMs`, `latencyMs` back, less
    /// ``echoReturnLossDB``; nil when nothing played then (the gate is lifted).
    public func echoGate(now: UInt64) -> Double? {
        guard let late = pacer.estimatedTimeline(now: now, latencyMs: latencyMs),
              let early = pacer.estimatedTimeline(now: now, latencyMs: latencyMs + echoTailMs) else { return nil }
        var loudest: Float = -.infinity
        var k = frameLevelCount - 1
        while k >= 0, k > frameLevelCount - frameLevels.count {
            let f = frameLevels[k % frameLevels.count]
            if f.timeline + f.samples <= early { break }
            if f.timeline <= late { loudest = max(loudest, f.levelDB) }
            k -= 1
        }
        guard loudest > -.infinity else { return nil }
        return Double(loudest) - echoReturnLossDB
    }

    /// Takes a mark the carrier echoed.
    @discardableResult
    public mutating func acknowledge(_ mark: CarrierMark, now: UInt64) -> MarkAcknowledgement {
        clock.acknowledge(mark, now: now)
    }

    /// The response playing and the samples of it played by `now`, or nil when nothing has been released since
    /// the last barge-in.
    ///
    /// Acknowledged legs place the playhead from the echoes of the current run (``PlaybackClock``); before the
    /// run's first echo, or when echoes stop coming for ``acknowledgementTimeoutMs`` past the lead, from the
    /// pacer's model (`latencyMs` behind its releases), as unacknowledged legs always do.
    public func playedPosition(now: UInt64) -> (response: Int, samples: Int)? {
        guard var p = pacer.estimatedTimeline(now: now, latencyMs: latencyMs) else { return nil }
        if acknowledged, !clock.isOverdue(now: now, timeoutMs: pacer.configuration.leadMs + Self.acknowledgementTimeoutMs),
           let echoed = clock.timeline(run: pacer.run, releasedTimeline: pacer.releasedTimeline, now: now) {
            p = echoed
        }
        return pacer.position(atTimeline: p).map { ($0.response, $0.sample) }
    }

    /// How long a mark may go unechoed (beyond the pacer's lead) before the leg falls back on the pacer's
    /// estimate, in ms.
    public static let acknowledgementTimeoutMs = 1000

    private func timing(of response: Int) -> Timing? {
        for k in 0..<timingCount where timings[k].response == response { return timings[k] }
        return nil
    }

    /// Whether the caller hears (or is about to hear) our audio, or its echo may still come back (`latencyMs` +
    /// `echoTailMs` after the playout): the echo guard's signal, for `InboundAudio/setOutputPlaying(_:)`.
    public func isPlaying(now: UInt64) -> Bool { pacer.isPlaying(now: now, latencyMs: latencyMs + echoTailMs) }

    /// Barge-in: drops everything queued and buffered, and returns the response that was playing with its
    /// `audio_end_ms` at the position played; the gateway sends the carrier's `clear` and the model's
    /// `conversation.item.truncate`. Nil when nothing was playing or queued: no audio waiting, what was released
    /// played out (``latencyMs`` after its release), and the model's response ended.
    public mutating func interrupt(now: UInt64) -> Interruption? {
        let position = playedPosition(now: now)
        // A reply that has ended and played out is not interrupted: a caller who speaks after it gets no `clear`
        // and no truncation (the run still ends, so the next reply starts with its lead).
        let active = pacer.nextDeadline != nil || pacer.isPlaying(now: now, latencyMs: latencyMs)
            || (timingCount > 0 && !timings[timingCount - 1].ended)
        let cleared = pacer.clear(now: now)
        _ = audio.interrupt(playedSamples: 0)
        clock.cleared(through: pacer.latestResponse)
        defer { timingCount = 0 }
        guard active, let response = position?.response ?? cleared?.response else { return nil }
        let played = position?.samples ?? 0
        guard let timing = timing(of: response) else {
            return Interruption(response: response, playedSamples: played, audioEndMs: 0)
        }
        let end = OutboundAudio.audioEndMs(playedSamples: played, clientRate: format.sampleRate, speed: timing.speed,
                                           modelSamples: timing.modelSamples, modelRate: audio.modelRate)
        return Interruption(response: response, playedSamples: played, audioEndMs: end)
    }
}
