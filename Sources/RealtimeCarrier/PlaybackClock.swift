import RealtimeAudio

/// What an echoed mark meant to the ``PlaybackClock``.
public enum MarkAcknowledgement: Sendable, Equatable {
    /// The carrier has played response `response` up to `sample`.
    case played(response: Int, sample: Int)
    /// A mark of a response already cleared (carriers echo their pending marks on `clear`): ignored.
    case stale(response: Int, sample: Int)
    /// A mark the clock did not send (another name, or one it no longer tracks): ignored.
    case unknown
}

/// Where the carrier's playhead is, from its acknowledgements: the samples **played**, not queued.
///
/// The pacer's marks go out with the audio (one before each response's first frame, one at its end, and one
/// every ``PacerConfiguration/markIntervalMs``); Twilio and Telnyx echo a mark once the audio before it has
/// played. Within one of the pacer's runs the carrier plays at the format's rate without a break, so every echo
/// says the same thing about one number, the time the run's playout began: the echo of the mark at timeline
/// sample `x`, received at `t`, says it began at `t - x / rate - d`, where `d` is that echo's return delay. The
/// clock keeps the earliest such time over the run's echoes (the echo that came back fastest; jitter only ever
/// delays an echo), less ``returnDelayMs`` (the return path's fixed part, which echoes alone cannot tell: a
/// gateway measures it as half the minimum WebSocket ping round trip, or leaves it 0).
///
/// The playhead is then that origin plus the time elapsed: never behind the last echoed mark, and never more than
/// ``markSlackMs`` past the next mark still in flight (a carrier that stalls stops echoing). Echoes of cleared
/// responses are ignored: a stale mark never moves the clock of the response in progress.
///
/// Memory is fixed at init; nothing is allocated per call. One per call.
public struct PlaybackClock: Sendable {
    /// The carrier's sample rate.
    public let sampleRate: SampleRate
    /// The return path's fixed delay, in ms (taken off every echo).
    public var returnDelayMs: Int
    /// How far past the next unechoed mark the playhead may be placed, in ms (an echo in flight).
    public static let markSlackMs = 200

    private var pending: [Pending]
    private var pendingCount = 0
    /// Responses up to this one are cleared: their echoes are stale.
    private var clearedThrough = 0
    /// The run whose echoes the origin pools, its origin (ns at which its timeline sample 0 would have played),
    /// and the latest echoed mark in it.
    private var originRun = 0
    private var origin: Int64 = .max
    private var last: (response: Int, sample: Int, timeline: Int)?

    private struct Pending {
        var response: Int
        var sample: Int
        var timeline: Int
        var run: Int
        var time: Int64
    }

    /// A clock for one call's outbound audio.
    ///
    /// - Parameters:
    ///   - sampleRate: the carrier's rate: positions are counted in its samples.
    ///   - returnDelayMs: the echo path's fixed delay (0...2000 ms).
    ///   - capacity: marks in flight tracked at once (the oldest is forgotten beyond it; its echo is then
    ///     ``MarkAcknowledgement/unknown``, and the later ones still place the clock).
    public init(sampleRate: SampleRate, returnDelayMs: Int = 0, capacity: Int = 256) {
        self.sampleRate = sampleRate
        self.returnDelayMs = min(max(0, returnDelayMs), 2000)
        pending = [Pending](repeating: Pending(response: 0, sample: 0, timeline: 0, run: 0, time: 0), count: max(4, capacity))
    }

    /// Records a pacer mark sent to the carrier at `now`: `sample` of `response`, at `timeline` of the pacer's
    /// `run` (``Pacer/timeline(ofResponse:sample:)``, ``Pacer/run``).
    public mutating func sent(response: Int, sample: Int, timeline: Int, run: Int, now: UInt64) {
        if pendingCount == pending.count {
            for k in 1..<pending.count { pending[k - 1] = pending[k] }
            pendingCount -= 1
        }
        pending[pendingCount] = Pending(response: response, sample: sample, timeline: timeline, run: run, time: Int64(clamping: now))
        pendingCount += 1
    }

    /// Takes a mark the carrier echoed at `now` (ns, the caller's monotonic clock).
    public mutating func acknowledge(_ mark: CarrierMark, now: UInt64) -> MarkAcknowledgement {
        guard case .pacer(let response, let sample) = mark else { return .unknown }
        if response <= clearedThrough { return .stale(response: response, sample: sample) }
        var found = -1
        for k in 0..<pendingCount where pending[k].response == response && pending[k].sample == sample { found = k; break }
        guard found >= 0 else { return .unknown }
        let p = pending[found]
        // The carrier plays in order: every mark before this one has played too.
        for j in (found + 1)..<max(found + 1, pendingCount) { pending[j - found - 1] = pending[j] }
        pendingCount -= found + 1
        let t = Int64(clamping: now)
        let began = t - Int64(p.timeline) * 1_000_000_000 / Int64(sampleRate.hertz) - Int64(returnDelayMs) * 1_000_000
        if p.run != originRun { originRun = p.run; origin = began } else { origin = min(origin, began) }
        last = (response, sample, p.timeline)
        return .played(response: response, sample: sample)
    }

    /// The call was cleared (barge-in): echoes of responses up to `response` are stale from now on.
    public mutating func cleared(through response: Int) {
        clearedThrough = max(clearedThrough, response)
        var kept = 0
        for k in 0..<pendingCount where pending[k].response > response {
            pending[kept] = pending[k]
            kept += 1
        }
        pendingCount = kept
        last = nil
        originRun = 0
        origin = .max
    }

    /// The carrier's playhead on the pacer's timeline at `now`, from the echoes of `run`; nil when none of its
    /// marks has come back (the caller falls back on the pacer's estimate). Never past `releasedTimeline`.
    public func timeline(run: Int, releasedTimeline: Int, now: UInt64) -> Int? {
        guard run == originRun, let l = last, origin != .max else { return nil }
        let elapsed = max(0, Int64(clamping: now) - origin)
        var p = Int(elapsed * Int64(sampleRate.hertz) / 1_000_000_000)
        for k in 0..<pendingCount where pending[k].run == run && pending[k].timeline > l.timeline {
            p = min(p, pending[k].timeline + sampleRate.hertz * Self.markSlackMs / 1000)
            break
        }
        return min(max(p, l.timeline), max(l.timeline, releasedTimeline))
    }

    /// Whether a mark has waited more than `timeoutMs` for its echo (a carrier that stopped echoing, or lost
    /// one).
    public func isOverdue(now: UInt64, timeoutMs: Int) -> Bool {
        guard pendingCount > 0 else { return false }
        return Int64(clamping: now) - pending[0].time > Int64(timeoutMs) * 1_000_000
    }

    /// The latest echoed mark since the last clear.
    public var lastAcknowledged: (response: Int, sample: Int)? { last.map { ($0.response, $0.sample) } }

    /// Marks sent and not yet echoed.
    public var marksInFlight: Int { pendingCount }
}
