import Foundation
import Testing
import TestSupport
import RealtimeAudio
import RealtimeCarrier

/// README's carrier example, compiled and run as written (``readmeMatches`` fails when the two drift apart).
func readmeCarrierExample(messages: [[UInt8]], delta: [UInt8], now: UInt64, send: (String) throws -> Void) throws {
// README BEGIN
    // A Twilio call (import RealtimeCarrier): its messages in, paced frames and marks out, barge-in.
    var codec = MediaStreamCodec(carrier: .twilio)                  // its `start` sets the stream id and format
    var leg = try OutboundLeg(format: .muLaw8k, speed: 1, acknowledged: true)   // Twilio echoes marks
    var inbound = try InboundAudio(format: .g711_ulaw)
    var payload = [UInt8](repeating: 0, count: codec.payloadCapacity)
    var toModel: [UInt8] = []
    var events = InboundEvents()
    for message in messages {                                       // WebSocket text frames, as bytes
        let event = try message.withUnsafeBufferPointer { m in
            try payload.withUnsafeMutableBufferPointer { try codec.decode(m, payload: $0) }   // typed CarrierError
        }
        switch event {
        case .media(let frame):
            inbound.setOutputPlaying(leg.isPlaying(now: now))       // the echo guard follows the leg
            inbound.setEchoGate(leg.echoGate(now: now))
            try inbound.append(Array(payload[..<frame.byteCount]), to: &toModel, events: &events)
            let bargeIn = events.contains { if case .speechStarted = $0 { true } else { false } }
            if bargeIn, let cut = leg.interrupt(now: now) {          // nothing of the reply is sent after this
                try send(codec.clearMessage())
                try send(#"{"type":"conversation.item.truncate","audio_end_ms":\#(cut.audioEndMs)}"#)   // + item_id
            }
        case .mark(let mark):
            leg.acknowledge(mark, now: now)                         // a stale mark of a cleared reply is ignored
        default:
            break
        }
    }
    try delta.withUnsafeBufferPointer { try leg.appendModelAudio(base64: $0, now: now) }   // an output_audio.delta
    try leg.finishResponse(now: now)                                // response.output_audio.done
    leg.poll(now: now) { out in                                     // again at leg.nextDeadline (absolute ns)
        switch out {
        case .frame(let audio, _, _): try? send(codec.mediaMessage(Array(audio)))   // encodeMedia(_:into:) allocates nothing
        case .mark(let mark): try? send(codec.markMessage(mark))
        }
    }
// README END
}

@Suite("README: the carrier leg")
struct ReadmeCarrierTests {
    @Test func runs() throws {
        var sent: [String] = []
        let messages = [Documented.twilioConnected, Documented.twilioStart, Documented.twilioMedia, Documented.twilioMark].map { Array($0.utf8) }
        let delta = Array(Base64.encode(modelSpeech(seconds: 0.3)).utf8)
        try readmeCarrierExample(messages: messages, delta: delta, now: 1_000_000_000) { sent.append($0) }
        // The 300 ms reply is shorter than twice the lead and has ended: its run starts at once with the lead.
        #expect(sent.first == #"{"event":"mark","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","mark":{"name":"rtaudio:1:0"}}"#)
        #expect(sent.filter { $0.contains(#""event":"media""#) }.count == 6)
    }

    @Test func readmeMatches() throws {
        guard let (readme, test) = try readmeBlocks(after: "### A carrier leg", testFile: #filePath) else {
            Issue.record("markers not found")
            return
        }
        #expect(readme == test)
    }
}
