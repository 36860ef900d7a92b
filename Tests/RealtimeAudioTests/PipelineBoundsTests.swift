import Testing
@testable import RealtimeAudio

/// The class "capacities are upper bounds valid in every state, and no size of a client's data reaches a
/// precondition": every legal chunk either fits a buffer sized once from the configuration or is a typed error.
@Suite("Pipeline bounds")
struct PipelineBoundsTests {
    /// Client audio of every size the pipeline accepts, in random order, through one buffer of `maximumOutputBytes`:
    /// every chunk is taken, none traps.
    @Test("inbound: one buffer of maximumOutputBytes takes every legal chunk size, in every format",
          arguments: [AudioFormat.pcm16, .g711_ulaw, .g711_alaw])
    func inboundAnyChunk(format: AudioFormat) throws {
        var g = SplitMix64(seed: 11)
        var pipeline = try InboundAudio(format: format)
        var out = [UInt8](repeating: 0, count: pipeline.maximumOutputBytes)
        var events = InboundEvents()
        var sizes = [0, 1, 2, 3, 159, 160, 161, 320, 4096, 6000, 32767, 32768]
        sizes += (0..<40).map { _ in Int.random(in: 0...32768, using: &g) }
        for size in sizes.shuffled(using: &g) {
            let chunk = (0..<size).map { _ in UInt8.random(in: 0...255, using: &g) }
            let n = try chunk.withUnsafeBufferPointer { c in try out.withUnsafeMutableBufferPointer { try pipeline.append(c, into: $0, events: &events) } }
            #expect(n <= pipeline.maximumOutputCount(forInput: size))
        }
        _ = try out.withUnsafeMutableBufferPointer { try pipeline.finish(into: $0, events: &events) }
    }

    @Test("inbound: README's buffer sized for 4096 bytes gets a typed error for a 6000-byte append, and the stream goes on")
    func inboundTooSmall() throws {
        var pipeline = try InboundAudio(format: .pcm16)
        var small = [UInt8](repeating: 0, count: pipeline.maximumOutputCount(forInput: 4096))
        var events = InboundEvents()
        let big = [UInt8](repeating: 3, count: 6000)
        let needed = pipeline.maximumOutputCount(forInput: 6000)
        #expect(throws: PipelineError.outputTooSmall(bytes: small.count, needed: needed)) {
            _ = try big.withUnsafeBufferPointer { c in try small.withUnsafeMutableBufferPointer { try pipeline.append(c, into: $0, events: &events) } }
        }
        #expect(pipeline.isIdle, "nothing was taken")
        // µ-law: a buffer for 160-byte packets and a 320-byte one.
        var law = try InboundAudio(format: .g711_ulaw)
        var packet = [UInt8](repeating: 0, count: law.maximumOutputCount(forInput: 160))
        #expect(throws: PipelineError.self) {
            _ = try [UInt8](repeating: 0xFF, count: 320).withUnsafeBufferPointer { c in try packet.withUnsafeMutableBufferPointer { try law.append(c, into: $0, events: &events) } }
        }
        // A drain buffer smaller than the bound at 0: typed too.
        _ = try [UInt8](repeating: 0xFF, count: 160).withUnsafeBufferPointer { c in try packet.withUnsafeMutableBufferPointer { try law.append(c, into: $0, events: &events) } }
        var none = [UInt8]()
        #expect(throws: PipelineError.self) { _ = try none.withUnsafeMutableBufferPointer { try law.finish(into: $0, events: &events) } }
        #expect(!law.isIdle, "the stream is still there")
    }

    @Test("outbound: a buffer sized once takes every chunk at every speed, speed changed between responses")
    func outboundAnySpeed() throws {
        var g = SplitMix64(seed: 5)
        for format in [AudioFormat.pcm16, .g711_ulaw] {
            var pipeline = try OutboundAudio(format: format, speed: 1.5)
            var out = [UInt8](repeating: 0, count: pipeline.maximumOutputBytes)
            for speed in [1.5, 0.25, 1.0, 0.3, 1.25] {
                try pipeline.setSpeed(speed)
                for _ in 0..<20 {
                    let size = Bool.random(using: &g) ? Int.random(in: 0...32768, using: &g) : Int.random(in: 0...961, using: &g)
                    let chunk = (0..<size).map { _ in UInt8.random(in: 0...255, using: &g) }
                    _ = try chunk.withUnsafeBufferPointer { c in try out.withUnsafeMutableBufferPointer { try pipeline.append(c, into: $0) } }
                }
                if pipeline.pendingByteCount > 0 {
                    // Random sizes may end inside a sample: refused with nothing changed, until the half is dropped.
                    #expect(throws: PipelineError.pcm16(.danglingByte)) { _ = try out.withUnsafeMutableBufferPointer { try pipeline.finish(into: $0) } }
                    pipeline.discardPartialSample()
                }
                _ = try out.withUnsafeMutableBufferPointer { try pipeline.finish(into: $0) }
            }
            // A buffer sized for 960 bytes at speed 1.5 still fits after a switch to 0.25 (bounds hold at every speed).
            var pipeline2 = try OutboundAudio(format: format, speed: 1.5)
            var small = [UInt8](repeating: 0, count: pipeline2.maximumOutputCount(forInput: 960))
            try pipeline2.setSpeed(0.25)
            let chunk = [UInt8](repeating: 0x10, count: 960)
            for _ in 0..<50 {
                _ = try chunk.withUnsafeBufferPointer { c in try small.withUnsafeMutableBufferPointer { try pipeline2.append(c, into: $0) } }
            }
            #expect(throws: PipelineError.self) {
                _ = try [UInt8](repeating: 0, count: 9600).withUnsafeBufferPointer { c in try small.withUnsafeMutableBufferPointer { try pipeline2.append(c, into: $0) } }
            }
        }
    }

    @Test("the safe entry points ([UInt8], Span, String) give the bytes of the unsafe ones and allocate nothing once warm")
    func safeEntryPoints() throws {
        let voice = callerTurns(rate: 8000)
        let codes = G711.muLaw.encode(voice)
        var a = try InboundAudio(format: .g711_ulaw)
        let (expected, expectedEvents) = try runInbound(&a, codes, chunks: stride(from: 0, to: codes.count, by: 160).map { min(160, codes.count - $0) })
        var b = try InboundAudio(format: .g711_ulaw)
        var pcm: [UInt8] = [], all: [InboundEvent] = []
        var events = InboundEvents()
        var i = 0
        for start in stride(from: 0, to: codes.count, by: 160) {
            let chunk = Array(codes[start..<min(codes.count, start + 160)])
            switch i % 3 {
            case 0: try b.append(chunk, to: &pcm, events: &events)
            case 1: try b.append(chunk.span, to: &pcm, events: &events)
            default: try b.append(base64: Base64.encode(chunk), to: &pcm, events: &events)
            }
            all += events
            i += 1
        }
        try b.finish(to: &pcm, events: &events)
        all += events
        #expect(pcm == expected)
        #expect(all == expectedEvents)
        #expect(throws: PipelineError.self) { try b.append(base64: "not base64!", to: &pcm, events: &events) }

        let reply = PCM16.encode(sine(300, rate: 24000, count: 24000))
        var o1 = try OutboundAudio(format: .g711_ulaw, speed: 1.25)
        let wanted = try runOutbound(&o1, reply, chunks: Array(repeating: 960, count: 25))
        var o2 = try OutboundAudio(format: .g711_ulaw, speed: 1.25)
        var got: [UInt8] = []
        for k in 0..<25 {
            let chunk = Array(reply[(k * 960)..<((k + 1) * 960)])
            if k % 2 == 0 { try o2.append(chunk, to: &got) } else { try o2.append(base64: Base64.encode(chunk), to: &got) }
        }
        try o2.finish(to: &got)
        #expect(got == wanted)
    }

    @Test("lost samples past a chunk's worth are refused with their size on the wire, whatever the count")
    func lostSamplesBound() throws {
        // pcm16 at 24 kHz: a 4096-byte chunk is 2048 samples, so 2049 lost samples would be 4098 bytes of audio.
        var pipeline = try InboundAudio(format: .pcm16, maximumChunkBytes: 4096)
        var out = [UInt8](repeating: 0, count: pipeline.maximumOutputBytes)
        var events = InboundEvents()
        #expect(throws: PipelineError.chunkTooLarge(bytes: 4098, maximum: 4096)) {
            _ = try out.withUnsafeMutableBufferPointer { try pipeline.appendLost(samples: 2049, into: $0, events: &events) }
        }
        #expect(throws: PipelineError.chunkTooLarge(bytes: Int.max, maximum: 4096)) {
            _ = try out.withUnsafeMutableBufferPointer { try pipeline.appendLost(samples: Int.max, into: $0, events: &events) }
        }
        #expect(pipeline.isIdle && pipeline.inputMs == 0, "nothing taken")
        let n = try out.withUnsafeMutableBufferPointer { try pipeline.appendLost(samples: 2048, into: $0, events: &events) }
        #expect(n == 4096 && pipeline.inputMs == 85)
        #expect(try out.withUnsafeMutableBufferPointer { try pipeline.appendLost(samples: -5, into: $0, events: &events) } == 0)
    }
}
