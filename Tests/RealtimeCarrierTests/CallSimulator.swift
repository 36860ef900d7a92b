import RealtimeAudio
import RealtimeCarrier
import TestSupport

/// One direction of a WebSocket: ordered delivery, each write delayed by a fixed base plus a random jitter
/// (messages written at the same instant, one event-loop turn, travel in the same segments and share a delay).
struct SimulatedPath {
    var baseNs: Int64
    var jitterNs: Int64
    var rng: SplitMix64
    private var last: Int64 = 0
    private var lastSent: Int64 = -1
    private var lastDelay: Int64 = 0

    init(baseMs: Int, jitterMs: Int, seed: UInt64) {
        baseNs = Int64(baseMs) * 1_000_000
        jitterNs = Int64(jitterMs) * 1_000_000
        rng = SplitMix64(seed: seed)
    }

    /// When a message sent at `t` arrives (never before one sent earlier: TCP keeps order).
    mutating func arrival(sentAt t: Int64) -> Int64 {
        if t != lastSent {
            lastSent = t
            lastDelay = baseNs + (jitterNs > 0 ? Int64(rng.next() % UInt64(jitterNs + 1)) : 0)
        }
        last = max(last, t + lastDelay)
        return last
    }
}

/// A carrier as Twilio behaves: it plays what arrives at exactly its rate, starting a frame the moment it arrives
/// when its buffer is empty; it echoes a mark once the audio sent before it has played; on `clear` it drops what
/// it has not played and echoes its pending marks at once.
struct SimulatedCarrier {
    struct Frame {
        var response: Int
        var sample: Int
        var bytes: [UInt8]
        var start: Int64
        var cutoff: Int64 = .max
    }

    let rate: Int64
    let bytesPerSample: Int
    private(set) var frames: [Frame] = []
    /// Gaps inside a response: a frame that arrived after the carrier had played everything before it.
    private(set) var underflows = 0
    private(set) var gaps: [String] = []
    /// Echoes, with the time the carrier sends them.
    private(set) var echoes: [(time: Int64, mark: CarrierMark)] = []
    private var cursor: Int64 = 0

    init(format: CarrierMediaFormat) {
        rate = Int64(format.sampleRate.hertz)
        bytesPerSample = format.bytesPerSample
    }

    private func duration(_ samples: Int) -> Int64 { Int64(samples) * 1_000_000_000 / rate }

    mutating func receiveFrame(at a: Int64, response: Int, sample: Int, bytes: [UInt8]) {
        if sample > 0, a > cursor {
            underflows += 1
            gaps.append("reply \(response) sample \(sample): arrived \(Double(a) / 1e6) ms, carrier dry since \(Double(cursor) / 1e6) ms")
        }
        let start = max(cursor, a)
        frames.append(Frame(response: response, sample: sample, bytes: bytes, start: start))
        cursor = start + duration(bytes.count / bytesPerSample)
    }

    mutating func receiveMark(at a: Int64, _ mark: CarrierMark) {
        echoes.append((max(a, cursor), mark))
    }

    mutating func receiveClear(at a: Int64) {
        for k in frames.indices where frames[k].start + duration(frames[k].bytes.count / bytesPerSample) > a {
            frames[k].cutoff = a
        }
        for k in echoes.indices where echoes[k].time > a { echoes[k].time = a }
        cursor = min(cursor, a)
    }

    /// Samples of `response` the caller has heard by `t`.
    func played(_ response: Int, at t: Int64) -> Int {
        var n = 0
        for f in frames where f.response == response {
            let until = min(t, f.cutoff)
            guard until > f.start else { continue }
            n += min(f.bytes.count / bytesPerSample, Int((until - f.start) * rate / 1_000_000_000))
        }
        return n
    }

    /// The bytes of `response` the carrier received, in order.
    func audio(of response: Int) -> [UInt8] { frames.filter { $0.response == response }.flatMap(\.bytes) }
}

/// The model's side: its audio for a response and when each chunk reaches the gateway.
enum SourcePacing {
    /// The whole reply in `chunkMs` chunks `gapMs` apart (the Realtime API bursts seconds in a few hundred ms).
    case burst(chunkMs: Int, gapMs: Double)
    /// `chunkMs` chunks at real time.
    case realTime(chunkMs: Int)

    func schedule(bytes: Int, from t0: Int64) -> [(time: Int64, range: Range<Int>)] {
        let (chunkMs, gapNs): (Int, Int64) = switch self {
        case .burst(let c, let g): (c, Int64(g * 1_000_000))
        case .realTime(let c): (c, Int64(c) * 1_000_000)
        }
        let chunk = 48 * chunkMs
        return stride(from: 0, to: bytes, by: chunk).enumerated().map { k, at in
            (t0 + Int64(k) * gapNs, at..<min(bytes, at + chunk))
        }
    }
}

/// Model audio: 24 kHz pcm16 speech-like bytes.
func modelSpeech(seconds: Double, seed: UInt64 = 1) -> [UInt8] {
    let x = speechLike(seconds: seconds, rate: 24000, level: -12, seed: seed)
    return x.flatMap { v -> [UInt8] in
        let s = Int16(max(-32768, min(32767, (v * 32768).rounded())))
        return [UInt8(truncatingIfNeeded: s), UInt8(truncatingIfNeeded: s >> 8)]
    }
}

/// Drives an ``OutboundLeg`` against a ``SimulatedCarrier`` in simulated time: the model's chunks arrive on
/// schedule, a timer polls at each deadline (late by up to `timerJitterMs`, and by `stallMs` every `stallEvery`
/// polls), frames and marks cross the forward path, echoes come back on the return path.
struct CallSimulation {
    var leg: OutboundLeg
    var carrier: SimulatedCarrier
    var forward: SimulatedPath
    var back: SimulatedPath
    var rng: SplitMix64
    var timerJitterNs: Int64
    var stallNs: Int64 = 0
    var stallEvery = 0
    var now: Int64 = 0
    var polls = 0
    /// Echoes on their way back: arrival time and mark, in order.
    var inbound: [(time: Int64, mark: CarrierMark)] = []
    private var echoesForwarded = 0
    private var timerDeadline: UInt64?
    private var timerFires: Int64 = 0
    var acknowledgements: [MarkAcknowledgement] = []
    /// Frames sent after each interruption, by response: must stay empty for interrupted responses.
    var framesSent: [(time: Int64, response: Int)] = []

    init(leg: OutboundLeg, pathBaseMs: Int = 20, jitterMs: Int = 80, timerJitterMs: Double = 1, seed: UInt64 = 1) {
        self.leg = leg
        carrier = SimulatedCarrier(format: leg.format)
        forward = SimulatedPath(baseMs: pathBaseMs, jitterMs: jitterMs, seed: seed &* 3)
        back = SimulatedPath(baseMs: pathBaseMs, jitterMs: jitterMs, seed: seed &* 5)
        rng = SplitMix64(seed: seed &* 7)
        timerJitterNs = Int64(timerJitterMs * 1_000_000)
    }

    private mutating func timerLateness() -> Int64 {
        polls += 1
        var late = timerJitterNs > 0 ? Int64(rng.next() % UInt64(timerJitterNs + 1)) : 0
        if stallEvery > 0, polls % stallEvery == 0 { late += stallNs }
        return late
    }

    /// Polls the leg at `now` and sends what it releases.
    mutating func poll() {
        var out: [(frame: [UInt8]?, response: Int, sample: Int, mark: CarrierMark?)] = []
        leg.poll(now: UInt64(now)) { o in
            switch o {
            case .frame(let bytes, let response, let sample): out.append((Array(bytes), response, sample, nil))
            case .mark(let mark): out.append((nil, 0, 0, mark))
            }
        }
        for o in out {
            let a = forward.arrival(sentAt: now)
            if let bytes = o.frame {
                carrier.receiveFrame(at: a, response: o.response, sample: o.sample, bytes: bytes)
                framesSent.append((now, o.response))
            } else if let mark = o.mark {
                carrier.receiveMark(at: a, mark)
            }
        }
    }

    /// Sends the carrier a `clear` now (it echoes its pending marks when the clear arrives).
    mutating func sendClear() {
        carrier.receiveClear(at: forward.arrival(sentAt: now))
    }

    /// Advances to `until`, delivering echoes and firing the timer on the way.
    mutating func run(until: Int64) {
        while true {
            let echo = inbound.first?.time
            // The carrier sends an echo when it gets there (a later clear may still move it earlier).
            let sent = echoesForwarded < carrier.echoes.count ? carrier.echoes[echoesForwarded].time : nil
            var timer: Int64?
            if let d = leg.nextDeadline {
                // One timer per deadline, firing a little late.
                if timerDeadline != d { timerDeadline = d; timerFires = max(Int64(d), now) + timerLateness() }
                timer = max(timerFires, now)
            }
            let next = [echo, sent, timer].compactMap { $0 }.min()
            guard let next, next <= until else { now = max(now, until); return }
            now = max(now, next)
            if let sent, sent <= now {
                inbound.append((back.arrival(sentAt: sent), carrier.echoes[echoesForwarded].mark))
                echoesForwarded += 1
                continue
            }
            if let e = inbound.first, e.time <= now {
                inbound.removeFirst()
                acknowledgements.append(leg.acknowledge(e.mark, now: UInt64(now)))
                continue
            }
            poll()
        }
    }

    /// Plays one response from the model: its chunks on `pacing`'s schedule from `start`, then its end.
    mutating func deliver(_ audio: [UInt8], pacing: SourcePacing, from start: Int64) throws {
        for (time, range) in pacing.schedule(bytes: audio.count, from: start) {
            run(until: time)
            try audio[range].withUnsafeBufferPointer { try leg.appendModelAudio($0, now: UInt64(now)) }
            poll()
        }
        try leg.finishResponse(now: UInt64(now))
        poll()
    }
}
