import Testing
import TestSupport
import RealtimeAudio
@testable import RealtimeCarrier

/// The `audio_end_ms` a barge-in gets, against what the caller really heard, in simulated calls: a 4 s reply
/// burst by the model, a network of 20 ms + 0-80 ms jitter each way (the gateway knows the fixed 20 ms, e.g.
/// from WebSocket pings: `returnDelayMs`), the caller barging in at a random moment of the playout.
@Suite("Truncation at the played position")
struct TruncationTests {
    struct Outcome {
        var errors: [Int] = []
        var maximum: Int { errors.map(abs).max() ?? 0 }
        func quantile(_ q: Double) -> Int {
            let s = errors.map(abs).sorted()
            return s.isEmpty ? 0 : s[min(s.count - 1, Int(Double(s.count) * q))]
        }
    }

    /// Runs `calls` calls, barging in `from`...`to` ms after the reply's first frame left; returns the errors of
    /// `audio_end_ms` (ms of the model's audio).
    static func measure(speed: Double, acknowledged: Bool, calls: Int, from: Int64, to: Int64?, markIntervalMs: Int = 20,
                        jitterMs: Int = 80) throws -> Outcome {
        var outcome = Outcome()
        let reply = modelSpeech(seconds: 4)
        let modelSamples = reply.count / 2
        let playoutMs = Int64(Double(4000) / speed)
        for seed in 0..<UInt64(calls) {
            let leg = try OutboundLeg(format: .muLaw8k, speed: speed, acknowledged: acknowledged,
                                      latencyMs: acknowledged ? 20 : 60, returnDelayMs: 20,
                                      pacer: PacerConfiguration(markIntervalMs: markIntervalMs))
            var sim = CallSimulation(leg: leg, jitterMs: jitterMs, seed: seed + 100)
            try sim.deliver(reply, pacing: .burst(chunkMs: 100, gapMs: 4), from: 200 * ms)
            let first = sim.framesSent.first!.time
            var rng = SplitMix64(seed: seed &* 977)
            let latest = to ?? (playoutMs - 50)
            let at = first + (from + Int64(rng.next() % UInt64(latest - from))) * ms
            sim.run(until: at)
            let cut = sim.leg.interrupt(now: UInt64(sim.now))
            let interruption = try #require(cut)
            let heard = sim.carrier.played(1, at: sim.now)
            let truth = OutboundAudio.audioEndMs(playedSamples: heard, clientRate: .hz8000, speed: speed, modelSamples: modelSamples)
            outcome.errors.append(interruption.audioEndMs - truth)
        }
        return outcome
    }

    /// Marks every frame (as Twilio's own samples send them), 0-40 ms of jitter each way: within one frame.
    @Test(arguments: [0.5, 1.0, 1.25, 1.5])
    func acknowledgedLegsTruncateWithinOneFrame(speed: Double) throws {
        let outcome = try Self.measure(speed: speed, acknowledged: true, calls: 40, from: 150, to: nil, jitterMs: 40)
        #expect(outcome.maximum <= 20, "speed \(speed): errors \(outcome.errors)")
        print("truncation, acknowledged, jitter 0-40 ms, speed \(speed): |error| p50 \(outcome.quantile(0.5)) ms, p90 \(outcome.quantile(0.9)) ms, max \(outcome.maximum) ms")
    }

    /// 0-80 ms of jitter each way: the error is the fastest echo's jitter so far, so a barge-in early in a reply
    /// can miss by more than a frame; reported, and bounded.
    @Test(arguments: [0.5, 1.0, 1.25, 1.5])
    func acknowledgedLegsUnderHeavyJitter(speed: Double) throws {
        let outcome = try Self.measure(speed: speed, acknowledged: true, calls: 40, from: 150, to: nil)
        print("truncation, acknowledged, jitter 0-80 ms, speed \(speed): |error| p50 \(outcome.quantile(0.5)) ms, p90 \(outcome.quantile(0.9)) ms, max \(outcome.maximum) ms")
        #expect(outcome.quantile(0.9) <= 30 && outcome.maximum <= Int(30 * speed))
        let sparse = try Self.measure(speed: speed, acknowledged: true, calls: 40, from: 150, to: nil, markIntervalMs: 100)
        print("truncation, acknowledged, jitter 0-80 ms, marks every 100 ms, speed \(speed): |error| p50 \(sparse.quantile(0.5)) ms, p90 \(sparse.quantile(0.9)) ms, max \(sparse.maximum) ms")
    }

    /// Unacknowledged legs (AudioSocket) place the playhead from the pacer's releases and the carrier's assumed
    /// latency (here the path's mean delay, 60 ms): the error is the jitter of the first frame's delay.
    @Test(arguments: [1.0, 1.5])
    func estimatedLegsReportTheirError(speed: Double) throws {
        let outcome = try Self.measure(speed: speed, acknowledged: false, calls: 40, from: 150, to: nil)
        print("truncation, estimated, speed \(speed): |error| p50 \(outcome.quantile(0.5)) ms, p90 \(outcome.quantile(0.9)) ms, max \(outcome.maximum) ms")
        // Bounded by half the jitter range (the assumed latency is the mean), at the speed's scale.
        #expect(outcome.maximum <= Int(45 * speed) + 5)
    }

    /// A barge-in in the first 150 ms of a reply, before the run's echoes have pinned the clock: reported.
    @Test func earlyBargeIn() throws {
        let outcome = try Self.measure(speed: 1, acknowledged: true, calls: 40, from: 0, to: 150)
        print("truncation, acknowledged, first 150 ms: |error| p50 \(outcome.quantile(0.5)) ms, p90 \(outcome.quantile(0.9)) ms, max \(outcome.maximum) ms")
        #expect(outcome.maximum <= 80)
    }

    /// Marks of a cleared reply are stale; the next reply's clock is not moved by them.
    @Test func staleMarksDoNotMoveTheNextReply() throws {
        var clock = PlaybackClock(sampleRate: .hz8000)
        clock.sent(response: 1, sample: 0, timeline: 0, run: 1, now: 0)
        clock.sent(response: 1, sample: 800, timeline: 800, run: 1, now: 0)
        #expect(clock.acknowledge(.pacer(response: 1, sample: 0), now: 50 * UInt64(ms)) == .played(response: 1, sample: 0))
        clock.cleared(through: 1)
        clock.sent(response: 2, sample: 0, timeline: 2000, run: 2, now: 500 * UInt64(ms))
        #expect(clock.acknowledge(.pacer(response: 1, sample: 800), now: 510 * UInt64(ms)) == .stale(response: 1, sample: 800))
        #expect(clock.timeline(run: 2, releasedTimeline: 4000, now: 520 * UInt64(ms)) == nil)
        #expect(clock.acknowledge(.pacer(response: 2, sample: 0), now: 550 * UInt64(ms)) == .played(response: 2, sample: 0))
        #expect(clock.timeline(run: 2, releasedTimeline: 4000, now: 650 * UInt64(ms)) == 2800)
        #expect(clock.acknowledge(.named("someone else's"), now: 0) == .unknown)
        #expect(clock.acknowledge(.pacer(response: 7, sample: 3), now: 0) == .unknown)
    }

    /// A carrier that never echoes: the leg falls back on the pacer's estimate once the marks are overdue.
    @Test func marksNeverAcknowledged() throws {
        var leg = try OutboundLeg(format: .muLaw8k, acknowledged: true, latencyMs: 40, maximumChunkBytes: 144_000)
        let reply = modelSpeech(seconds: 3)
        try reply.withUnsafeBufferPointer { try leg.appendModelAudio($0, now: 0) }
        try leg.finishResponse(now: 0)
        var t: Int64 = 0
        while t < 2500 * ms {
            leg.poll(now: UInt64(t)) { _ in }
            t += 20 * ms
        }
        let position = try #require(leg.playedPosition(now: UInt64(t)))
        // No echo ever: after the timeout the estimate (t - 40 ms, from the first release at 0) stands.
        #expect(abs(position.samples - Int((t - 40 * ms) / 125_000)) <= 8)
    }
}
