import RealtimeAudio

/// How a ``JitterBuffer`` waits for late frames.
public struct JitterBufferConfiguration: Sendable, Equatable {
    /// The frame length, in ms (10...60; Twilio and Telnyx send 20).
    public var frameMs: Int
    /// The adaptive depth's range, in ms: how long a missing frame is waited for beyond its expected arrival
    /// (20...200 by default).
    public var minimumDepthMs: Int
    /// The adaptive depth's upper end, in ms (see ``minimumDepthMs``).
    public var maximumDepthMs: Int
    /// A fixed depth instead of the adaptive one, in ms (nil: adaptive).
    public var fixedDepthMs: Int?
    /// The sequence numbers' modulus when they wrap (65536 for RTP's 16 bits); nil when they only grow (Twilio's
    /// and Telnyx's `chunk`).
    public var sequenceModulus: Int?
    /// The most frames reported lost, one by one, for one hole; a longer hole (a stream that jumped ahead, a
    /// long outage) is reported as one ``JitterOutput/gap(from:count:)`` after them.
    public var maximumLostFrames: Int
    /// The stream's first sequence number when it is known (Twilio's and Telnyx's `chunk` start at 1), so frames
    /// that overtake the first one are still placed; nil: the first frame received starts the stream.
    public var firstSequence: Int?

    /// The settings, checked when a ``JitterBuffer`` is built from them (see each property for its range).
    public init(frameMs: Int = 20, minimumDepthMs: Int = 20, maximumDepthMs: Int = 200, fixedDepthMs: Int? = nil,
                sequenceModulus: Int? = nil, maximumLostFrames: Int = 50, firstSequence: Int? = nil) {
        self.firstSequence = firstSequence
        self.frameMs = frameMs
        self.minimumDepthMs = minimumDepthMs
        self.maximumDepthMs = maximumDepthMs
        self.fixedDepthMs = fixedDepthMs
        self.sequenceModulus = sequenceModulus
        self.maximumLostFrames = maximumLostFrames
    }

    /// Checks every field.
    ///
    /// - Throws: ``PacerError/invalidConfiguration(_:)`` naming the field and its range.
    public func validate() throws(PacerError) {
        guard (10...60).contains(frameMs) else { throw .invalidConfiguration("jitter buffer frameMs \(frameMs) is outside 10...60") }
        guard (0...2000).contains(minimumDepthMs), (minimumDepthMs...2000).contains(maximumDepthMs) else {
            throw .invalidConfiguration("jitter buffer depth \(minimumDepthMs)...\(maximumDepthMs) ms is not a range within 0...2000")
        }
        if let fixed = fixedDepthMs, !(0...2000).contains(fixed) {
            throw .invalidConfiguration("jitter buffer fixedDepthMs \(fixed) is outside 0...2000")
        }
        if let m = sequenceModulus, !(256...(1 << 32)).contains(m) {
            throw .invalidConfiguration("jitter buffer sequenceModulus \(m) is outside 256...2^32")
        }
        guard (1...3000).contains(maximumLostFrames) else {
            throw .invalidConfiguration("jitter buffer maximumLostFrames \(maximumLostFrames) is outside 1...3000")
        }
    }
}

/// What a ``JitterBuffer`` hands on, in order: one continuous stream of frames, each received or lost.
public enum JitterOutput {
    /// Frame `index` as received (its bytes valid during the callback).
    case received(UnsafeBufferPointer<UInt8>, index: Int)
    /// Frame `index` did not come in time: conceal it (`InboundAudio` takes it as lost).
    case lost(index: Int)
    /// `count` frames from `from` on were skipped without being reported one by one (a hole longer than
    /// ``JitterBufferConfiguration/maximumLostFrames``): the stream resumes after them.
    case gap(from: Int, count: Int)
}

/// What became of a frame given to ``JitterBuffer/insert(_:sequence:now:)``.
public enum JitterInsertion: Sendable, Equatable {
    /// Queued (or handed on at the next poll).
    case accepted
    /// A frame already received: dropped.
    case duplicate
    /// A frame whose place was already handed on (reported lost, or before the stream's start): dropped.
    case late
    /// A frame whose size is not one frame of the format: dropped.
    case wrongSize(Int)
}

/// Counters of a jitter buffer.
public struct JitterStatistics: Sendable, Equatable {
    /// Frames taken in.
    public var received = 0
    /// Frames whose sequence number had already been taken (dropped).
    public var duplicates = 0
    /// Frames that came after their slot had been played or reported lost (dropped).
    public var late = 0
    /// Frames whose payload was not one frame's bytes (refused).
    public var wrongSize = 0
    /// Frames that arrived after a later one.
    public var reordered = 0
    /// Frames reported lost one by one, and skipped in gaps.
    public var lost = 0
    /// Frames inside a hole longer than ``JitterBufferConfiguration/maximumLostFrames``, reported as one gap.
    public var skipped = 0
}

/// Turns media frames that arrive out of order, twice or not at all (Telnyx over WebSocket; RTP behind
/// Asterisk) into one continuous stream, each frame received or lost, in order.
///
/// A frame is handed on as soon as every frame before it has been: in-order frames wait for nothing. A missing
/// frame is waited for until its expected arrival plus the **depth**, then reported lost and the frames after it
/// go on. The expected arrival is the frame's place on the stream's clock (frame `k` leaves the sender
/// `k · frame` after frame 0) plus the smallest transit of the last 10 s; the adaptive depth is the 99th
/// percentile of those transits above the smallest, plus half a frame (so it rises within a few frames of more
/// jitter and falls within 10 s once it calms), kept within the configured range. A frame that comes after its
/// place was handed on is dropped and counted late.
///
/// - Sequence numbers may wrap (``JitterBufferConfiguration/sequenceModulus``); a jump far ahead reports the
///   first ``JitterBufferConfiguration/maximumLostFrames`` frames lost and the rest as one gap; a jump back past
///   what was handed on is late. Memory is fixed at init whatever arrives; nothing is allocated per frame.
/// - Time is the caller's monotonic clock in ns.
///
/// One per stream, from one task at a time.
public struct JitterBuffer: Sendable {
    /// The settings it was built with.
    public let configuration: JitterBufferConfiguration
    /// The bytes of one frame.
    public let frameBytes: Int
    /// What it has seen so far.
    public private(set) var statistics = JitterStatistics()

    private let frameNs: Int64
    private let slots: Int
    private var storage: [UInt8]
    private var present: [Bool]
    /// The next frame to hand on (extended index), and the highest received; nil before the first frame.
    private var next: Int?
    private var highest = 0
    private var lastRaw = 0
    /// The stream's clock: frame `anchorIndex` would arrive at `anchorTime` with the smallest transit.
    private var anchorIndex = 0
    private var anchorTime: Int64 = 0
    /// Recent transits against the stream's clock (ms), a ring, and their histogram (1 ms buckets from
    /// `histogramOffset`): the depth and the smallest transit without sorting or allocating.
    private var transits: [Int64]
    private var transitCount = 0
    private var histogram: [Int]
    private var histogramOffset = -1000
    /// The smallest recent transit (ms): frames are expected then.
    private var baseMs = 0
    private var depthNs: Int64

    /// A jitter buffer for frames of `format` (its frame length from the configuration).
    ///
    /// - Throws: ``PacerError/invalidConfiguration(_:)`` for a setting out of its range.
    public init(format: CarrierMediaFormat, configuration: JitterBufferConfiguration = JitterBufferConfiguration()) throws(PacerError) {
        try configuration.validate()
        guard CarrierMediaFormat.rates.contains(format.sampleRate.hertz) else {
            throw .invalidConfiguration("a carrier rate of \(format.sampleRate.hertz) Hz is outside \(CarrierMediaFormat.rates)")
        }
        self.configuration = configuration
        frameBytes = format.sampleRate.hertz * configuration.frameMs / 1000 * format.bytesPerSample
        frameNs = Int64(configuration.frameMs) * 1_000_000
        // Room for the deepest wait plus a second of frames ahead of it.
        slots = (configuration.maximumDepthMs + (configuration.fixedDepthMs ?? 0) + 1000) / configuration.frameMs + 2
        storage = [UInt8](repeating: 0, count: slots * frameBytes)
        present = [Bool](repeating: false, count: slots)
        let window = 10_000 / configuration.frameMs
        transits = [Int64](repeating: 0, count: window)
        histogram = [Int](repeating: 0, count: 4000)
        depthNs = Int64(configuration.fixedDepthMs ?? configuration.minimumDepthMs) * 1_000_000
    }

    /// The depth in force, in ms.
    public var depthMs: Int { Int(depthNs / 1_000_000) }

    /// Unwraps a sequence number to the extended index nearest the last one.
    private func extend(_ raw: Int) -> Int {
        guard let m = configuration.sequenceModulus, next != nil else { return raw }
        let r = ((raw % m) + m) % m
        let base = lastRaw - ((lastRaw % m) + m) % m
        var candidate = base + r
        if candidate - lastRaw > m / 2 { candidate -= m } else if lastRaw - candidate > m / 2 { candidate += m }
        return candidate
    }

    /// Takes a frame with its sequence number (Twilio's or Telnyx's `chunk`, an RTP sequence number) as it arrives.
    @discardableResult
    public mutating func insert(_ payload: UnsafeBufferPointer<UInt8>, sequence: Int, now: UInt64) -> JitterInsertion {
        guard payload.count == frameBytes else {
            statistics.wrongSize += 1
            return .wrongSize(payload.count)
        }
        let t = Int64(clamping: now)
        let index = extend(sequence)
        if next == nil {
            next = configuration.firstSequence.map { min($0, index) } ?? index
            highest = index
            anchorIndex = index
            anchorTime = t
        }
        guard index >= next! else {
            statistics.late += 1
            return .late
        }
        lastRaw = index
        // Far ahead of the window: the frames between can no longer be waited for.
        if index - next! >= slots { skip(to: index) }
        let slot = index % slots
        if present[slot] {
            statistics.duplicates += 1
            return .duplicate
        }
        present[slot] = true
        storage.withUnsafeMutableBufferPointer { s in
            (s.baseAddress! + slot * frameBytes).update(from: payload.baseAddress!, count: frameBytes)
        }
        statistics.received += 1
        if index < highest { statistics.reordered += 1 }
        highest = max(highest, index)
        noteTransit(index: index, time: t)
        return .accepted
    }

    /// Moves the next frame to `index` (a jump past the whole buffer): what was queued before it is handed on
    /// at the next poll, then the frames between as lost (the first ``JitterBufferConfiguration/maximumLostFrames``)
    /// and one gap.
    private var pendingGap: (from: Int, count: Int)?
    private var queuedBeforeGap = 0
    private mutating func skip(to index: Int) {
        guard let n = next, index > n else { return }
        // Frames queued behind a hole go first; the hole and everything up to `index` become the gap.
        var k = n
        var firstMissing = n
        while k <= highest, k < index, present[k % slots] { k += 1 }
        firstMissing = k
        queuedBeforeGap = firstMissing - n
        for j in firstMissing..<min(index, firstMissing + slots) { present[j % slots] = false }
        pendingGap = (firstMissing, index - firstMissing)
        highest = max(highest, index)
    }

    private mutating func noteTransit(index: Int, time t: Int64) {
        // Transit against the stream's clock (frame k leaves k frames after the first), in whole ms.
        let transit = Int((t - anchorTime) / 1_000_000) - (index - anchorIndex) * configuration.frameMs
        var bucket = transit - histogramOffset
        if bucket < 0 || bucket >= histogram.count {
            // Out of the histogram's span (the path's delay moved by seconds): centre it on this transit.
            histogramOffset = transit - histogram.count / 2
            rebuildHistogram()
            bucket = transit - histogramOffset
        }
        let window = transits.count
        if transitCount >= window {
            let old = Int(transits[transitCount % window]) - histogramOffset
            if old >= 0 && old < histogram.count { histogram[old] -= 1 }
        }
        transits[transitCount % window] = Int64(transit)
        transitCount += 1
        histogram[bucket] += 1
        guard configuration.fixedDepthMs == nil else { return updateBase() }
        // The 99th percentile of the window above its smallest transit.
        let n = min(transitCount, window)
        var seen = 0, low = -1, p99 = 0
        for k in 0..<histogram.count where histogram[k] > 0 {
            if low < 0 { low = k }
            seen += histogram[k]
            if seen * 1000 >= n * 995 { p99 = k; break }
        }
        baseMs = low + histogramOffset
        // More jitter shows in the last second's largest transit before it reaches the 99th percentile of ten.
        var recent = Int64.min
        for j in 1...min(n, 1000 / configuration.frameMs) { recent = max(recent, transits[(transitCount - j) % window]) }
        let spread = max(p99 + histogramOffset, Int(recent)) - baseMs
        let depthMs = min(max(spread + configuration.frameMs, configuration.minimumDepthMs), configuration.maximumDepthMs)
        depthNs = Int64(depthMs) * 1_000_000
    }

    private mutating func updateBase() {
        for k in 0..<histogram.count where histogram[k] > 0 { baseMs = k + histogramOffset; return }
    }

    private mutating func rebuildHistogram() {
        for k in 0..<histogram.count { histogram[k] = 0 }
        for k in 0..<min(transitCount, transits.count) {
            let b = Int(transits[k]) - histogramOffset
            if b >= 0 && b < histogram.count { histogram[b] += 1 }
        }
    }

    /// When frame `n` is expected with the smallest recent transit.
    private func expected(_ n: Int) -> Int64 {
        anchorTime + Int64(n - anchorIndex) * frameNs + Int64(baseMs) * 1_000_000
    }

    /// When a missing frame's wait ends (absolute ns), nil when nothing waits.
    public var nextDeadline: UInt64? {
        guard let n = next, highest >= n, !present[n % slots] else { return nil }
        return UInt64(max(0, expected(n) + depthNs))
    }

    /// Hands on every frame that can go at `now`: received ones in order, missing ones whose wait is over as lost.
    public mutating func poll(now: UInt64, _ emit: (JitterOutput) -> Void) {
        let t = Int64(clamping: now)
        guard var n = next else { return }
        if let gap = pendingGap {
            pendingGap = nil
            for _ in 0..<queuedBeforeGap { emitReceived(n, emit); n += 1 }
            let reported = min(gap.count, configuration.maximumLostFrames)
            for k in 0..<reported { emit(.lost(index: gap.from + k)) }
            statistics.lost += reported
            statistics.skipped += gap.count - reported
            if gap.count > reported { emit(.gap(from: gap.from + reported, count: gap.count - reported)) }
            n = gap.from + gap.count
            next = n
            lostRun = 0
        }
        while n <= highest {
            if present[n % slots] {
                emitReceived(n, emit)
                lostRun = 0
            } else {
                let due = expected(n) + depthNs
                guard t >= due else { break }
                if lostRun >= configuration.maximumLostFrames {
                    // A long hole: once the wait for all of it is over, the rest goes as one gap.
                    var m = n
                    while m <= highest, !present[m % slots] { m += 1 }
                    guard t >= expected(m - 1) + depthNs else { break }
                    emit(.gap(from: n, count: m - n))
                    statistics.skipped += m - n
                    n = m
                    next = n
                    continue
                }
                statistics.lost += 1
                lostRun += 1
                emit(.lost(index: n))
            }
            n += 1
            next = n
        }
    }

    private var lostRun = 0

    private mutating func emitReceived(_ n: Int, _ emit: (JitterOutput) -> Void) {
        let slot = n % slots
        present[slot] = false
        storage.withUnsafeBufferPointer { s in
            emit(.received(UnsafeBufferPointer(rebasing: s[(slot * frameBytes)..<((slot + 1) * frameBytes)]), index: n))
        }
    }

    /// Ends the stream: hands on what is queued, the frames still missing before the last received as lost.
    public mutating func finish(_ emit: (JitterOutput) -> Void) {
        poll(now: .max, emit)
    }
}
