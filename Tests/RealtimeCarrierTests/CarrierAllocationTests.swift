import MallocCounter
import Testing
import TestSupport
import RealtimeAudio
@testable import RealtimeCarrier

/// Heap allocations `body` makes on this thread.
func countAllocations(_ body: () throws -> Void) rethrows -> Int {
    malloc_counter_start()
    try body()
    return malloc_counter_stop()
}

/// Whether this build can count allocations (sanitizer builds interpose malloc themselves): the suite is then
/// reported skipped, not passed.
let carrierAllocationCounting: Bool = {
    malloc_counter_start()
    return malloc_counter_stop() >= 0
}()

/// Every per-message and per-frame path of a call allocates nothing in steady state.
@Suite("Carrier allocations per message", .enabled(if: carrierAllocationCounting, "the allocation counter is unavailable in this build (a sanitizer owns malloc)"))
struct CarrierAllocationTests {
    @Test func inboundMediaMessagesAndOutboundMessages() throws {
        var codec = MediaStreamCodec(carrier: .twilio, streamID: "MZ18ad3ab5a668481ce02b83e7395059f0")
        var rng = SplitMix64(seed: 1)
        let audio = (0..<160).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let message = Array(try codec.mediaMessage(audio).utf8)
        let echo = Array(#"{"event":"mark","sequenceNumber":"12","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","mark":{"name":"rtaudio:3:16000"}}"#.utf8)
        var payload = [UInt8](repeating: 0, count: codec.payloadCapacity)
        var out = [UInt8](repeating: 0, count: codec.maximumMediaMessageBytes)
        func round() throws {
            try message.withUnsafeBufferPointer { m in
                try payload.withUnsafeMutableBufferPointer { p in _ = try codec.decode(m, payload: p) }
            }
            try echo.withUnsafeBufferPointer { m in
                try payload.withUnsafeMutableBufferPointer { p in _ = try codec.decode(m, payload: p) }
            }
            try audio.withUnsafeBufferPointer { a in
                try out.withUnsafeMutableBufferPointer { o in
                    _ = try codec.encodeMedia(a, into: o)
                    _ = try codec.encodeMark(.pacer(response: 3, sample: 16000), into: o)
                    _ = try codec.encodeClear(into: o)
                }
            }
        }
        for _ in 0..<10 { try round() }
        #expect(try countAllocations { for _ in 0..<200 { try round() } } == 0)
        // Telnyx L16 (byte swaps both ways) and an escaped payload.
        var telnyx = MediaStreamCodec(carrier: .telnyx, streamID: "S", format: CarrierMediaFormat(encoding: .linear16BigEndian, sampleRate: .hz16000))
        let pcm = (0..<640).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let l16 = Array(try telnyx.mediaMessage(pcm).utf8)
        let escaped = Array(#"{"event":"media","stream_id":"S","media":{"payload":"\/\/\/\/AAAA"}}"#.utf8)
        var tout = [UInt8](repeating: 0, count: telnyx.maximumMediaMessageBytes)
        func telnyxRound() throws {
            try l16.withUnsafeBufferPointer { m in try payload.withUnsafeMutableBufferPointer { p in _ = try telnyx.decode(m, payload: p) } }
            try escaped.withUnsafeBufferPointer { m in try payload.withUnsafeMutableBufferPointer { p in _ = try telnyx.decode(m, payload: p) } }
            try pcm.withUnsafeBufferPointer { a in try tout.withUnsafeMutableBufferPointer { o in _ = try telnyx.encodeMedia(a, into: o) } }
        }
        for _ in 0..<10 { try telnyxRound() }
        #expect(try countAllocations { for _ in 0..<200 { try telnyxRound() } } == 0)
    }

    @Test func audioSocketFramesInAnySplit() throws {
        let (bytes, _) = AudioSocketTests.session(seed: 3)
        var decoder = AudioSocketDecoder()
        var frames = 0
        func round() {
            bytes.withUnsafeBufferPointer { b in
                var at = 0
                while at < b.count {
                    let n = min(b.count - at, 700)
                    decoder.decode(UnsafeBufferPointer(rebasing: b[at..<(at + n)])) { _ in frames += 1 }
                    at += n
                }
            }
        }
        round()
        #expect(countAllocations { for _ in 0..<50 { round() } } == 0)
        #expect(frames > 0)
    }

    /// The jitter buffer over reordered, duplicated and lost frames, its depth adapting.
    @Test func jitterBufferSteadyState() throws {
        var buffer = try JitterBuffer(format: .muLaw8k)
        var rng = SplitMix64(seed: 4)
        let frame = [UInt8](repeating: 0x55, count: 160)
        var k = 0
        var t: UInt64 = 0
        var out = 0
        func second() {
            for _ in 0..<50 {
                let r = rng.next() % 100
                let seq = r < 5 ? k + 2 : (r < 8 ? k - 1 : k)   // ahead, a duplicate or late one, in order
                frame.withUnsafeBufferPointer { _ = buffer.insert($0, sequence: max(0, seq), now: t + rng.next() % 80_000_000) }
                if r >= 3 { k += 1 }
                t += 20_000_000
                buffer.poll(now: t) { _ in out += 1 }
            }
        }
        for _ in 0..<15 { second() }   // past the 10 s window
        #expect(countAllocations { for _ in 0..<5 { second() } } == 0)
        #expect(out > 0)
    }

    /// The outbound leg over a whole reply: model chunks in, frames and marks out, echoes back, the echo gate
    /// and the played position asked every frame, a barge-in, the next reply.
    @Test func outboundLegSteadyState() throws {
        var leg = try OutboundLeg(format: .muLaw8k, acknowledged: true, returnDelayMs: 20)
        let reply = modelSpeech(seconds: 3)
        var echoes = [CarrierMark](repeating: .pacer(response: 0, sample: 0), count: 4096)
        var echoCount = 0
        var t: UInt64 = 0
        func call(interrupt: Bool) throws {
            try reply.withUnsafeBufferPointer { r in
                var at = 0
                while at < r.count {
                    let n = min(r.count - at, 4800)
                    try leg.appendModelAudio(UnsafeBufferPointer(rebasing: r[at..<(at + n)]), now: t)
                    at += n
                }
            }
            try leg.finishResponse(now: t)
            for step in 0..<200 {
                t += 20_000_000
                leg.poll(now: t) { out in
                    if case .mark(let m) = out, echoCount < echoes.count { echoes[echoCount] = m; echoCount += 1 }
                }
                for k in 0..<echoCount { _ = leg.acknowledge(echoes[k], now: t) }
                echoCount = 0
                _ = leg.echoGate(now: t)
                _ = leg.isPlaying(now: t)
                _ = leg.playedPosition(now: t)
                if interrupt, step == 100 { _ = leg.interrupt(now: t) }
            }
        }
        try call(interrupt: true)
        try call(interrupt: false)
        #expect(try countAllocations { try call(interrupt: true); try call(interrupt: false) } == 0)
    }
}
