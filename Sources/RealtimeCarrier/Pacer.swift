import RealtimeAudio

/// How a ``Pacer`` releases audio.
public struct PacerConfiguration: Sendable, Equatable {
    /// The frame length, in ms (10...60; 20 is what Twilio, Telnyx and AudioSocket use).
    public var frameMs: Int
    /// How far ahead of the carrier's playhead audio is sent, in ms (0...1000): the carrier's buffer holds this
    /// much, so network jitter up to it never starves the call. 100 ms by default. A run waits for twice this
    /// much audio, or this long, before it starts (see ``Pacer``).
    public var leadMs: Int
    /// Also insert a mark every this many ms of a response (at the frame boundary reaching it), so the playback
    /// clock is corrected between response ends; nil for marks at response ends only.
    public var markIntervalMs: Int?
    /// Insert a mark before each response's first frame (its echo tells when the carrier started playing it).
    public var markResponseStarts: Bool
    /// Pad a response's partial last frame with silence to a whole frame (for carriers that need whole frames).
    public var padPartialFrames: Bool
    /// The most audio the pacer holds, in ms (1 s...10 min): ``Pacer/append(_:now:)`` takes no more (the caller
    /// keeps the rest, and reads its source more slowly).
    public var capacityMs: Int

    /// A configuration; ``validate()`` (the pacer's init calls it) checks the ranges.
    public init(frameMs: Int = 20, leadMs: Int = 100, markIntervalMs: Int? = nil, markResponseStarts: Bool = true,
                padPartialFrames: Bool = false, capacityMs: Int = 120_000) {
        self.frameMs = frameMs
        self.markResponseStarts = markResponseStarts
        self.leadMs = leadMs
        self.markIntervalMs = markIntervalMs
        self.padPartialFrames = padPartialFrames
        self.capacityMs = capacityMs
    }

    /// Checks every field.
    ///
    /// - Throws: ``PacerError/invalidConfiguration(_:)`` naming the field and its range.
    public func validate() throws(PacerError) {
        guard (10...60).contains(frameMs) else { throw .invalidConfiguration("frameMs \(frameMs) is outside 10...60") }
        guard (0...1000).contains(leadMs) else { throw .invalidConfiguration("leadMs \(leadMs) is outside 0...1000") }
        if let interval = markIntervalMs, !(frameMs...600_000).contains(interval) {
            throw .invalidConfiguration("markIntervalMs \(interval) is outside \(frameMs)...600000")
        }
        guard (1000...600_000).contains(capacityMs) else { throw .invalidConfiguration("capacityMs \(capacityMs) is outside 1000...600000") }
    }
}

/// A pacer's refusal, typed.
public enum PacerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A configuration field out of its range.
    case invalidConfiguration(String)
    /// Too many ended responses are waiting to be released (``Pacer/maximumQueuedResponses``).
    case tooManyResponses(Int)

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String {
        switch self {
        case .invalidConfiguration(let what): "pacer: \(what)"
        case .tooManyResponses(let n): "pacer: \(n) responses are already queued"
        }
    }
}

/// What a ``Pacer`` releases: a frame to send, or a mark to send after the frames before it.
public enum PacerOutput {
    /// A frame of audio in the carrier's format (valid during the callback), from `sample` of response `response`
    /// (client samples from the response's start; padding, when configured, is not counted).
    case frame(UnsafeBufferPointer<UInt8>, response: Int, sample: Int)
    /// A mark to send now, after the frames already released.
    case mark(CarrierMark)
}

/// Counters of a pacer's behaviour.
public struct PacerStatistics: Sendable, Equatable {
    /// Frames released.
    public var frames = 0
    /// Times the carrier's modelled buffer ran dry in the middle of a response (the source fell behind).
    public var underflows = 0
    /// Calls whose `now` was earlier than a previous call's (treated as the previous time).
    public var clockRegressions = 0
    /// The latest any frame was released after its deadline, in ns.
    public var maximumLatenessNs: UInt64 = 0
    /// Lateness histogram: buckets 0 to 99 count frames released k*0.1 ms to (k+1)*0.1 ms late, buckets 100 to 189
    /// frames 10 + (k-100) ms to 11 + (k-100) ms late (a loaded host's stalls are milliseconds, not tenths), and the
    /// last bucket everything from 100 ms on.
    public var latenessBuckets = [Int](repeating: 0, count: latenessBucketCount)

    /// How many buckets the lateness histogram has.
    public static let latenessBucketCount = 191

    /// The histogram bucket of a lateness, in ns.
    public static func latenessBucket(forNs late: UInt64) -> Int {
        late < 10_000_000 ? Int(late / 100_000) : min(190, 100 + Int((late - 10_000_000) / 1_000_000))
    }

    /// The upper edge of a histogram bucket, in ms (infinity for the last).
    public static func latenessUpperEdgeMs(ofBucket k: Int) -> Double {
        k < 100 ? Double(k + 1) / 10 : (k < 190 ? Double(k - 99 + 10) : .infinity)
    }

    /// The lateness `fraction` (0...1) of frames were released within, in ms (to the histogram's 0.1 ms below
    /// 10 ms, its 1 ms below 100 ms; the maximum beyond).
    public func latenessQuantileMs(_ fraction: Double) -> Double {
        let total = latenessBuckets.reduce(0, +)
        guard total > 0 else { return 0 }
        let target = Int((fraction * Double(total)).rounded(.up))
        var seen = 0
        for (k, n) in latenessBuckets.enumerated() {
            seen += n
            if seen >= target { return min(Self.latenessUpperEdgeMs(ofBucket: k), Double(maximumLatenessNs) / 1e6) }
        }
        return Double(maximumLatenessNs) / 1e6
    }
}

/// Releases a call's outbound audio to the carrier in frames at **absolute deadlines** of the caller's monotonic
/// clock, a lead ahead of the carrier's playhead.
///
/// The gateway appends whatever the model sends (a burst of seconds, or real-time 100 ms packets), calls
/// ``poll(now:_:)`` when ``nextDeadline`` comes (a timer at that absolute time, or on each event-loop turn) and
/// sends what it hands out. Deadlines never drift: frame *k* of a run is due at `start + k·frame − lead`, so a
/// timer that fires late or an event loop that stalls is caught up at the next poll (the frames due are released
/// together) instead of stretching the call, and the carrier's buffer stays `lead` ahead.
///
/// - A run starts when twice `lead` of audio is queued (a model bursting its reply gets there at once), when
///   `lead` has passed since the run's first audio came (a source paced in real time: its packets then reach the
///   pacer's queue, not the carrier's buffer, which stays `lead` ahead), or when the response has ended; the
///   first `lead` goes at once.
/// - A response's partial last frame is released (padded with silence if configured), then a
///   ``CarrierMark/pacer(response:sample:)`` mark; frames never straddle responses.
/// - When the source falls behind so that the carrier's modelled buffer runs dry mid-response, that is an
///   underflow: counted, and the next run re-anchors once `lead` is queued again.
/// - ``clear(now:)`` drops everything queued at once (barge-in): no frame of it is released afterwards.
/// - Memory is fixed at init (``PacerConfiguration/capacityMs`` of audio); nothing is allocated per call.
/// - Time is the caller's monotonic clock in ns; a `now` earlier than a previous one counts as the previous one.
///
/// One per call, from one task at a time.
public struct Pacer: Sendable {
    /// The carrier's format (rate and bytes per sample).
    public let format: CarrierMediaFormat
    /// How it releases audio (validated at init).
    public let configuration: PacerConfiguration
    /// How many ended responses may wait unreleased at once.
    public static let maximumQueuedResponses = 16

    /// Frames released, underflows, clock regressions and lateness so far.
    public private(set) var statistics = PacerStatistics()
    /// Runs started so far: a run is a stretch of continuous playout (it starts with the lead sent at once, and
    /// ends when the carrier's modelled buffer runs dry or on ``clear(now:)``). The carrier's clock is continuous
    /// within a run: the ``PlaybackClock`` pools the echoes of one run.
    public private(set) var run = 0

    private let frameSamples: Int
    private let bytesPerSample: Int
    private let leadNs: Int64
    private var ring: [UInt8]
    private var frame: [UInt8]
    /// Bytes ever appended and released (the ring holds the difference).
    private var appended = 0
    private var released = 0

    /// Queued responses, oldest first: their ids, first byte (cumulative) and end byte once ended.
    private var segments: [Segment]
    private var segmentCount = 0
    private var nextResponse = 1

    /// The run's anchor: at `anchorTime` the carrier starts on timeline sample `anchorSample`.
    private var running = false
    private var anchorTime: Int64 = 0
    private var anchorSample = 0
    /// Samples released on the carrier's timeline (padding included), since the pacer began.
    private var timeline = 0
    private var lastNow: Int64 = 0
    private var starving = false
    /// Set when a poll found no frame; the time the next one became available.
    private var waitingForAudio = false
    /// When audio first waited for a run to start (nil while running, or with nothing queued).
    private var pendingSince: Int64?
    private var availableAt: Int64 = 0

    /// Where responses begin on the timeline (the latest few), to map the playhead back to response samples.
    private var starts: [ResponseStart]
    private var startCount = 0

    private struct Segment {
        var response: Int
        var begin: Int
        var end: Int?
        var releasedSamples: Int
        var nextMark: Int
    }

    private struct ResponseStart {
        var response: Int
        var timeline: Int
        var samples: Int
    }

    /// Builds a pacer for the carrier's format.
    ///
    /// - Throws: ``PacerError/invalidConfiguration(_:)``.
    public init(format: CarrierMediaFormat, configuration: PacerConfiguration = PacerConfiguration()) throws(PacerError) {
        try configuration.validate()
        guard CarrierMediaFormat.rates.contains(format.sampleRate.hertz) else {
            throw .invalidConfiguration("a carrier rate of \(format.sampleRate.hertz) Hz is outside \(CarrierMediaFormat.rates)")
        }
        self.format = format
        self.configuration = configuration
        bytesPerSample = format.bytesPerSample
        frameSamples = format.sampleRate.hertz * configuration.frameMs / 1000
        leadNs = Int64(configuration.leadMs) * 1_000_000
        ring = [UInt8](repeating: 0, count: format.sampleRate.hertz * configuration.capacityMs / 1000 * bytesPerSample)
        frame = [UInt8](repeating: 0, count: frameSamples * bytesPerSample)
        segments = [Segment](repeating: Segment(response: 0, begin: 0, end: nil, releasedSamples: 0, nextMark: 0), count: Self.maximumQueuedResponses + 1)
        starts = [ResponseStart](repeating: ResponseStart(response: 0, timeline: 0, samples: 0), count: 8)
    }

    // MARK: Input

    /// The response audio is appended to: the open one, or the one the next `append` opens.
    public var openResponse: Int {
        if segmentCount > 0, segments[segmentCount - 1].end == nil { return segments[segmentCount - 1].response }
        return nextResponse
    }

    /// The latest response opened (0 before the first).
    public var latestResponse: Int { nextResponse - 1 }

    /// Bytes queued and not yet released.
    public var queuedBytes: Int { appended - released }

    /// Bytes ``append(_:now:)`` takes now.
    public var freeBytes: Int { (ring.count - queuedBytes) / bytesPerSample * bytesPerSample }

    /// Appends audio (in the carrier's format) to the open response, opening one if none is.
    ///
    /// - Returns: the bytes taken: all of them unless the queue is full (whole samples only); the caller keeps
    ///   the rest and offers it again after frames are released. Nothing is ever dropped silently.
    /// - Throws: ``PacerError/tooManyResponses(_:)`` when a new response would exceed
    ///   ``maximumQueuedResponses``; nothing is taken then.
    @discardableResult
    public mutating func append(_ bytes: UnsafeBufferPointer<UInt8>, now: UInt64) throws(PacerError) -> Int {
        let t = tick(now)
        guard !bytes.isEmpty else { return 0 }
        settle(t)
        if segmentCount == 0 || segments[segmentCount - 1].end != nil {
            guard segmentCount < Self.maximumQueuedResponses else { throw .tooManyResponses(segmentCount) }
            segments[segmentCount] = Segment(response: nextResponse, begin: appended, end: nil, releasedSamples: 0,
                                             nextMark: configuration.markIntervalMs.map { format.sampleRate.hertz * $0 / 1000 } ?? .max)
            segmentCount += 1
            nextResponse += 1
        }
        let take = min(bytes.count, freeBytes)
        ring.withUnsafeMutableBufferPointer { r in
            Self.wrapping(r.count, from: appended, count: take) { at, done, n in
                (r.baseAddress! + at).update(from: bytes.baseAddress! + done, count: n)
            }
        }
        appended += take
        if !running, pendingSince == nil, take > 0 { pendingSince = t }
        noteAvailability(t)
        return take
    }

    private mutating func noteAvailability(_ t: Int64) {
        if waitingForAudio, nextFrameSamples() != nil {
            waitingForAudio = false
            availableAt = t
        }
    }

    /// Ends the open response: its partial last frame and its end mark follow the frames before them. Nothing
    /// happens when no response is open.
    public mutating func endResponse(now: UInt64) {
        let t = tick(now)
        guard segmentCount > 0, segments[segmentCount - 1].end == nil else { return }
        segments[segmentCount - 1].end = appended
        noteAvailability(t)
    }

    /// Barge-in: drops every queued byte of every response at once; the modelled carrier stops too (the gateway
    /// sends the carrier's `clear`). The next response starts a new run.
    ///
    /// - Returns: the response that was playing (or about to), with the samples of it released, or nil when
    ///   nothing was queued or playing.
    @discardableResult
    public mutating func clear(now: UInt64) -> (response: Int, releasedSamples: Int)? {
        let t = tick(now)
        let playing = startCount > 0 && running ? playhead(at: t).map { (response: $0.response, releasedSamples: $0.released) } : nil
        let first = segmentCount > 0 ? (response: segments[0].response, releasedSamples: segments[0].releasedSamples) : nil
        released = appended
        segmentCount = 0
        running = false
        starving = false
        startCount = 0
        waitingForAudio = false
        pendingSince = nil
        return playing ?? first
    }

    // MARK: Release

    /// When ``poll(now:_:)`` next has something to release (absolute, ns of the caller's clock), or nil when it
    /// waits for audio (the next ``append(_:now:)`` or ``endResponse(now:)`` may make a frame due at once: poll
    /// after them).
    public var nextDeadline: UInt64? {
        guard nextFrameSamples() != nil else { return nil }
        guard running else {
            if canStartRun(at: lastNow) { return UInt64(max(0, lastNow)) }
            return pendingSince.map { UInt64(max(0, $0 + leadNs)) }
        }
        return UInt64(max(0, deadline(of: timeline)))
    }

    /// A run starts with twice `lead` queued, `lead` after its first audio, at a response's end, or on a full
    /// queue.
    private func canStartRun(at t: Int64) -> Bool {
        let leadBytes = format.sampleRate.hertz * configuration.leadMs / 1000 * bytesPerSample
        if let since = pendingSince, t - since >= leadNs { return true }
        return queuedBytes >= 2 * leadBytes || segments[0].end != nil || queuedBytes >= ring.count - frame.count
    }

    /// Releases every frame (and mark) due at `now`, in order.
    public mutating func poll(now: UInt64, _ emit: (PacerOutput) -> Void) {
        let t = tick(now)
        while true {
            // Ended responses with nothing left: their end mark (sent after their last frame) and removal.
            if segmentCount > 0, let end = segments[0].end, released == end {
                let s = segments[0]
                removeFirstSegment()
                if s.releasedSamples > 0 || end > s.begin { emit(.mark(.pacer(response: s.response, sample: s.releasedSamples))) }
                continue
            }
            guard let n = nextFrameSamples() else {
                waitingForAudio = true
                settle(t)
                return
            }
            if !running {
                // The first `lead` of a run goes at once.
                guard canStartRun(at: t) else { return }
                running = true
                pendingSince = nil
                starving = false
                run += 1
                availableAt = t
                anchorTime = t
                anchorSample = timeline
            } else {
                starving = false
            }
            let due = deadline(of: timeline)
            guard due <= t else { return }
            // Lateness is the pacer's own: from the deadline, or from when the frame's audio came if later.
            release(n, lateness: t - max(due, availableAt), emit)
        }
    }

    /// Ends the run once the carrier's modelled buffer has run dry: normally when nothing is queued (the next
    /// audio starts a new run, with its lead), an underflow when a response was cut off mid-way (its source fell
    /// behind real time).
    private mutating func settle(_ t: Int64) {
        guard running, playheadSample(at: t) >= timeline else { return }
        running = false
        let drained = segmentCount == 1 && segments[0].end == released
        if segmentCount > 0, !drained, !starving {
            statistics.underflows += 1
            starving = true
        }
        pendingSince = queuedBytes > 0 ? t : nil
    }

    private mutating func release(_ n: Int, lateness: Int64, _ emit: (PacerOutput) -> Void) {
        let response = segments[0].response
        let sample = segments[0].releasedSamples
        if sample == 0 {
            noteStart(response)
            // A start mark: its echo says when the carrier began this response (it follows what played before).
            if configuration.markResponseStarts { emit(.mark(.pacer(response: response, sample: 0))) }
        }
        let bytes = n * bytesPerSample
        let padded = configuration.padPartialFrames && n < frameSamples ? frameSamples : n
        frame.withUnsafeMutableBufferPointer { f in
            ring.withUnsafeBufferPointer { r in
                Self.wrapping(r.count, from: released, count: bytes) { at, done, n in
                    (f.baseAddress! + done).update(from: r.baseAddress! + at, count: n)
                }
            }
            if padded > n { (f.baseAddress! + bytes).update(repeating: format.silenceByte, count: (padded - n) * bytesPerSample) }
            emit(.frame(UnsafeBufferPointer(rebasing: f[..<(padded * bytesPerSample)]), response: response, sample: sample))
        }
        released += bytes
        timeline += padded
        segments[0].releasedSamples += n
        starts[startCount - 1].samples = segments[0].releasedSamples
        statistics.frames += 1
        let late = UInt64(max(0, lateness))
        statistics.maximumLatenessNs = max(statistics.maximumLatenessNs, late)
        statistics.latenessBuckets[PacerStatistics.latenessBucket(forNs: late)] += 1
        // An interval mark at the frame boundary that reaches it (not at the response's end: its end mark follows).
        let total = segments[0].releasedSamples
        if total >= segments[0].nextMark, segments[0].end.map({ released < $0 }) ?? true {
            let interval = format.sampleRate.hertz * (configuration.markIntervalMs ?? 0) / 1000
            segments[0].nextMark = (total / interval + 1) * interval
            emit(.mark(.pacer(response: response, sample: total)))
        }
    }

    /// Splits `count` bytes from cumulative position `position` of a ring of `size` into its contiguous runs:
    /// `body(ring offset, bytes done so far, run length)`.
    @inline(__always)
    private static func wrapping(_ size: Int, from position: Int, count: Int, _ body: (Int, Int, Int) -> Void) {
        var at = position % size
        var done = 0
        while done < count {
            let n = min(count - done, size - at)
            body(at, done, n)
            done += n
            at = 0
        }
    }

    /// Samples of the next frame, or nil when none can go yet: a whole frame, or the partial rest of an ended
    /// response.
    private func nextFrameSamples() -> Int? {
        guard segmentCount > 0 else { return nil }
        let s = segments[0]
        let available = (s.end ?? appended) - released
        let samples = available / bytesPerSample
        if samples >= frameSamples { return frameSamples }
        if s.end != nil, samples > 0 { return samples }
        return nil
    }

    private mutating func removeFirstSegment() {
        for k in 1..<max(1, segmentCount) { segments[k - 1] = segments[k] }
        segmentCount -= 1
    }

    private mutating func noteStart(_ response: Int) {
        if startCount == starts.count {
            for k in 1..<starts.count { starts[k - 1] = starts[k] }
            startCount -= 1
        }
        starts[startCount] = ResponseStart(response: response, timeline: timeline, samples: 0)
        startCount += 1
    }

    private func deadline(of sample: Int) -> Int64 {
        anchorTime + Int64(sample - anchorSample) * 1_000_000_000 / Int64(format.sampleRate.hertz) - leadNs
    }

    private mutating func tick(_ now: UInt64) -> Int64 {
        var t = Int64(clamping: now)
        if t < lastNow { statistics.clockRegressions += 1; t = lastNow }
        lastNow = t
        return t
    }

    // MARK: The carrier's modelled playhead

    /// The carrier's modelled playhead on the timeline: it plays from the run's anchor at the format's rate, and
    /// stops at what was released.
    private func playheadSample(at t: Int64) -> Int {
        guard running || starving || startCount > 0 else { return timeline }
        let elapsed = max(0, t - anchorTime)
        return min(timeline, anchorSample + Int(elapsed * Int64(format.sampleRate.hertz) / 1_000_000_000))
    }

    private func playhead(at t: Int64) -> (response: Int, sample: Int, released: Int)? {
        guard startCount > 0 else { return nil }
        return locate(playheadSample(at: t))
    }

    private func locate(_ p: Int) -> (response: Int, sample: Int, released: Int)? {
        guard startCount > 0 else { return nil }
        var k = startCount - 1
        while k > 0 && starts[k].timeline > p { k -= 1 }
        let s = starts[k]
        return (s.response, min(max(0, p - s.timeline), s.samples), s.samples)
    }

    /// The carrier's playhead as the pacer models it (no acknowledgement): the response playing and the samples
    /// of it played, `latencyMs` (the carrier's delay from receiving a frame to playing it) taken off; nil when
    /// nothing has been released since the last clear.
    public func estimatedPosition(now: UInt64, latencyMs: Int = 0) -> (response: Int, sample: Int)? {
        let t = max(lastNow, Int64(clamping: now)) - Int64(latencyMs) * 1_000_000
        return playhead(at: t).map { ($0.response, $0.sample) }
    }

    /// The timeline sample (samples released since the pacer began, padding included) the carrier's playhead
    /// is at by the pacer's model, `latencyMs` behind; nil when nothing has been released since the last clear.
    public func estimatedTimeline(now: UInt64, latencyMs: Int = 0) -> Int? {
        guard startCount > 0 else { return nil }
        let t = max(lastNow, Int64(clamping: now)) - Int64(latencyMs) * 1_000_000
        return playheadSample(at: t)
    }

    /// Whether a run is in progress (frames are being released at the carrier's pace).
    public var isRunning: Bool { running }

    /// Samples released since the pacer began (padding included): the end of what the carrier can have played.
    public var releasedTimeline: Int { timeline }

    /// The timeline sample of `sample` of `response`, while the response is among the latest started.
    public func timeline(ofResponse response: Int, sample: Int) -> Int? {
        for k in 0..<startCount where starts[k].response == response { return starts[k].timeline + sample }
        return nil
    }

    /// The response, and the sample of it, at timeline sample `p` (clamped to what of it was released); nil when
    /// nothing has been released since the last clear.
    public func position(atTimeline p: Int) -> (response: Int, sample: Int)? {
        locate(p).map { ($0.response, $0.sample) }
    }

    /// Samples of `response` released so far, while it is queued or among the latest started; nil otherwise.
    public func releasedSamples(of response: Int) -> Int? {
        for k in 0..<segmentCount where segments[k].response == response { return segments[k].releasedSamples }
        for k in 0..<startCount where starts[k].response == response { return starts[k].samples }
        return nil
    }

    /// Whether the carrier is (by the pacer's model) still playing audio released to it, `latencyMs` of carrier
    /// delay added: the echo guard's signal.
    public func isPlaying(now: UInt64, latencyMs: Int = 0) -> Bool {
        guard startCount > 0 else { return false }
        if running && queuedBytes > 0 { return true }
        // The released audio plays out at the format's rate from the run's anchor, `latencyMs` later.
        let t = max(lastNow, Int64(clamping: now)) - Int64(max(0, latencyMs)) * 1_000_000
        let end = anchorTime + Int64(timeline - anchorSample) * 1_000_000_000 / Int64(format.sampleRate.hertz)
        return t < end
    }
}
