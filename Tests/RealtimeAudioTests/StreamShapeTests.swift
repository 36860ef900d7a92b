import Testing
import TestSupport
@testable import RealtimeAudio

/// Runs `input` through a fresh stream in the given chunk sizes with buffers of exactly the stream's bound, checking
/// on every call the contract ``AudioStream`` states: all input consumed, no more written than the bound (for
/// `finish`, the bound at 0), a bound never negative; then `reset` and the same input again give the same output.
private func run<S: AudioStream>(_ make: () throws -> S, _ input: [S.Input], chunks: [Int], filler: S.Output) throws -> [S.Output] {
    var stream = try make()
    #expect(stream.latencySeconds >= 0 && stream.latencySeconds < 0.5)
    #expect(stream.maximumOutputCount(forInput: -5) >= 0)
    #expect(stream.maximumOutputCount(forInput: Int.max) >= stream.maximumOutputCount(forInput: 1 << 20), "saturates, never traps")
    func once(_ stream: inout S) throws -> [S.Output] {
        var out: [S.Output] = []
        var start = 0
        for size in chunks {
            let bound = stream.maximumOutputCount(forInput: size)
            var buffer = [S.Output](repeating: filler, count: bound)
            let (used, made) = try input[start..<(start + size)].withUnsafeBufferPointer { src in
                try buffer.withUnsafeMutableBufferPointer { try stream.process(src, into: $0) }
            }
            #expect(used == size, "\(S.self): consumed \(used) of \(size)")
            #expect(made <= bound)
            out += buffer[..<made]
            start += size
        }
        var tail = [S.Output](repeating: filler, count: stream.maximumOutputCount(forInput: 0))
        let made = try tail.withUnsafeMutableBufferPointer { try stream.finish(into: $0) }
        #expect(made <= tail.count)
        return out + tail[..<made]
    }
    let first = try once(&stream)
    // Half a stream, dropped: the next stream is as if it were the first.
    _ = try? input[..<(input.count / 2)].withUnsafeBufferPointer { src in
        var buffer = [S.Output](repeating: filler, count: stream.maximumOutputCount(forInput: src.count))
        return try buffer.withUnsafeMutableBufferPointer { try stream.process(src, into: $0) }
    }
    stream.reset()
    let again = try once(&stream)
    #expect(again.count == first.count, "\(S.self): reset does not start over")
    return first
}

/// A few chunkings of `count` inputs: one block (or blocks of `largest`), 20 ms-like pieces, and random sizes
/// (0 included).
private func chunkings(_ count: Int, seed: UInt64, largest: Int = .max) -> [[Int]] {
    var g = SplitMix64(seed: seed)
    var random: [Int] = []
    var left = count
    while left > 0 {
        let n = min(left, Int.random(in: 0...997, using: &g))
        random.append(n)
        left -= n
    }
    return [fixedChunks(count, min(count, largest)), fixedChunks(count, 160), random]
}

@Suite("The stream shape")
struct StreamShapeTests {
    let voice = speechLike(seconds: 1.5, rate: 24000, level: -18, seed: 3) + silence(1.0, rate: 24000)

    /// Every chunking gives the output of one block, element for element.
    private func expectExact<S: AudioStream>(_ make: () throws -> S, _ input: [S.Input], filler: S.Output, largest: Int = .max) throws
        where S.Output: Equatable {
        var outputs: [[S.Output]] = []
        for (k, chunks) in chunkings(input.count, seed: 7, largest: largest).enumerated() {
            outputs.append(try run(make, input, chunks: chunks, filler: filler))
            #expect(outputs[k] == outputs[0], "\(S.self): chunking \(k) differs")
        }
    }

    @Test("resampler, speed scaler, both chained, and the concealer keep the contract on speech")
    func sampleStreams() throws {
        try expectExact({ try Resampler(from: .hz24000, to: .hz8000) }, voice, filler: Float.nan)
        try expectExact({ try Resampler(from: .hz24000, to: .hz16000, quality: .high) }, voice, filler: Float.nan)
        try expectExact({ try SpeedScaler(sampleRate: .hz24000, speed: 0.25) }, voice, filler: Float.nan)
        try expectExact({ try SpeedScaler(sampleRate: .hz24000, speed: 1.5) }, voice, filler: Float.nan)
        try expectExact({ try LossConcealer(sampleRate: .hz24000) }, voice, filler: Float.nan)
        try expectExact({
            SpeedResampler(scaler: try SpeedScaler(sampleRate: .hz24000, speed: 1.25), resampler: try Resampler(from: .hz24000, to: .hz8000),
                           maximumChunk: 480)
        }, voice, filler: Float.nan)
        try expectExact({ SpeedResampler(scaler: nil, resampler: nil, maximumChunk: 64) }, voice, filler: Float.nan)
    }

    @Test("the chain given small rooms: it takes what fits, loses nothing, and ends as the whole")
    func chainSmallRooms() throws {
        let make = {
            SpeedResampler(scaler: try SpeedScaler(sampleRate: .hz24000, speed: 0.5), resampler: try Resampler(from: .hz24000, to: .hz8000),
                           maximumChunk: 960)
        }
        var whole = try make()
        let expected = whole.processAll(voice)
        var chain = try make()
        var g = SplitMix64(seed: 11)
        var out: [Float] = []
        var at = 0
        let least = chain.maximumOutputCount(forInput: 1)
        var buffer = [Float](repeating: 0, count: chain.maximumOutputCount(forInput: 960))
        while at < voice.count {
            let room = Int.random(in: least...buffer.count, using: &g)
            let (used, made) = voice[at...].withUnsafeBufferPointer { src in
                buffer.withUnsafeMutableBufferPointer { chain.process(src, into: UnsafeMutableBufferPointer(rebasing: $0[..<room])) }
            }
            #expect(used > 0, "no progress with \(room) of room")
            if used == 0 { break }
            out += buffer[..<made]
            at += used
        }
        var tail = [Float](repeating: 0, count: chain.maximumOutputCount(forInput: 0))
        out += tail[..<tail.withUnsafeMutableBufferPointer { chain.finish(into: $0) }]
        #expect(out == expected)
        // Short of one sample's bound: nothing is taken.
        let none = voice.withUnsafeBufferPointer { src in buffer.withUnsafeMutableBufferPointer { chain.process(src, into: UnsafeMutableBufferPointer(rebasing: $0[..<(least - 1)])) } }
        #expect(none.consumed == 0 && none.produced == 0)
    }

    @Test("the chain is the scaler, then the resampler, bit for bit")
    func chainIsItsParts() throws {
        var scaler = try SpeedScaler(sampleRate: .hz24000, speed: 0.8)
        var resampler = try Resampler(from: .hz24000, to: .hz8000)
        let expected = resampler.convert(scaler.stretch(voice))
        let got = try run({
            SpeedResampler(scaler: try SpeedScaler(sampleRate: .hz24000, speed: 0.8), resampler: try Resampler(from: .hz24000, to: .hz8000),
                           maximumChunk: 333)
        }, voice, chunks: [voice.count], filler: Float.nan)
        #expect(got == expected)
    }

    @Test("the detector's events in any chunking are its step-by-step events")
    func detector() throws {
        let make = { try ServerVAD(sampleRate: .hz24000) }
        let signal = silence(0.6, rate: 24000) + voice + voice
        var stepped = try make()
        let expected = stepped.events(in: signal)
        #expect(expected.count == 4, "\(expected)")
        let filler = TurnEvent.speechStopped(audioEndMs: -1, emittedAtMs: -1)
        for chunks in chunkings(signal.count, seed: 9) {
            #expect(try run(make, signal, chunks: chunks, filler: filler) == expected)
        }
    }

    @Test("the pcm16 decoder and both pipelines keep the contract on wire bytes")
    func byteStreams() throws {
        let pcm = PCM16.encode(voice)
        try expectExact({ PCM16StreamDecoder() }, pcm, filler: Float.nan)
        try expectExact({ try OutboundAudio(format: .g711_ulaw, speed: 1.25) }, pcm, filler: UInt8(0xAA), largest: 32768)
        let mulaw = G711.muLaw.encode(speechLike(seconds: 1.5, rate: 8000, level: -18, seed: 4) + silence(1.0, rate: 8000))
        try expectExact({ try InboundAudio(format: .g711_ulaw, concealment: true) }, mulaw, filler: UInt8(0xAA), largest: 32768)
    }

    @Test("the inbound pipeline's stream-shaped calls leave each call's events in `events`")
    func inboundEvents() throws {
        let mulaw = G711.muLaw.encode(silence(0.5, rate: 8000) + speechLike(seconds: 1, rate: 8000, level: -18, seed: 5))
        var pipeline = try InboundAudio(format: .g711_ulaw)
        var out = [UInt8](repeating: 0, count: pipeline.maximumOutputBytes)
        var seen: [InboundEvent] = []
        for start in stride(from: 0, to: mulaw.count, by: 160) {
            _ = try mulaw[start..<min(mulaw.count, start + 160)].withUnsafeBufferPointer { c in
                try out.withUnsafeMutableBufferPointer { try pipeline.process(c, into: $0) }
            }
            seen += pipeline.events
        }
        _ = try out.withUnsafeMutableBufferPointer { try pipeline.finish(into: $0) }
        seen += pipeline.events
        #expect(seen.count == 2, "\(seen)")
        if case .speechStarted = seen.first {} else { Issue.record("no speech_started: \(seen)") }
        if case .speechStopped = seen.last {} else { Issue.record("no speech_stopped at finish: \(seen)") }
    }

    @Test("a pcm16 stream ending inside a sample is refused at finish with nothing lost, until the half is dropped")
    func danglingByte() throws {
        var pipeline = try InboundAudio(format: .pcm16)
        var out = [UInt8](repeating: 0, count: pipeline.maximumOutputBytes)
        var events = InboundEvents()
        let odd = [UInt8](repeating: 0x01, count: 481)
        _ = try odd.withUnsafeBufferPointer { c in try out.withUnsafeMutableBufferPointer { try pipeline.append(c, into: $0, events: &events) } }
        #expect(pipeline.pendingByteCount == 1)
        #expect(throws: PipelineError.pcm16(.danglingByte)) {
            _ = try out.withUnsafeMutableBufferPointer { try pipeline.finish(into: $0, events: &events) }
        }
        #expect(!pipeline.isIdle && pipeline.pendingByteCount == 1, "nothing changed")
        // The byte that completes the sample: the stream then finishes.
        _ = try [UInt8(0x01)].withUnsafeBufferPointer { c in try out.withUnsafeMutableBufferPointer { try pipeline.append(c, into: $0, events: &events) } }
        _ = try out.withUnsafeMutableBufferPointer { try pipeline.finish(into: $0, events: &events) }
        #expect(pipeline.isIdle)
        // Or the half dropped on purpose.
        _ = try odd.withUnsafeBufferPointer { c in try out.withUnsafeMutableBufferPointer { try pipeline.append(c, into: $0, events: &events) } }
        pipeline.discardPartialSample()
        _ = try out.withUnsafeMutableBufferPointer { try pipeline.finish(into: $0, events: &events) }
        #expect(pipeline.isIdle)
    }
}
