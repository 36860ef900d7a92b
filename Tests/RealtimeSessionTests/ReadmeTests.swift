import Foundation
import Testing
import TestSupport
import RealtimeAudio
import RealtimeSession

/// README's library example, compiled and run as written: the body below is the README's block (its imports are
/// this file's), and ``readmeMatches`` fails when the two drift apart.
func readmeExample(packet: [UInt8], delta: String, chunk: [Float], body: String, appendText: String,
                   samplesThePhonePlayed: Int, send: (String) throws -> Void) throws {
// README BEGIN

    // A caller's G.711 µ-law packet (20 ms at 8 kHz) to Float samples, and back.
    let codes: [UInt8] = packet
    var samples = [Float](repeating: 0, count: codes.count)
    codes.withUnsafeBufferPointer { src in
        samples.withUnsafeMutableBufferPointer { G711.muLaw.decode(src, into: $0) }   // no allocation
    }
    let reencoded = G711.muLaw.encode(samples)                    // array convenience

    // The model's pcm16 audio as it arrives in `response.output_audio.delta` events: base64, then pcm16.
    let bytes = try Base64.decode(delta)                           // throws Base64Error naming the bad offset
    var decoder = PCM16StreamDecoder()                             // carries an odd byte between chunks
    var out = [Float](repeating: 0, count: decoder.maximumOutputCount(forInput: 32768))   // sized once, the largest chunk
    let n = try bytes.withUnsafeBufferPointer { src in
        try out.withUnsafeMutableBufferPointer { try decoder.decode(src, into: $0) }  // PCM16Error.outputTooSmall past it
    }

    // 24 kHz model audio to an 8 kHz caller, 20 ms at a time; one resampler per stream, filter tables shared.
    var resampler = try Resampler(from: .hz24000, to: .hz8000)          // quality: .voice
    // A bound valid in every state of the stream: sized once, every 480-sample chunk is consumed whole.
    var out8k = [Float](repeating: 0, count: resampler.maximumOutputCount(forInput: 480))
    let (consumed, produced) = chunk.withUnsafeBufferPointer { src in
        out8k.withUnsafeMutableBufferPointer { resampler.process(src, into: $0) }   // no allocation
    }
    // At the end of the turn: drain the lookahead (`finish`, within the bound at 0), or drop it on barge-in (`reset`).
    var tail8k = [Float](repeating: 0, count: resampler.maximumOutputCount(forInput: 0))
    let drained = tail8k.withUnsafeMutableBufferPointer { resampler.finish(into: $0) }

    // The assistant's reply at the session's `speed`, pitch kept; a new speed waits for the end of the turn.
    var scaler = try SpeedScaler(sampleRate: .hz24000, speed: 1.25)
    var slowed = [Float](repeating: 0, count: scaler.maximumOutputCount(forInput: 480))   // valid at any speed
    let (taken, made) = chunk.withUnsafeBufferPointer { src in
        slowed.withUnsafeMutableBufferPointer { scaler.process(src, into: $0) }     // no allocation
    }
    // End of the reply: `finish` writes the rest, so the turn lasts exactly round(n / speed) samples.

    // A whole session from its JSON: one pipeline each way.
    let session = try Session(json: body)                       // throws ValidationError listing every violation
    var inbound = try session.makeInbound()                     // input_audio_format, turn_detection
    var outbound = try session.makeOutbound()                   // output_audio_format, speed
    var events = InboundEvents()
    // The safe entry points: base64 text or bytes in, model bytes appended to an array kept per session (its
    // capacity reused: no allocation once warm). Any legal chunk fits; a bad one is a typed PipelineError.
    var toModel: [UInt8] = []
    toModel.removeAll(keepingCapacity: true)
    try inbound.append(base64: appendText, to: &toModel, events: &events)   // an input_audio_buffer.append's "audio"
    for event in events { try send(event.json) }                // input_audio_buffer.speech_started, ...
    var toCaller: [UInt8] = []
    try outbound.append(base64: delta, to: &toCaller)           // the caller's format, at the session's speed
    // The pointer forms take a buffer sized once with `maximumOutputBytes`: every legal chunk and speed fits.
    var buffer = [UInt8](repeating: 0, count: inbound.maximumOutputBytes)
    let written = try codes.withUnsafeBufferPointer { src in
        try buffer.withUnsafeMutableBufferPointer { try inbound.append(src, into: $0, events: &events) }
    }
    // On barge-in: the truncate point in the model's audio, whatever the speed.
    let audioEndMs = outbound.interrupt(playedSamples: samplesThePhonePlayed)

    // Turn detection on the caller's audio; `process` stops right after a frame that fires an event.
    var vad = try ServerVAD(sampleRate: .hz24000,
                            configuration: ServerVADConfiguration(threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: 500))
    try chunk.withUnsafeBufferPointer { all in
        var rest = all                                          // any chunk size
        while !rest.isEmpty {
            let (used, event) = vad.process(rest)
            if case .speechStarted? = event {
                // Hand the model the turn from audio_start_ms on: pre-roll included, the first syllable kept.
                var turn = [Float](repeating: 0, count: vad.turnAudioCount)
                _ = turn.withUnsafeMutableBufferPointer { vad.copyTurnAudio(into: $0) }
            }
            if let event { try send(event.json) }
            rest = UnsafeBufferPointer(rebasing: rest[used...])
        }
    }
// README END
    _ = (reencoded, n, consumed, produced, drained, taken, made, written, audioEndMs, toCaller)
}

@Suite("README")
struct ReadmeTests {
    @Test("the library example runs on a real call: µ-law packet, a model delta, a session")
    func runs() throws {
        // Silence, 1.2 s of a voiced sound (140 Hz and its harmonics, syllable-rate modulation), silence.
        func turn(rate: Int) -> [Float] {
            (0..<(3 * rate)).map { i in
                let t = Double(i) / Double(rate)
                guard t >= 0.6, t < 1.8 else { return 0 }
                let syllables = 0.55 + 0.45 * sin(2 * .pi * 4 * t)
                return Float(0.1 * syllables * (1...12).reduce(0.0) { $0 + sin(2 * .pi * 140 * Double($1) * t) / Double($1) })
            }
        }
        let voice = turn(rate: 24000)
        let packet = G711.muLaw.encode(Array(turn(rate: 8000)[9600..<9760]))
        let delta = Base64.encode(PCM16.encode(Array(voice[0..<4800])))
        var sent: [String] = []
        let session = #"{"input_audio_format":"g711_ulaw","output_audio_format":"g711_ulaw","speed":1.25}"#
        // 20 ms chunks as the example's comments size them, then the whole call as one chunk ("any chunk size"):
        // the detector then sees the turn.
        for start in stride(from: 0, to: 4800, by: 480) {
            try readmeExample(packet: packet, delta: delta, chunk: Array(voice[start..<(start + 480)]), body: session,
                              appendText: Base64.encode(packet), samplesThePhonePlayed: 800) { sent.append($0) }
        }
        try readmeExample(packet: packet, delta: delta, chunk: voice, body: session, appendText: Base64.encode(packet),
                          samplesThePhonePlayed: 800) { sent.append($0) }
        #expect(sent.contains { $0.contains("speech_started") } && sent.contains { $0.contains("speech_stopped") }, "\(sent)")
    }

    @Test("README's block is this file's example, line for line")
    func readmeMatches() throws {
        guard let (readme, test) = try readmeBlocks(after: "## Library", testFile: #filePath) else {
            Issue.record("markers not found")
            return
        }
        #expect(readme == test)
    }
}
