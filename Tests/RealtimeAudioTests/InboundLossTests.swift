import Foundation
import Testing
@testable import RealtimeAudio

/// The inbound pipeline over a caller's stream with lost 20 ms frames, as a jitter buffer hands it on.
@Suite("Inbound audio with lost packets")
struct InboundLossTests {
    /// Runs µ-law 8 kHz `x` in 20 ms frames, the frames in `lost` reported lost; returns the model bytes and the
    /// events with the frame they came in.
    static func run(_ x: [Float], lost: Set<Int>, concealment: Bool) throws -> (bytes: Int, events: [(Int, InboundEvent)]) {
        var inbound = try InboundAudio(format: .g711_ulaw, concealment: concealment)
        var out = [UInt8](repeating: 0, count: inbound.maximumOutputBytes)
        var events = InboundEvents()
        var total = 0
        var seen: [(Int, InboundEvent)] = []
        let codes = G711.muLaw.encode(x)
        for f in 0..<(codes.count / 160) {
            let n: Int
            if lost.contains(f) {
                n = try out.withUnsafeMutableBufferPointer { try inbound.appendLost(samples: 160, into: $0, events: &events) }
            } else {
                n = try codes[(f * 160)..<((f + 1) * 160)].withUnsafeBufferPointer { c in
                    try out.withUnsafeMutableBufferPointer { try inbound.append(c, into: $0, events: &events) }
                }
            }
            total += n
            for e in events { seen.append((f, e)) }
        }
        total += try out.withUnsafeMutableBufferPointer { try inbound.finish(into: $0, events: &events) }
        for e in events { seen.append((-1, e)) }
        return (total, seen)
    }

    @Test(arguments: [false, true])
    func aTurnHoldsThroughALossAndTimesStayOnTheCallersClock(concealment: Bool) throws {
        let x = silence(1, rate: 8000) + speechLike(seconds: 2, rate: 8000, level: -15) + silence(1.5, rate: 8000)
        let clean = try Self.run(x, lost: [], concealment: concealment)
        // 700 ms lost inside the turn: longer than silence_duration_ms, and still one turn.
        let lossy = try Self.run(x, lost: Set(80..<115), concealment: concealment)
        let starts = { (r: (bytes: Int, events: [(Int, InboundEvent)])) in r.events.filter { if case .speechStarted = $0.1 { true } else { false } } }
        #expect(starts(clean).count == 1 && starts(lossy).count == 1, "\(lossy.events)")
        #expect(clean.events.first?.1 == lossy.events.first?.1, "audio_start_ms moved")
        // The model's stream has the same length: the lost frames are in it, as concealment or silence.
        #expect(lossy.bytes == clean.bytes)
        #expect(lossy.events.count == 2)
    }

    @Test func concealmentDelaysByItsDelayOnly() throws {
        let x = silence(0.5, rate: 8000) + speechLike(seconds: 1, rate: 8000, level: -15) + silence(1, rate: 8000)
        let plain = try Self.run(x, lost: [], concealment: false)
        let concealing = try Self.run(x, lost: [], concealment: true)
        guard case .speechStarted(let a)? = plain.events.first?.1, case .speechStarted(let b)? = concealing.events.first?.1 else {
            Issue.record("no turn"); return
        }
        #expect(abs(b - a) <= 10)
        #expect(concealing.bytes == plain.bytes + 2 * 90)   // 3.75 ms at 24 kHz, as pcm16
    }
}

@Suite("Inbound loss allocations", .enabled(if: allocationCounting, "the allocation counter is unavailable in this build (a sanitizer owns malloc)"))
struct InboundLossAllocationTests {
    @Test func nothingAllocatedPerFrame() throws {
        var inbound = try InboundAudio(format: .g711_ulaw, concealment: true)
        var out = [UInt8](repeating: 0, count: inbound.maximumOutputBytes)
        var events = InboundEvents()
        let codes = G711.muLaw.encode(speechLike(seconds: 0.02, rate: 8000))
        func round(_ k: Int) throws {
            if k % 4 == 0 {
                _ = try out.withUnsafeMutableBufferPointer { try inbound.appendLost(samples: 160, into: $0, events: &events) }
            } else {
                _ = try codes.withUnsafeBufferPointer { c in try out.withUnsafeMutableBufferPointer { try inbound.append(c, into: $0, events: &events) } }
            }
        }
        for k in 0..<20 { try round(k) }
        let count = try allocations { for k in 0..<100 { try round(k) } }
        #expect(count == 0)
    }
}
