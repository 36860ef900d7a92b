import Foundation
import Testing
@testable import RealtimeAudio

/// A caller's turns at `rate`: silence, speech-like bursts, pauses (two turns).
func callerTurns(rate: Int, seed: UInt64 = 1, level: Double = -18) -> [Float] {
    silence(0.6, rate: rate) + speechLike(seconds: 1.1, rate: rate, level: level, seed: seed) + silence(1.0, rate: rate)
        + speechLike(seconds: 0.7, rate: rate, level: level, seed: seed + 1) + silence(0.9, rate: rate)
}

/// Runs client bytes through an inbound pipeline in the given chunk sizes (base64 when asked), then finishes.
func runInbound(_ pipeline: inout InboundAudio, _ bytes: [UInt8], chunks: [Int], base64: Bool = false) throws -> (pcm: [UInt8], events: [InboundEvent]) {
    var pcm: [UInt8] = []
    var all: [InboundEvent] = []
    var events = InboundEvents()
    var start = 0
    for size in chunks {
        let chunk = Array(bytes[start..<(start + size)])
        start += size
        var out = [UInt8](repeating: 0, count: pipeline.maximumOutputCount(forInput: size))
        let n: Int
        if base64 {
            let text = Array(Base64.encode(chunk).utf8)
            n = try text.withUnsafeBufferPointer { t in try out.withUnsafeMutableBufferPointer { try pipeline.append(base64: t, into: $0, events: &events) } }
        } else {
            n = try chunk.withUnsafeBufferPointer { c in try out.withUnsafeMutableBufferPointer { try pipeline.append(c, into: $0, events: &events) } }
        }
        pcm += out[..<n]
        all += events
    }
    var tail = [UInt8](repeating: 0, count: pipeline.maximumOutputCount(forInput: 0))
    let n = try tail.withUnsafeMutableBufferPointer { try pipeline.finish(into: $0, events: &events) }
    return (pcm + tail[..<n], all + events)
}

/// Runs model pcm16 bytes through an outbound pipeline in chunks, then finishes the response.
func runOutbound(_ pipeline: inout OutboundAudio, _ bytes: [UInt8], chunks: [Int]) throws -> [UInt8] {
    var out: [UInt8] = []
    var start = 0
    for size in chunks {
        let chunk = Array(bytes[start..<(start + size)])
        start += size
        var buffer = [UInt8](repeating: 0, count: pipeline.maximumOutputCount(forInput: size))
        let n = try chunk.withUnsafeBufferPointer { c in try buffer.withUnsafeMutableBufferPointer { try pipeline.append(c, into: $0) } }
        out += buffer[..<n]
    }
    var tail = [UInt8](repeating: 0, count: pipeline.maximumOutputCount(forInput: 0))
    let n = try tail.withUnsafeMutableBufferPointer { try pipeline.finish(into: $0) }
    return out + tail[..<n]
}

/// `total` split into chunks of `size` (the last one shorter).
func fixedChunks(_ total: Int, _ size: Int) -> [Int] {
    Array(repeating: size, count: total / size) + (total % size == 0 ? [] : [total % size])
}

func eventsOf(_ vad: inout ServerVAD, _ signal: [Float]) -> [InboundEvent] {
    vad.events(in: signal).map {
        switch $0 {
        case .speechStarted(let start, _): .speechStarted(audioStartMs: start)
        case .speechStopped(let end, _): .speechStopped(audioEndMs: end)
        }
    }
}

@Suite("Pipelines")
struct PipelineTests {
    @Test("inbound µ-law 8 kHz: the model gets our resampler's 24 kHz pcm16 and the detector's events, in any chunking, bytes or base64")
    func inboundG711() throws {
        let voice = callerTurns(rate: 8000)
        let codes = G711.muLaw.encode(voice)
        let heard = G711.muLaw.decodeFloat(codes)
        var resampler = try Resampler(from: .hz8000, to: .hz24000)
        let expectedPCM = PCM16.encode(resampler.convert(heard))
        var vad = try ServerVAD(sampleRate: .hz8000)
        let expectedEvents = eventsOf(&vad, heard)
        #expect(expectedEvents.count == 4)
        var rng = SplitMix64(seed: 5)
        for (maxChunk, base64) in [(160, false), (1, false), (777, true), (4000, false)] {
            var pipeline = try InboundAudio(format: .g711_ulaw)
            let (pcm, events) = try runInbound(&pipeline, codes, chunks: randomChunks(total: codes.count, maxChunk: maxChunk, using: &rng), base64: base64)
            #expect(pcm == expectedPCM, "chunks up to \(maxChunk)")
            #expect(events == expectedEvents, "chunks up to \(maxChunk)")
        }
    }

    @Test("inbound pcm16 24 kHz: bytes pass through unchanged, split anywhere (odd byte counts too)")
    func inboundPCM16() throws {
        let bytes = PCM16.encode(callerTurns(rate: 24000))
        var rng = SplitMix64(seed: 9)
        var pipeline = try InboundAudio(format: .pcm16)
        let (pcm, events) = try runInbound(&pipeline, bytes, chunks: randomChunks(total: bytes.count, maxChunk: 1001, using: &rng))
        #expect(pcm == bytes)
        #expect(events.map(\.type) == ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                                       "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"])
    }

    @Test("timeout_triggered fires once idle_timeout_ms after the timer is armed, unless speech starts first")
    func idleTimeout() throws {
        let quiet = PCM16.encode(silence(3, rate: 24000))
        var pipeline = try InboundAudio(format: .pcm16, idleTimeoutMs: 1500)
        var events = InboundEvents()
        var out = [UInt8](repeating: 0, count: 200_000)
        var seen: [InboundEvent] = []
        pipeline.armIdleTimer()
        for start in stride(from: 0, to: quiet.count, by: 960) {
            _ = try quiet[start..<(start + 960)].withUnsafeBufferPointer { c in try out.withUnsafeMutableBufferPointer { try pipeline.append(c, into: $0, events: &events) } }
            seen += events
        }
        #expect(seen == [.timeoutTriggered(audioStartMs: 0, audioEndMs: 1500)])
        #expect(seen[0].json == "{\"type\":\"input_audio_buffer.timeout_triggered\",\"audio_start_ms\":0,\"audio_end_ms\":1500}")

        // Speech before the deadline disarms it.
        var talking = try InboundAudio(format: .pcm16, idleTimeoutMs: 1500)
        talking.armIdleTimer()
        let speech = PCM16.encode(callerTurns(rate: 24000))
        let (_, heard) = try runInbound(&talking, speech, chunks: fixedChunks(speech.count, 4800))
        #expect(!heard.contains { if case .timeoutTriggered = $0 { true } else { false } })
    }

    @Test("the echo guard: while output plays, quiet speech does not start a turn")
    func echoGuard() throws {
        let noise = whiteNoise(4, rate: 16000, level: -60)
        var voice = silence(1.5, rate: 16000) + speechLike(seconds: 1, rate: 16000, level: -50) + silence(1.5, rate: 16000)
        for i in voice.indices { voice[i] += noise[i] }
        let bytes = PCM16.encode(voice)
        var open = try InboundAudio(format: .pcm16, inputRate: .hz16000)
        let (_, heard) = try runInbound(&open, bytes, chunks: fixedChunks(bytes.count, 640))
        #expect(heard.count == 2)
        var guarded = try InboundAudio(format: .pcm16, inputRate: .hz16000, echoThresholdBoost: 0.45)
        guarded.setOutputPlaying(true)
        let (_, ignored) = try runInbound(&guarded, bytes, chunks: fixedChunks(bytes.count, 640))
        #expect(ignored.isEmpty)
    }

    @Test("bad input is a typed error and leaves the stream as it was")
    func badInput() throws {
        let codes = G711.aLaw.encode(callerTurns(rate: 8000))
        var clean = try InboundAudio(format: .g711_alaw)
        let (expected, expectedEvents) = try runInbound(&clean, codes, chunks: [codes.count / 2, codes.count - codes.count / 2], base64: true)

        var pipeline = try InboundAudio(format: .g711_alaw)
        var events = InboundEvents()
        var out = [UInt8](repeating: 0, count: 200_000)
        var pcm: [UInt8] = []
        var seen: [InboundEvent] = []
        func send(_ text: [UInt8]) throws {
            let n = try text.withUnsafeBufferPointer { t in try out.withUnsafeMutableBufferPointer { try pipeline.append(base64: t, into: $0, events: &events) } }
            pcm += out[..<n]
            seen += events
        }
        try send(Array(Base64.encode(Array(codes[..<(codes.count / 2)])).utf8))
        #expect(throws: PipelineError.base64(.invalidCharacter(UInt8(ascii: "!"), offset: 2))) { try send(Array("QU!=".utf8)) }
        #expect(throws: PipelineError.formatChangeMidStream(field: "input_audio_format", from: .g711_alaw, to: .g711_ulaw)) {
            try pipeline.setFormat(.g711_ulaw)
        }
        #expect(throws: PipelineError.chunkTooLarge(bytes: 40000, maximum: 32768)) {
            _ = try [UInt8](repeating: 0, count: 40000).withUnsafeBufferPointer { c in try out.withUnsafeMutableBufferPointer { try pipeline.append(c, into: $0, events: &events) } }
        }
        try send(Array(Base64.encode(Array(codes[(codes.count / 2)...])).utf8))
        let n = try out.withUnsafeMutableBufferPointer { try pipeline.finish(into: $0, events: &events) }
        #expect(pcm + out[..<n] == expected)
        #expect(seen + events == expectedEvents)
        // Between streams the format may change (same wire rate).
        try pipeline.setFormat(.g711_ulaw)
        #expect(pipeline.format == .g711_ulaw)
        // And to another wire rate: the pipeline is rebuilt at 24 kHz and passes pcm16 through.
        try pipeline.setFormat(.pcm16)
        #expect(pipeline.format == .pcm16 && pipeline.inputRate == .hz24000)
        let wire = PCM16.encode(callerTurns(rate: 24000))
        let (through, turns) = try runInbound(&pipeline, wire, chunks: fixedChunks(wire.count, 960))
        #expect(through == wire && turns.count == 4)
        var outbound = try OutboundAudio(format: .g711_ulaw, speed: 1.25)
        try outbound.setSpeed(0.5)
        try outbound.setFormat(.pcm16)
        #expect(outbound.format == .pcm16 && outbound.clientRate == .hz24000 && outbound.speed == 0.5)
        #expect(PipelineError.base64(.invalidLength(3)).description.hasPrefix("audio: "))
    }

    @Test("outbound pcm16 24 kHz at speed 1.25 -> µ-law 8 kHz: our scaler, resampler and encoder, in any chunking")
    func outbound() throws {
        let reply = speechLike(seconds: 1.7, rate: 24000, level: -10)
        let bytes = PCM16.encode(reply)
        let model = PCM16.toFloat(PCM16.toInt16(reply))
        var scaler = try SpeedScaler(sampleRate: .hz24000, speed: 1.25)
        var resampler = try Resampler(from: .hz24000, to: .hz8000)
        let expected = G711.muLaw.encode(resampler.convert(scaler.stretch(model)))
        #expect(expected.count == Int((Double(reply.count) / 1.25 / 3).rounded()))
        var rng = SplitMix64(seed: 21)
        for maxChunk in [1, 961, 9600] {
            var pipeline = try OutboundAudio(format: .g711_ulaw, speed: 1.25)
            let out = try runOutbound(&pipeline, bytes, chunks: randomChunks(total: bytes.count, maxChunk: maxChunk, using: &rng))
            #expect(out == expected, "chunks up to \(maxChunk)")
        }
    }

    @Test("the playback clock maps played client samples to model time under speed; interrupt drops and restarts")
    func playbackClock() throws {
        let bytes = PCM16.encode(speechLike(seconds: 2, rate: 24000, level: -10))
        var pipeline = try OutboundAudio(format: .g711_ulaw, speed: 1.25, maximumChunkBytes: bytes.count)
        var out = [UInt8](repeating: 0, count: pipeline.maximumOutputCount(forInput: bytes.count))
        _ = try bytes.withUnsafeBufferPointer { c in try out.withUnsafeMutableBufferPointer { try pipeline.append(c, into: $0) } }
        // 0.8 s of µ-law played = 1.0 s of the model's audio at speed 1.25.
        #expect(pipeline.audioEndMs(playedSamples: 6400) == 1000)
        #expect(pipeline.audioEndMs(playedSamples: 10_000_000) <= 2000)
        try pipeline.setSpeed(0.5)
        #expect(pipeline.speed == 1.25)                    // the response in progress keeps its speed
        #expect(pipeline.interrupt(playedSamples: 3200) == 500)
        #expect(pipeline.speed == 0.5 && pipeline.producedSamples == 0)
        let next = try runOutbound(&pipeline, Array(bytes[..<48000]), chunks: [48000])
        #expect(next.count == 16000)                       // 1 s of model audio at 0.5 = 2 s at 8 kHz
        #expect(throws: PipelineError.speed(.speedOutOfRange(2))) { try pipeline.setSpeed(2) }
    }

    @Test("1000 sessions at once give each the events and bytes of the same audio run alone")
    func concurrentSessions() async throws {
        let variants = 8
        let inputs = (0..<variants).map { G711.muLaw.encode(callerTurns(rate: 8000, seed: UInt64($0 * 7 + 1), level: -14 - Double($0))) }
        let replies = (0..<variants).map { PCM16.encode(speechLike(seconds: 0.6, rate: 24000, level: -10, seed: UInt64($0 + 50))) }
        func session(_ v: Int) throws -> (events: [InboundEvent], model: [UInt8], client: [UInt8]) {
            var inbound = try InboundAudio(format: .g711_ulaw)
            var outbound = try OutboundAudio(format: .g711_ulaw, speed: 1.25)
            let (model, events) = try runInbound(&inbound, inputs[v], chunks: Array(repeating: 160, count: inputs[v].count / 160) + [inputs[v].count % 160])
            let client = try runOutbound(&outbound, replies[v], chunks: Array(repeating: 960, count: replies[v].count / 960) + [replies[v].count % 960])
            return (events, model, client)
        }
        let alone = try (0..<variants).map(session)
        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<1000 {
                group.addTask {
                    let result = try session(i % variants)
                    let reference = alone[i % variants]
                    return result.events == reference.events && result.model == reference.model && result.client == reference.client ? 0 : 1
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
        #expect(alone.allSatisfy { $0.events.count == 4 })
    }
}
