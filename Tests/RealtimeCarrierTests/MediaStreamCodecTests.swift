import Foundation
import Testing
import TestSupport
import RealtimeAudio
@testable import RealtimeCarrier

/// The carriers' documented message examples (Twilio Media Streams "WebSocket messages", Telnyx "Media
/// Streaming"), as their pages print them; where a page's example is not valid JSON (Twilio's `start` has
/// trailing commas) the commas are dropped and nothing else changes.
enum Documented {
    static let twilioConnected = #"""
    {
     "event": "connected",
     "protocol": "Call",
     "version": "1.0.0"
    }
    """#
    static let twilioStart = #"""
    {
     "event": "start",
     "sequenceNumber": "1",
     "start": {
       "accountSid": "AC123",
       "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
       "callSid": "CA123",
       "tracks": [ "inbound", "outbound" ],
       "mediaFormat": {
         "encoding": "audio/x-mulaw",
         "sampleRate": 8000,
         "channels": 1
       },
       "customParameters": {
         "FirstName": "Jane",
         "LastName": "Doe",
         "RemoteParty": "Bob"
       }
     },
     "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0"
    }
    """#
    static let payload = "no+JhoaJjpzSHxAKBgYJDhtEopGKh4aIjZm7JhILBwYIDRg1qZSLh4aIjJevLBUMBwYHDBUsr5eMiIaHi5SpNRgNCAYHCxIm"
    static let twilioMedia = #"""
    {
     "event": "media",
     "sequenceNumber": "3",
     "media": {
       "track": "outbound",
       "chunk": "1",
       "timestamp": "5",
       "payload": "\#(payload)"
     },
     "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0"
    }
    """#
    static let twilioMark = #"""
    {
     "event": "mark",
     "sequenceNumber": "4",
     "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
     "mark": {
       "name": "my label"
     }
    }
    """#
    static let twilioDTMF = #"""
    {
     "event": "dtmf",
     "streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0",
     "sequenceNumber":"5",
     "dtmf": {
         "track":"inbound_track",
         "digit": "1"
     }
    }
    """#
    static let twilioStop = #"""
    {
     "event": "stop",
     "sequenceNumber": "5",
     "stop": {
        "accountSid": "AC123",
        "callSid": "CA123"
     },
     "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0"
    }
    """#
    /// Outbound, as documented (pretty-printed there; we write the compact form).
    static let twilioOutboundMedia = #"{"event":"media","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","media":{"payload":"\#(payload)"}}"#
    static let twilioOutboundMark = #"{"event":"mark","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","mark":{"name":"my label"}}"#
    static let twilioOutboundClear = #"{"event":"clear","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"}"#

    static let telnyxStream = "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"
    static let telnyxConnected = #"{"event": "connected", "version": "1.0.0"}"#
    static let telnyxStart = #"""
    {
      "event": "start",
      "sequence_number": "1",
      "start": {
        "user_id": "3E6F995F-85F7-4705-9741-53B116D28237",
        "call_control_id": "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ",
        "client_state": "aGF2ZSBhIG5pY2UgZGF5ID1d",
        "media_format": {
          "encoding": "PCMU",
          "sample_rate": 8000,
          "channels": 1
        }
      },
      "stream_id": "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"
    }
    """#
    static let telnyxMedia = #"""
    {
      "event": "media",
      "sequence_number": "4",
      "media": {
        "track": "inbound",
        "chunk": "2",
        "timestamp": "5",
        "payload": "\#(payload)"
      },
      "stream_id": "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"
    }
    """#
    static let telnyxMark = #"""
    {
      "event": "mark",
      "sequence_number": "4",
      "stream_id": "32DE0DEA-53CB-4B21-89A4-9E1819C043BC",
      "mark": {
        "name": "my label"
      }
    }
    """#
    static let telnyxDTMF = #"""
    {
      "event": "dtmf",
      "stream_id": "32DE0DEA-53CB-4B21-89A4-9E1819C043BC",
      "occurred_at": "2022-06-08T10:47:35.214473Z",
      "sequence_number": "5",
      "dtmf": {
        "digit": "1"
      }
    }
    """#
    static let telnyxError = #"""
    {
      "event": "error",
      "sequence_number": "5",
      "stream_id": "32DE0DEA-53CB-4B21-89A4-9E1819C043BC",
      "payload": {
        "code": 100002,
        "title": "unknown_error",
        "detail": "An unknown error occurred"
      }
    }
    """#
    static let telnyxStop = #"""
    {
      "event": "stop",
      "sequence_number": "5",
      "stop": {
        "user_id": "3E6F995F-85F7-4705-9741-53B116D28237",
        "call_control_id": "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ"
      },
      "stream_id": "32DE0DEA-53CB-4B21-89A4-9E1819C043BC"
    }
    """#
    static let telnyxOutboundMedia = #"{"event":"media","media":{"payload":"\#(payload)"}}"#
    static let telnyxOutboundMark = #"{"event":"mark","mark":{"name":"my label"}}"#
    static let telnyxOutboundClear = #"{"event":"clear"}"#

    /// The documented payload's bytes.
    static var payloadBytes: [UInt8] { try! Base64.decode(payload) }
}

@Suite("Twilio Media Streams")
struct TwilioCodecTests {
    @Test func documentedInboundMessages() throws {
        var codec = MediaStreamCodec(carrier: .twilio)
        #expect(try codec.decode(Documented.twilioConnected).event == .connected(protocolName: "Call", version: "1.0.0"))
        let start = try codec.decode(Documented.twilioStart).event
        #expect(start == .start(CallStart(streamID: "MZ18ad3ab5a668481ce02b83e7395059f0", callID: "CA123", accountID: "AC123",
                                          tracks: ["inbound", "outbound"],
                                          customParameters: ["FirstName": "Jane", "LastName": "Doe", "RemoteParty": "Bob"],
                                          format: .muLaw8k)))
        let (media, payload) = try codec.decode(Documented.twilioMedia)
        #expect(media == .media(MediaFrame(track: .outbound, sequenceNumber: 3, chunk: 1, timestampMs: 5, byteCount: 72)))
        #expect(payload == Documented.payloadBytes)
        #expect(try codec.decode(Documented.twilioMark).event == .mark(.named("my label")))
        #expect(try codec.decode(Documented.twilioDTMF).event == .dtmf(digit: "1", track: "inbound_track"))
        #expect(try codec.decode(Documented.twilioStop).event == .stop)
    }

    @Test func documentedOutboundMessagesByteForByte() throws {
        var codec = MediaStreamCodec(carrier: .twilio)
        _ = try codec.decode(Documented.twilioStart)
        #expect(try codec.mediaMessage(Documented.payloadBytes) == Documented.twilioOutboundMedia)
        #expect(try codec.markMessage(.named("my label")) == Documented.twilioOutboundMark)
        #expect(try codec.clearMessage() == Documented.twilioOutboundClear)
        // The byte forms are the same messages.
        #expect(try Documented.payloadBytes.withUnsafeBufferPointer { try codec.mediaMessageBytes($0) } == Array(Documented.twilioOutboundMedia.utf8))
        #expect(try codec.markMessageBytes(.named("my label")) == Array(Documented.twilioOutboundMark.utf8))
        #expect(try codec.clearMessageBytes() == Array(Documented.twilioOutboundClear.utf8))
        #expect(try codec.markMessage(.pacer(response: 12, sample: 3200))
                == #"{"event":"mark","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0","mark":{"name":"rtaudio:12:3200"}}"#)
    }

    @Test func pacerMarksComeBackTyped() throws {
        var codec = MediaStreamCodec(carrier: .twilio, streamID: "MZ1")
        let echo = #"{"event":"mark","sequenceNumber":"9","streamSid":"MZ1","mark":{"name":"rtaudio:3:16000"}}"#
        #expect(try codec.decode(echo).event == .mark(.pacer(response: 3, sample: 16000)))
        // Near misses stay foreign names.
        for name in ["rtaudio:3:", "rtaudio::1", "rtaudio:03:1", "rtaudio:3:1x", "rtaudio:3", "Rtaudio:3:1", "rtaudio:99999999999999999999:1"] {
            let message = #"{"event":"mark","streamSid":"MZ1","mark":{"name":"\#(name)"}}"#
            #expect(try codec.decode(message).event == .mark(.named(name)), "\(name)")
        }
    }

    @Test func outboundThenInboundIsTheSameAudio() throws {
        var codec = MediaStreamCodec(carrier: .twilio, streamID: "MZ\"quoted\\")
        var rng = SplitMix64(seed: 7)
        for count in [0, 1, 2, 3, 159, 160, 161, 1000, 16384] {
            let audio = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let message = try codec.mediaMessage(audio)
            // The peer's JSON (ours) must be the JSON anyone's parser reads: check it with the strict reader.
            let (event, back) = try codec.decode(message)
            #expect(event == .media(MediaFrame(track: .inbound, byteCount: count)))
            #expect(back == audio)
        }
    }

    @Test func escapedSlashesInThePayloadDecode() throws {
        var codec = MediaStreamCodec(carrier: .twilio, streamID: "MZ1")
        // Some JSON encoders write `/` as `\/`; the payload must still decode, to the same bytes.
        let audio: [UInt8] = [0xff, 0xff, 0xff, 0xfe, 0xfd, 0xfc, 0x3f, 0xff]
        let text = Base64.encode(audio)
        #expect(text.contains("/"))
        let escaped = text.replacingOccurrences(of: "/", with: "\\/")
        let (event, payload) = try codec.decode(#"{"event":"media","streamSid":"MZ1","media":{"payload":"\#(escaped)"}}"#)
        #expect(event == .media(MediaFrame(track: .inbound, byteCount: audio.count)))
        #expect(payload == audio)
    }

    @Test func outboundNeedsAStream() {
        var codec = MediaStreamCodec(carrier: .twilio)
        #expect(throws: CarrierError.noStream) { try codec.mediaMessage([1, 2, 3]) }
        #expect(throws: CarrierError.noStream) { try codec.clearMessage() }
        #expect(throws: CarrierError.noStream) { try codec.markMessage(.named("x")) }
    }
}

@Suite("Telnyx media streaming")
struct TelnyxCodecTests {
    @Test func documentedInboundMessages() throws {
        var codec = MediaStreamCodec(carrier: .telnyx)
        #expect(try codec.decode(Documented.telnyxConnected).event == .connected(protocolName: nil, version: "1.0.0"))
        let start = try codec.decode(Documented.telnyxStart).event
        #expect(start == .start(CallStart(streamID: Documented.telnyxStream,
                                          callID: "v2:T02llQxIyaRkhfRKxgAP8nY511EhFLizdvdUKJiSw8d6A9BborherQ",
                                          accountID: "3E6F995F-85F7-4705-9741-53B116D28237", format: .muLaw8k)))
        let (media, payload) = try codec.decode(Documented.telnyxMedia)
        #expect(media == .media(MediaFrame(track: .inbound, sequenceNumber: 4, chunk: 2, timestampMs: 5, byteCount: 72)))
        #expect(payload == Documented.payloadBytes)
        #expect(try codec.decode(Documented.telnyxMark).event == .mark(.named("my label")))
        #expect(try codec.decode(Documented.telnyxDTMF).event == .dtmf(digit: "1", track: nil))
        #expect(try codec.decode(Documented.telnyxError).event
                == .carrierError(code: 100002, title: "unknown_error", detail: "An unknown error occurred"))
        #expect(try codec.decode(Documented.telnyxStop).event == .stop)
    }

    @Test func documentedOutboundMessagesByteForByte() throws {
        var codec = MediaStreamCodec(carrier: .telnyx)
        _ = try codec.decode(Documented.telnyxStart)
        #expect(try codec.mediaMessage(Documented.payloadBytes) == Documented.telnyxOutboundMedia)
        #expect(try codec.markMessage(.named("my label")) == Documented.telnyxOutboundMark)
        #expect(try codec.clearMessage() == Documented.telnyxOutboundClear)
    }

    @Test(arguments: [("PCMU", 8000, CarrierMediaFormat.Encoding.muLaw), ("PCMA", 8000, .aLaw), ("PCMU", 16000, .muLaw),
                      ("PCMA", 16000, .aLaw), ("L16", 8000, .linear16BigEndian), ("L16", 16000, .linear16BigEndian)])
    func everyDocumentedFormat(name: String, hertz: Int, encoding: CarrierMediaFormat.Encoding) throws {
        var codec = MediaStreamCodec(carrier: .telnyx)
        let start = #"{"event":"start","sequence_number":"1","start":{"media_format":{"encoding":"\#(name)","sample_rate":\#(hertz),"channels":1}},"stream_id":"S"}"#
        guard case .start(let s) = try codec.decode(start).event else { Issue.record("not a start"); return }
        #expect(s.format == CarrierMediaFormat(encoding: encoding, sampleRate: try SampleRate(hertz: hertz)))
        #expect(codec.format == s.format)
    }

    @Test func l16IsBigEndianOnTheWireAndLittleEndianToUs() throws {
        var codec = MediaStreamCodec(carrier: .telnyx)
        _ = try codec.decode(#"{"event":"start","start":{"media_format":{"encoding":"L16","sample_rate":16000,"channels":1}},"stream_id":"S"}"#)
        let samples: [Int16] = [0, 1, -1, 0x1234, .max, .min, -2]
        let bigEndian = samples.flatMap { [UInt8(truncatingIfNeeded: $0 >> 8), UInt8(truncatingIfNeeded: $0)] }
        let littleEndian = samples.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
        let message = #"{"event":"media","sequence_number":"7","media":{"payload":"\#(Base64.encode(bigEndian))"},"stream_id":"S"}"#
        let (event, payload) = try codec.decode(message)
        #expect(event == .media(MediaFrame(track: .inbound, sequenceNumber: 7, byteCount: 14)))
        #expect(payload == littleEndian)
        // Outbound: our little-endian pcm16 goes out big-endian.
        #expect(try codec.mediaMessage(littleEndian) == #"{"event":"media","media":{"payload":"\#(Base64.encode(bigEndian))"}}"#)
        // An odd byte count is not whole samples.
        #expect(throws: CarrierError.invalidField("media.payload", reason: "L16 audio of 3 bytes (not whole samples)")) {
            try codec.decode(#"{"event":"media","media":{"payload":"AAAA"},"stream_id":"S"}"#)
        }
    }

    @Test func sequenceNumbersAreExposedOutOfOrder() throws {
        var codec = MediaStreamCodec(carrier: .telnyx, streamID: "S")
        for sequence in [5, 3, 4, 9, 2] {
            let message = #"{"event":"media","sequence_number":"\#(sequence)","media":{"track":"inbound","chunk":"\#(sequence)","timestamp":"\#(sequence * 20)","payload":"AAAA"},"stream_id":"S"}"#
            #expect(try codec.decode(message).event
                    == .media(MediaFrame(track: .inbound, sequenceNumber: sequence, chunk: sequence, timestampMs: sequence * 20, byteCount: 3)))
        }
    }
}

@Suite("Carrier messages from a careless or hostile peer")
struct HostileMessageTests {
    private func decode(_ codec: inout MediaStreamCodec, _ text: String) -> Result<CarrierEvent, CarrierError> {
        do { return .success(try codec.decode(text).event) } catch { return .failure(error) }
    }

    @Test func malformedJSONNamesItsOffset() {
        var codec = MediaStreamCodec(carrier: .twilio, streamID: "MZ1")
        let cases: [(String, Int)] = [
            (#"{"event":"media""#, 16), (#"{"event":"media",}"#, 17), (#"{"event" "media"}"#, 9), ("", 0),
            (#"{"event":"media"} x"#, 18), (#"{"event":"me\qdia"}"#, 13), (#"{"event":tru}"#, 9), ("[1,2", 4),
        ]
        for (text, offset) in cases {
            guard case .failure(.malformedJSON(let error)) = decode(&codec, text) else {
                Issue.record("\(text) was not malformed JSON"); continue
            }
            #expect(error.offset == offset, "\(text): \(error)")
        }
    }

    @Test func notEventsAndUnknownEvents() {
        var codec = MediaStreamCodec(carrier: .twilio, streamID: "MZ1")
        #expect(decode(&codec, "[1,2]") == .failure(.notAnEvent))
        #expect(decode(&codec, "42") == .failure(.notAnEvent))
        #expect(decode(&codec, #"{"event":7}"#) == .failure(.notAnEvent))
        #expect(decode(&codec, #"{"streamSid":"MZ1"}"#) == .failure(.notAnEvent))
        #expect(decode(&codec, #"{"event":"transcription","streamSid":"MZ1","x":[{}]}"#) == .success(.unknown(event: "transcription")))
    }

    @Test func badBase64NamesWhereInTheMessage() {
        var codec = MediaStreamCodec(carrier: .twilio, streamID: "MZ1")
        let text = #"{"event":"media","streamSid":"MZ1","media":{"payload":"AAAA*AAA"}}"#
        let start = Array(text.utf8).firstIndex(of: UInt8(ascii: "*"))! - 4
        guard case .failure(.base64(let error, let offset)) = decode(&codec, text) else { Issue.record("no base64 error"); return }
        #expect(offset == start)
        #expect(error == .invalidCharacter(UInt8(ascii: "*"), offset: 4))
        #expect(decode(&codec, #"{"event":"media","streamSid":"MZ1","media":{"payload":"AAA"}}"#) == .failure(.base64(.invalidLength(3), payloadOffset: 55)))
    }

    @Test func fieldsOfTheWrongShape() {
        var codec = MediaStreamCodec(carrier: .twilio, streamID: "MZ1")
        #expect(decode(&codec, #"{"event":"media","streamSid":"MZ1"}"#) == .failure(.missingField("media.payload")))
        #expect(decode(&codec, #"{"event":"media","streamSid":"MZ1","media":{"payload":12}}"#) == .failure(.missingField("media.payload")))
        #expect(decode(&codec, #"{"event":"media","streamSid":"MZ1","media":"AAAA"}"#) == .failure(.missingField("media.payload")))
        #expect(decode(&codec, #"{"event":"media","streamSid":"MZ1","media":{"payload":"AAAA","track":"both"}}"#)
                == .failure(.invalidField("media.track", reason: "'both' is not inbound or outbound")))
        #expect(decode(&codec, #"{"event":"media","streamSid":"MZ1","media":{"payload":"AAAA","chunk":"-1"}}"#)
                == .failure(.invalidField("media.chunk", reason: "not a non-negative integer")))
        #expect(decode(&codec, #"{"event":"media","streamSid":"MZ1","sequenceNumber":1.5,"media":{"payload":"AAAA"}}"#)
                == .failure(.invalidField("sequenceNumber", reason: "not a non-negative integer")))
        #expect(decode(&codec, #"{"event":"mark","streamSid":"MZ1"}"#) == .failure(.missingField("mark.name")))
        #expect(decode(&codec, #"{"event":"dtmf","streamSid":"MZ1","dtmf":{"digit":"12"}}"#)
                == .failure(.invalidField("dtmf.digit", reason: "'12' is not a DTMF digit")))
        #expect(decode(&codec, #"{"event":"start","start":{"mediaFormat":{"encoding":"audio/opus","sampleRate":48000}},"streamSid":"MZ2"}"#)
                == .failure(.unsupportedFormat("audio/opus")))
        #expect(decode(&codec, #"{"event":"start","start":{"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":2}},"streamSid":"MZ2"}"#)
                == .failure(.invalidField("start.mediaFormat.channels", reason: "2 channels (telephony legs are mono)")))
        #expect(decode(&codec, #"{"event":"start","start":{"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":7}},"streamSid":"MZ2"}"#)
                == .failure(.invalidField("start.mediaFormat.sampleRate", reason: "7 is not a sample rate")))
        #expect(decode(&codec, #"{"event":"start","start":{}}"#) == .failure(.missingField("start.streamSid")))
        // None of those changed the stream.
        #expect(decode(&codec, #"{"event":"media","streamSid":"MZ1","media":{"payload":"AAAA"}}"#)
                == .success(.media(MediaFrame(track: .inbound, byteCount: 3))))
    }

    @Test func mediaForAnotherStreamOrBeforeAnyStart() {
        var fresh = MediaStreamCodec(carrier: .twilio)
        #expect(decode(&fresh, #"{"event":"media","streamSid":"MZ1","media":{"payload":"AAAA"}}"#) == .failure(.unknownStream("MZ1")))
        var codec = MediaStreamCodec(carrier: .twilio, streamID: "MZ1")
        #expect(decode(&codec, #"{"event":"media","streamSid":"MZ2","media":{"payload":"AAAA"}}"#) == .failure(.unknownStream("MZ2")))
        #expect(decode(&codec, #"{"event":"mark","streamSid":"MZ2","mark":{"name":"x"}}"#) == .failure(.unknownStream("MZ2")))
        // The same id written with escapes is the same stream.
        #expect(decode(&codec, #"{"event":"media","streamSid":"M\u005a1","media":{"payload":"AAAA"}}"#)
                == .success(.media(MediaFrame(track: .inbound, byteCount: 3))))
    }

    @Test func payloadsBeyondTheLimitAreRefused() {
        var codec = MediaStreamCodec(carrier: .twilio, streamID: "MZ1", maximumPayloadBytes: 160)
        let ok = Base64.encode([UInt8](repeating: 0x7f, count: 160))
        let big = Base64.encode([UInt8](repeating: 0x7f, count: 163))
        #expect(decode(&codec, #"{"event":"media","streamSid":"MZ1","media":{"payload":"\#(ok)"}}"#)
                == .success(.media(MediaFrame(track: .inbound, byteCount: 160))))
        #expect(decode(&codec, #"{"event":"media","streamSid":"MZ1","media":{"payload":"\#(big)"}}"#)
                == .failure(.payloadTooLarge(bytes: 163, maximum: 160)))
        let huge = String(repeating: "A", count: 1 << 20)
        #expect(decode(&codec, #"{"event":"media","streamSid":"MZ1","media":{"payload":"\#(huge)"}}"#)
                == .failure(.payloadTooLarge(bytes: 786_432, maximum: 160)))
        // A buffer smaller than the payload is refused, not overrun.
        var payload = [UInt8](repeating: 0, count: 10)
        let message = Array(#"{"event":"media","streamSid":"MZ1","media":{"payload":"\#(ok)"}}"#.utf8)
        #expect(throws: CarrierError.payloadTooLarge(bytes: 160, maximum: 10)) {
            try message.withUnsafeBufferPointer { m in try payload.withUnsafeMutableBufferPointer { try codec.decode(m, payload: $0) } }
        }
        #expect(throws: CarrierError.payloadTooLarge(bytes: 161, maximum: 160)) { try codec.mediaMessage([UInt8](repeating: 0, count: 161)) }
    }

    @Test func deepNestingAndBadUTF8AreRefused() {
        var codec = MediaStreamCodec(carrier: .twilio, streamID: "MZ1")
        let deep = #"{"event":"x","y":"# + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}"
        guard case .failure(.malformedJSON) = decode(&codec, deep) else { Issue.record("deep nesting accepted"); return }
        var bytes = Array(#"{"event":"media","streamSid":"MZ1","x":"ab","media":{"payload":"AAAA"}}"#.utf8)
        bytes[41] = 0xC0   // an overlong encoding inside a string
        var payload = [UInt8](repeating: 0, count: codec.payloadCapacity)
        #expect(throws: CarrierError.self) {
            try bytes.withUnsafeBufferPointer { m in try payload.withUnsafeMutableBufferPointer { try codec.decode(m, payload: $0) } }
        }
    }

    /// Every prefix and every single-byte corruption of every documented message: a typed outcome, never a trap.
    @Test func everyPrefixAndCorruptionOfTheDocumentedMessages() {
        let messages = [Documented.twilioConnected, Documented.twilioStart, Documented.twilioMedia, Documented.twilioMark,
                        Documented.twilioDTMF, Documented.twilioStop]
        var payload = [UInt8](repeating: 0, count: 16384)
        var rng = SplitMix64(seed: 23)
        var outcomes = 0
        for text in messages {
            let bytes = Array(text.utf8)
            for cut in 0...bytes.count {
                var codec = MediaStreamCodec(carrier: .twilio, streamID: "MZ18ad3ab5a668481ce02b83e7395059f0")
                let result = bytes[..<cut].withUnsafeBufferPointer { m in
                    payload.withUnsafeMutableBufferPointer { p in Result { () throws(CarrierError) in try codec.decode(m, payload: p) } }
                }
                if cut < bytes.count, case .success = result { Issue.record("a prefix of \(cut) bytes decoded") }
                outcomes += 1
            }
            for _ in 0..<400 {
                var corrupt = bytes
                corrupt[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                var codec = MediaStreamCodec(carrier: .twilio, streamID: "MZ18ad3ab5a668481ce02b83e7395059f0")
                _ = corrupt.withUnsafeBufferPointer { m in
                    payload.withUnsafeMutableBufferPointer { p in Result { () throws(CarrierError) in try codec.decode(m, payload: p) } }
                }
                outcomes += 1
            }
        }
        #expect(outcomes > 2000)
    }
}
