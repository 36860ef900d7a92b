import Testing
import TestSupport
import RealtimeAudio
@testable import RealtimeCarrier

let ms: Int64 = 1_000_000

/// What the pipeline makes of a whole response at once: the bytes the carrier must play, bit for bit.
func referenceOutput(_ audio: [UInt8], format: CarrierMediaFormat, speed: Double) throws -> [UInt8] {
    var pipeline = try OutboundAudio(format: format.audioFormat, clientRate: format.sampleRate, speed: speed, maximumChunkBytes: audio.count)
    var out = [UInt8](repeating: 0, count: pipeline.maximumOutputBytes)
    var result: [UInt8] = []
    let n = try audio.withUnsafeBufferPointer { a in try out.withUnsafeMutableBufferPointer { try pipeline.append(a, into: $0) } }
    result += out[..<n]
    let m = try out.withUnsafeMutableBufferPointer { try pipeline.finish(into: $0) }
    result += out[..<m]
    return result
}

@Suite("Pacer and outbound leg, in simulated time")
struct PacerTests {
    static let pacings: [(String, SourcePacing)] = [
        ("burst 100 ms chunks every 4 ms", .burst(chunkMs: 100, gapMs: 4)),
        ("burst 20 ms chunks every 1 ms", .burst(chunkMs: 20, gapMs: 1)),
        ("real-time 100 ms packets", .realTime(chunkMs: 100)),
        ("real-time 20 ms packets", .realTime(chunkMs: 20)),
    ]

    /// Three replies with the caller's turns between them, behind a network of 20 ms + 0-80 ms jitter each way,
    /// a timer up to 1 ms late: the carrier never starves while the source keeps ahead of real time, the pacer is
    /// never more than 2 ms late (p99), and the carrier receives exactly what the pipeline makes, partial frames
    /// included.
    @Test(arguments: 0..<4, [1.0, 1.5, 0.5])
    func noUnderflowAndBitExact(pacing: Int, speed: Double) throws {
        let (name, source) = Self.pacings[pacing]
        let leg = try OutboundLeg(format: .muLaw8k, speed: speed, acknowledged: true, returnDelayMs: 20,
                                  pacer: PacerConfiguration(markIntervalMs: 100))
        var sim = CallSimulation(leg: leg, seed: UInt64(pacing) * 10 + UInt64(speed * 4))
        var replies: [[UInt8]] = []
        var start: Int64 = 500 * ms
        for k in 0..<3 {
            let reply = modelSpeech(seconds: [2.37, 1.013, 3.5][k], seed: UInt64(k + 1))
            replies.append(reply)
            try sim.deliver(reply, pacing: source, from: start)
            // The caller's turn: the reply plays out, then 1.5 s.
            start = sim.now + Int64(Double(reply.count / 2) / 24 / speed) * ms + 1500 * ms
        }
        sim.run(until: start)
        let stats = sim.leg.pacer.statistics
        if case .realTime = source, speed > 1 {
            // A source paced at the model's real time cannot keep ahead of a faster playout: the underflows are
            // counted (the pacer's model sees them as the carrier does), and still nothing is lost.
            #expect(sim.carrier.underflows > 0 && stats.underflows > 0)
        } else {
            #expect(sim.carrier.underflows == 0, "\(name) at \(speed)x: \(sim.carrier.gaps)")
            #expect(stats.underflows == 0, "\(name) at \(speed)x: \(stats.underflows) pacer underflows")
        }
        #expect(stats.latenessQuantileMs(0.99) <= 2, "\(name) at \(speed)x: lateness p99 \(stats.latenessQuantileMs(0.99)) ms")
        print("pacing, \(name) at \(speed)x: \(stats.frames) frames, \(stats.underflows) underflows (carrier \(sim.carrier.underflows)), lateness p99 \(stats.latenessQuantileMs(0.99)) ms, max \(Double(stats.maximumLatenessNs) / 1e6) ms")
        for (k, reply) in replies.enumerated() {
            let expected = try referenceOutput(reply, format: .muLaw8k, speed: speed)
            let played = sim.carrier.audio(of: k + 1)
            #expect(played.count == expected.count, "\(name) at \(speed)x reply \(k + 1): \(played.count) vs \(expected.count) bytes")
            #expect(played == expected, "\(name) at \(speed)x reply \(k + 1): not bit-exact")
        }
        // Every mark came back and was taken as played.
        #expect(sim.acknowledgements.allSatisfy { if case .played = $0 { true } else { false } })
        #expect(sim.leg.clock.marksInFlight == 0)
    }

    /// An event loop that stalls 40 ms every 25 polls: deadlines are absolute, so the frames due are caught up at
    /// the next poll; the reply is not stretched and the carrier (100 ms lead, 0-40 ms jitter) does not starve.
    @Test func stallsAreCaughtUpNotAccumulated() throws {
        let leg = try OutboundLeg(format: .muLaw8k, acknowledged: true)
        var sim = CallSimulation(leg: leg, jitterMs: 40, seed: 11)
        sim.stallNs = 40 * ms
        sim.stallEvery = 25
        let reply = modelSpeech(seconds: 6)
        try sim.deliver(reply, pacing: .burst(chunkMs: 100, gapMs: 4), from: 0)
        sim.run(until: 8000 * ms)
        #expect(sim.carrier.underflows == 0)
        let frames = sim.carrier.frames
        // Released at the carrier's pace: the last frame left about 6 s - lead after the first, not later.
        let span = Double(sim.framesSent.last!.time - sim.framesSent.first!.time) / 1e6
        #expect(abs(span - (6000 - 100 - 20)) <= 45, "release span \(span) ms")
        #expect(frames.map(\.bytes.count).reduce(0, +) == 48000)
        #expect(sim.leg.pacer.statistics.maximumLatenessNs >= 40 * UInt64(ms))
        // The stalls show in the histogram's millisecond buckets: the latest frames, 30 to 50 ms late.
        let stats = sim.leg.pacer.statistics
        #expect(stats.latenessBuckets[120...].reduce(0, +) > 0 && stats.latenessBuckets[190] == 0)
        #expect((30...50).contains(stats.latenessQuantileMs(1)), "latest \(stats.latenessQuantileMs(1)) ms")
    }

    /// Lateness buckets: 0.1 ms wide below 10 ms, 1 ms wide to 100 ms, then one for everything later; a
    /// quantile is its bucket's upper edge, never past the latest frame.
    @Test func latenessBuckets() {
        typealias S = PacerStatistics
        #expect(S.latenessBucket(forNs: 0) == 0 && S.latenessBucket(forNs: 99_999) == 0 && S.latenessBucket(forNs: 100_000) == 1)
        #expect(S.latenessBucket(forNs: 9_999_999) == 99 && S.latenessBucket(forNs: 10_000_000) == 100)
        #expect(S.latenessBucket(forNs: 15_500_000) == 105 && S.latenessBucket(forNs: 99_999_999) == 189)
        #expect(S.latenessBucket(forNs: 100_000_000) == 190 && S.latenessBucket(forNs: .max) == 190)
        for k in 0..<(S.latenessBucketCount - 1) {
            // Each bucket's upper edge is the next bucket's start.
            let edgeNs = UInt64((S.latenessUpperEdgeMs(ofBucket: k) * 1e6).rounded())
            #expect(S.latenessBucket(forNs: edgeNs) == k + 1 && S.latenessBucket(forNs: edgeNs - 1) == k)
        }
        var stats = S()
        stats.latenessBuckets[S.latenessBucket(forNs: 3_000_000)] = 98
        stats.latenessBuckets[S.latenessBucket(forNs: 15_500_000)] = 2
        stats.maximumLatenessNs = 15_500_000
        #expect(stats.latenessQuantileMs(0.98) == 3.1 && stats.latenessQuantileMs(0.99) == 15.5)
    }

    /// After a barge-in not one frame of the interrupted reply goes out, its marks echoed by the `clear` are stale,
    /// and the next reply plays whole.
    @Test func clearDropsTheInterruptedReply() throws {
        let leg = try OutboundLeg(format: .muLaw8k, acknowledged: true, pacer: PacerConfiguration(markIntervalMs: 100))
        var sim = CallSimulation(leg: leg, seed: 3)
        try sim.deliver(modelSpeech(seconds: 5), pacing: .burst(chunkMs: 100, gapMs: 4), from: 0)
        sim.run(until: 1700 * ms)
        let interruption = sim.leg.interrupt(now: UInt64(sim.now))
        let cut = try #require(interruption)
        #expect(cut.response == 1)
        sim.sendClear()
        let at = sim.now
        sim.run(until: 2500 * ms)
        #expect(!sim.framesSent.contains { $0.time >= at && $0.response == 1 })
        #expect(sim.acknowledgements.contains { if case .stale(response: 1, _) = $0 { true } else { false } })
        let second = modelSpeech(seconds: 1.2, seed: 9)
        try sim.deliver(second, pacing: .burst(chunkMs: 100, gapMs: 4), from: 2500 * ms)
        sim.run(until: 5000 * ms)
        #expect(sim.carrier.audio(of: 2) == (try referenceOutput(second, format: .muLaw8k, speed: 1)))
        #expect(sim.carrier.underflows == 0, "\(sim.carrier.gaps)")
        #expect(sim.leg.clock.marksInFlight == 0)
    }

    /// A caller who speaks after the reply has ended and played out interrupts nothing (no `clear`, no truncation);
    /// one who speaks while the model's reply is still coming does, even in a gap of its audio.
    @Test func nothingToInterruptAfterTheReplyPlayedOut() throws {
        let leg = try OutboundLeg(format: .muLaw8k, acknowledged: true)
        var sim = CallSimulation(leg: leg, seed: 5)
        try sim.deliver(modelSpeech(seconds: 1), pacing: .burst(chunkMs: 100, gapMs: 4), from: 0)
        sim.run(until: 800 * ms)
        #expect(sim.leg.isPlaying(now: UInt64(sim.now)))
        sim.run(until: 2500 * ms)
        #expect(sim.leg.interrupt(now: UInt64(sim.now)) == nil)
        // The next reply: half a second of it, then nothing for a second (the model is slow), and the caller speaks.
        let second = modelSpeech(seconds: 0.5, seed: 2)
        try second.withUnsafeBufferPointer { try sim.leg.appendModelAudio($0, now: UInt64(sim.now)) }
        sim.poll()
        sim.run(until: 4200 * ms)
        let interruption = sim.leg.interrupt(now: UInt64(sim.now))
        let cut = try #require(interruption)
        // All that was released played: the half second, less the last frame the open pipeline still holds.
        #expect(cut.response == 2 && (460...500).contains(cut.audioEndMs), "\(cut)")
    }

    /// A reply whose pcm16 ends inside a sample (an odd byte count from the model): the leg plays every whole sample,
    /// drops the half one at the end of the response and counts it, and the next response starts clean.
    @Test func aHalfSampleAtTheEndIsDroppedAndCounted() throws {
        let reply = modelSpeech(seconds: 0.5)
        var leg = try OutboundLeg(format: .muLaw8k, acknowledged: false, maximumChunkBytes: reply.count)
        let odd = Array(reply[..<(reply.count - 1)])
        try odd.withUnsafeBufferPointer { try leg.appendModelAudio($0, now: 0) }
        try leg.finishResponse(now: 0)
        #expect(leg.partialSamplesDropped == 1)
        var frames = 0, bytes = 0
        for t in stride(from: 0, through: 2_000, by: 20) {
            leg.poll(now: UInt64(t) * 1_000_000) { output in
                if case .frame(let audio, _, _) = output { frames += 1; bytes += audio.count }
            }
        }
        // The whole samples of the odd reply: what the pipeline makes of the reply less its last sample.
        let whole = try referenceOutput(Array(reply[..<(reply.count - 2)]), format: .muLaw8k, speed: 1)
        #expect(bytes == whole.count, "\(frames) frames")
        try reply.withUnsafeBufferPointer { try leg.appendModelAudio($0, now: 2_000_000_000) }
        try leg.finishResponse(now: 2_000_000_000)
        #expect(leg.partialSamplesDropped == 1, "an even reply drops nothing")
    }

    /// A model that sends more than the queue holds: the leg refuses the chunk whole (typed), the gateway offers it
    /// again later, and nothing is lost.
    @Test func aFullQueueRefusesAndLosesNothing() throws {
        #expect(throws: CarrierLegError.self) {
            try OutboundLeg(format: .muLaw8k, acknowledged: false, pacer: PacerConfiguration(capacityMs: 1000), maximumChunkBytes: 1 << 20)
        }
        var leg = try OutboundLeg(format: .muLaw8k, acknowledged: false, pacer: PacerConfiguration(capacityMs: 2000), maximumChunkBytes: 4800)
        let reply = modelSpeech(seconds: 4)
        var t: Int64 = 0
        var sent: [UInt8] = []
        var refusals = 0
        var at = 0
        while at < reply.count {
            let end = min(reply.count, at + 4800)
            do {
                try reply[at..<end].withUnsafeBufferPointer { try leg.appendModelAudio($0, now: UInt64(t)) }
                at = end
            } catch CarrierLegError.queueFull {
                refusals += 1
                t += 20 * ms
            }
            leg.poll(now: UInt64(t)) { if case .frame(let b, _, _) = $0 { sent += b } }
        }
        while true {
            do { try leg.finishResponse(now: UInt64(t)); break } catch CarrierLegError.queueFull { t += 20 * ms }
            leg.poll(now: UInt64(t)) { if case .frame(let b, _, _) = $0 { sent += b } }
        }
        while leg.pacer.queuedBytes > 0 {
            t += 20 * ms
            leg.poll(now: UInt64(t)) { if case .frame(let b, _, _) = $0 { sent += b } }
        }
        #expect(refusals > 0)
        #expect(sent == (try referenceOutput(reply, format: .muLaw8k, speed: 1)))
    }

    /// Time that runs backwards counts as the latest time seen: counted, nothing lost or repeated.
    @Test func timeRunningBackwards() throws {
        var pacer = try Pacer(format: .muLaw8k)
        let audio = (0..<8000).map { UInt8(truncatingIfNeeded: $0) }
        _ = audio.withUnsafeBufferPointer { try? pacer.append($0, now: 1_000 * UInt64(ms)) }
        pacer.endResponse(now: 1_000 * UInt64(ms))
        var out: [UInt8] = []
        var rng = SplitMix64(seed: 4)
        var t: Int64 = 1_000 * ms
        for _ in 0..<400 {
            t += Int64(rng.next() % 40) * ms - 15 * ms   // sometimes backwards
            pacer.poll(now: UInt64(max(0, t))) { if case .frame(let b, _, _) = $0 { out += b } }
        }
        #expect(out == audio)
        #expect(pacer.statistics.clockRegressions > 0)
    }

    /// Every configuration the pacer accepts, at every carrier rate, with chunks of random sizes: every loop ends,
    /// every byte comes out once and in order, frames never straddle replies, marks bracket each reply.
    @Test(arguments: [8000, 16000, 44100, 48000])
    func configurationSweep(hertz: Int) throws {
        let format = CarrierMediaFormat(encoding: .linear16LittleEndian, sampleRate: try SampleRate(hertz: hertz))
        var rng = SplitMix64(seed: UInt64(hertz))
        for frameMs in stride(from: 10, through: 60, by: 10) {
            for leadMs in [0, 20, 100, 1000] {
                for interval in [nil, frameMs, 150] as [Int?] {
                    for pad in [false, true] {
                        let configuration = PacerConfiguration(frameMs: frameMs, leadMs: leadMs, markIntervalMs: interval, padPartialFrames: pad)
                        var pacer = try Pacer(format: format, configuration: configuration)
                        var t: Int64 = 0
                        var replies: [[UInt8]] = []
                        var out: [Int: [UInt8]] = [:]
                        var starts = 0, ends = 0
                        let frameBytes = hertz * frameMs / 1000 * 2
                        func poll() {
                            pacer.poll(now: UInt64(t)) { o in
                                switch o {
                                case .frame(let b, let r, _):
                                    #expect(b.count <= frameBytes && b.count > 0)
                                    if pad { #expect(b.count == frameBytes) }
                                    out[r, default: []] += b
                                case .mark(.pacer(_, let s)): if s == 0 { starts += 1 } else { ends += 0 }
                                case .mark: break
                                }
                            }
                        }
                        for r in 0..<3 {
                            let samples = Int(rng.next() % UInt64(hertz)) + 1
                            let reply = (0..<(2 * samples)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                            replies.append(reply)
                            var at = 0
                            while at < reply.count {
                                let n = min(reply.count - at, 2 * Int(rng.next() % 2000))
                                let taken = try reply[at..<(at + n)].withUnsafeBufferPointer { try pacer.append($0, now: UInt64(t)) }
                                #expect(taken == n)
                                at += n
                                t += Int64(rng.next() % 30) * ms
                                poll()
                            }
                            pacer.endResponse(now: UInt64(t))
                            _ = r
                        }
                        var guardCount = 0
                        while pacer.queuedBytes > 0 || pacer.nextDeadline != nil {
                            t = max(t + ms, Int64(pacer.nextDeadline ?? 0))
                            poll()
                            guardCount += 1
                            if guardCount > 100_000 { Issue.record("pacer never drained: \(configuration)"); break }
                        }
                        for (k, reply) in replies.enumerated() {
                            let got = out[k + 1] ?? []
                            if pad {
                                #expect(Array(got.prefix(reply.count)) == reply && got.dropFirst(reply.count).allSatisfy { $0 == 0 })
                            } else {
                                #expect(got == reply, "\(configuration) at \(hertz) Hz reply \(k + 1)")
                            }
                        }
                        #expect(starts == 3)
                        _ = ends
                    }
                }
            }
        }
    }

    @Test func refusals() {
        #expect(throws: PacerError.self) { try Pacer(format: .muLaw8k, configuration: PacerConfiguration(frameMs: 5)) }
        #expect(throws: PacerError.self) { try Pacer(format: .muLaw8k, configuration: PacerConfiguration(leadMs: -1)) }
        #expect(throws: PacerError.self) { try Pacer(format: .muLaw8k, configuration: PacerConfiguration(markIntervalMs: 1)) }
        #expect(throws: PacerError.self) { try Pacer(format: .muLaw8k, configuration: PacerConfiguration(capacityMs: 10)) }
        #expect(throws: PacerError.self) { try Pacer(format: CarrierMediaFormat(encoding: .muLaw, sampleRate: try SampleRate(hertz: 7))) }
        // Too many ended replies waiting.
        var pacer = try! Pacer(format: .muLaw8k)
        let one: [UInt8] = [0xFF]
        for _ in 0..<Pacer.maximumQueuedResponses {
            _ = one.withUnsafeBufferPointer { try? pacer.append($0, now: 0) }
            pacer.endResponse(now: 0)
        }
        #expect(throws: PacerError.tooManyResponses(Pacer.maximumQueuedResponses)) {
            _ = try one.withUnsafeBufferPointer { try pacer.append($0, now: 0) }
        }
    }
}
