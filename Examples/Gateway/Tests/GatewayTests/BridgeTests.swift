import Foundation
@testable import GatewayCore
@testable import GatewayHarness
import RealtimeAudio
import RealtimeCarrier
import RealtimeSession
import Testing

/// The call loop offline: Twilio's messages and the model's events in, on a simulated clock.
struct BridgeDriver {
    var bridge: CallBridge
    var now: UInt64 = 1_000_000_000
    var out: [BridgeAction] = []
    let sid = "MZ00000000000000000000000000000001"

    init(turnTaking: TurnTaking, session: String = #"{"type":"realtime"}"#, outboundFrameMs: Int = 40) throws {
        bridge = try CallBridge(session: try Session(json: session), turnTaking: turnTaking, outboundFrameMs: outboundFrameMs)
        out = bridge.open()
        carrier(#"{"event":"start","start":{"streamSid":"\#(sid)","callSid":"CA1","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"\#(sid)"}"#)
    }

    mutating func carrier(_ text: String) { bridge.carrier(text, now: now, into: &out) }
    mutating func model(_ text: String) { bridge.model(text, now: now, into: &out) }
    /// The model's frame as the gateway hands it over: bytes.
    mutating func modelBytes(_ text: String) {
        var text = text
        text.withUTF8 { bridge.model(UnsafeRawBufferPointer($0), now: now, into: &out) }
    }

    /// One 20 ms caller frame (with its chunk number, when given), then the clock moves 20 ms and the leg is polled.
    mutating func frame(_ samples: ArraySlice<Float>, chunk: Int? = nil) {
        let number = chunk.map { #""chunk":"\#($0)","# } ?? ""
        carrier(#"{"event":"media","media":{"track":"inbound",\#(number)"payload":"\#(Base64.encode(G711.muLaw.encode(Array(samples))))"},"streamSid":"\#(sid)"}"#)
        now += 20_000_000
        bridge.poll(now: now, into: &out)
    }

    mutating func take() -> [BridgeAction] { defer { out.removeAll() }; return out }
}

func modelTexts(_ actions: [BridgeAction]) -> [String] { actions.compactMap { if case .toModel(let t) = $0 { String(decoding: t, as: UTF8.self) } else { nil } } }
func carrierTexts(_ actions: [BridgeAction]) -> [String] { actions.compactMap { if case .toCarrier(let t) = $0 { String(decoding: t, as: UTF8.self) } else { nil } } }
/// The audio of the `media` messages among `texts`, in ms (µ-law at 8 kHz).
func mediaMs(_ texts: [String]) throws -> Int {
    try texts.filter { $0.hasPrefix(#"{"event":"media""#) }.map { text -> Int in
        let payload = try #require(text.range(of: #""payload":""#).map { text[$0.upperBound...].prefix { $0 != "\"" } })
        return try Base64.decode(String(payload)).count
    }.reduce(0, +) / 8
}

func delta(_ item: String, _ bytes: [UInt8]) -> String {
    #"{"type":"response.output_audio.delta","response_id":"r","item_id":"\#(item)","delta":"\#(Base64.encode(bytes))"}"#
}

@Suite("The call bridge, offline")
struct BridgeTests {
    @Test("local turn taking: the session goes out with turn detection off; a turn's end commits and asks for a response")
    func localTurn() throws {
        var d = try BridgeDriver(turnTaking: .local)
        let opened = modelTexts(d.take())
        #expect(opened.count == 1 && opened[0].contains(#""turn_detection":null"#) && opened[0].contains(#""type":"session.update""#))
        let caller = CallSignals.speech(seconds: 1.2) + CallSignals.silence(seconds: 1.2)
        for k in stride(from: 0, to: caller.count, by: 160) { d.frame(caller[k..<(k + 160)]) }
        let sent = modelTexts(d.take())
        #expect(sent.filter { $0.hasPrefix(#"{"type":"input_audio_buffer.append""#) }.count == caller.count / 160)
        #expect(sent.contains(ClientEvent.commit) && sent.contains(ClientEvent.responseCreate))
        #expect(d.bridge.statistics.localTurns == 1)
    }

    @Test("server turn taking: the model's speech_started clears the carrier, truncates the item, drops its late deltas",
          arguments: [20, 40, 60])
    func serverBargeIn(frameMs: Int) throws {
        var d = try BridgeDriver(turnTaking: .server, outboundFrameMs: frameMs)
        _ = d.take()
        // 2 s of reply; play 1 s of it.
        let reply = [UInt8](repeating: 0x10, count: 96_000)
        d.model(delta("item_1", reply))
        for _ in 0..<50 { d.frame(CallSignals.silence(seconds: 0.02)[...]) }
        let played = carrierTexts(d.take())
        let media = try mediaMs(played)
        #expect(media >= 1000 && media <= 1200, "\(media) ms released in 1 s, frames of \(frameMs) ms")
        // Twilio echoes the marks up to what it played (800 ms: about 1 s minus its lead).
        for name in played.compactMap({ text -> String? in
            guard let r = text.range(of: #""name":""#) else { return nil }
            return String(text[r.upperBound...].prefix { $0 != "\"" })
        }) where (pacerMark(name)?.1 ?? 0) <= 6400 {
            d.carrier(#"{"event":"mark","mark":{"name":"\#(name)"},"streamSid":"\#(d.sid)"}"#)
        }
        d.model(#"{"type":"input_audio_buffer.speech_started","audio_start_ms":1000,"item_id":"in_1"}"#)
        let cut = d.take()
        #expect(carrierTexts(cut) == [#"{"event":"clear","streamSid":"\#(d.sid)"}"#])
        let truncate = try #require(modelTexts(cut).first)
        #expect(truncate.contains(#""item_id":"item_1""#) && truncate.contains("conversation.item.truncate"))
        let end = try #require(d.bridge.statistics.lastTruncation?.audioEndMs)
        #expect(end >= 700 && end <= 1000, "audio_end_ms \(end)")
        // The rest of the interrupted reply arrives late: none of it reaches the caller.
        d.model(delta("item_1", reply))
        for _ in 0..<20 { d.frame(CallSignals.silence(seconds: 0.02)[...]) }
        #expect(carrierTexts(d.take()).isEmpty)
        #expect(d.bridge.statistics.lateDeltas == 1 && d.bridge.statistics.bargeIns == 1)
    }

    @Test("a model far ahead of real time waits in a bounded backlog; beyond it audio is refused, counted and logged")
    func backlog() throws {
        var d = try BridgeDriver(turnTaking: .server)
        _ = d.take()
        let second = [UInt8](repeating: 0x20, count: 48_000)
        // 5 s fit the pacer's queue and 60 s the backlog; the rest is refused.
        for _ in 0..<100 { d.model(delta("item_1", second)) }
        // The queue takes 5 s of the carrier's audio less one chunk's room, the backlog 60 s of the model's.
        #expect(d.bridge.statistics.droppedModelBytes >= 34 * 48_000 && d.bridge.statistics.droppedModelBytes <= 36 * 48_000,
                "\(d.bridge.statistics.droppedModelBytes) bytes refused")
        let logs = d.take().filter { if case .log(true, let m) = $0 { m.contains("backlog") } else { false } }
        #expect(!logs.isEmpty)
    }

    @Test("a model that stays ahead for minutes: what the leg took is not held, memory stays bounded")
    func longReply() throws {
        var d = try BridgeDriver(turnTaking: .server)
        _ = d.take()
        // 100 ms deltas, 1.25x faster than real time, for 4 minutes of reply: the queue fills (30 s), then the backlog
        // (18 s more, under its 60 s: nothing refused).
        let chunk = [UInt8](repeating: 0x30, count: 4800)
        var most = 0
        var sent = 0
        for step in 0..<15_000 {
            if step % 2 == 0, sent < 2400 { d.model(delta("long", chunk)); sent += 1 }
            d.now += 40_000_000   // a delta every 80 ms of call
            d.bridge.poll(now: d.now, into: &d.out)
            d.out.removeAll(keepingCapacity: true)
            most = max(most, d.bridge.pendingEntries)
        }
        #expect(d.bridge.statistics.droppedModelBytes == 0)
        // At most the backlog's 60 s of 100 ms deltas (and the response end), whatever the reply's length.
        #expect(most <= 601, "\(most) entries held")
    }

    @Test("anything from either side: a typed refusal or an event, never a trap; the call goes on")
    func hostileInput() throws {
        var d = try BridgeDriver(turnTaking: .local)
        var rng = SystemRandomNumberGenerator()
        let carrierSamples = [#"{"event":"media","media":{"track":"inbound","payload":"////"},"streamSid":"MZ00000000000000000000000000000001"}"#,
                              #"{"event":"mark","mark":{"name":"rtaudio:1:160"},"streamSid":"MZ00000000000000000000000000000001"}"#]
        let modelSamples = [delta("i", [1, 2, 3, 4]), #"{"type":"response.done","response":{"id":"r","status":"completed"}}"#,
                            #"{"type":"input_audio_buffer.speech_started","audio_start_ms":5}"#, #"{"type":"error","error":{"code":"x","message":"y"}}"#]
        for _ in 0..<3000 {
            var c = Array(carrierSamples.randomElement(using: &rng)!.utf8)
            var m = Array(modelSamples.randomElement(using: &rng)!.utf8)
            for _ in 0..<Int.random(in: 0...3, using: &rng) {
                c[Int.random(in: 0..<c.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                m[Int.random(in: 0..<m.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            d.carrier(String(decoding: c, as: UTF8.self))
            d.model(String(decoding: m, as: UTF8.self))
            d.now += 1_000_000
            d.bridge.poll(now: d.now, into: &d.out)
            d.out.removeAll()
        }
        #expect(!d.bridge.isEnded)
        #expect(d.bridge.statistics.carrierErrors > 0 && d.bridge.statistics.modelErrors > 0)
    }

    @Test("a 16 kHz session: the model hears 16 kHz pcm16, and speaks it")
    func sixteenKilohertz() throws {
        var d = try BridgeDriver(turnTaking: .server, session: #"{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcm","rate":16000}},"output":{"format":{"type":"audio/pcm","rate":16000}}}}"#)
        _ = d.take()
        d.frame(CallSignals.speech(seconds: 0.02)[...])
        let append = try #require(modelTexts(d.take()).first)
        let payload = append.split(separator: "\"")[7]
        // 160 µ-law samples -> 320 samples at 16 kHz (less the resampler's lookahead on the first frame).
        #expect(try Base64.decode(String(payload)).count <= 640)
        d.model(delta("a", [UInt8](repeating: 0, count: 32_000)))   // 1 s at 16 kHz
        for _ in 0..<60 { d.frame(CallSignals.silence(seconds: 0.02)[...]) }
        let media = try mediaMs(carrierTexts(d.take()))
        #expect(media >= 900 && media <= 1000, "\(media) ms released of 1 s at 16 kHz")
    }

    @Test("lost caller frames (gaps in media.chunk) are concealed: the model's stream keeps the caller's timeline")
    func loss() throws {
        let caller = CallSignals.speech(seconds: 2)
        func run(losing: Set<Int>) throws -> (bytes: Int, appends: Int, statistics: CallStatistics) {
            var d = try BridgeDriver(turnTaking: .server)
            _ = d.take()
            for k in 0..<100 where !losing.contains(k) { d.frame(caller[(k * 160)..<(k * 160 + 160)], chunk: k + 1) }
            let appends = modelTexts(d.take()).filter { $0.hasPrefix(#"{"type":"input_audio_buffer.append""#) }
            let bytes = try appends.map { text -> Int in
                let payload = text.split(separator: "\"")[7]
                return try Base64.decode(String(payload)).count
            }.reduce(0, +)
            return (bytes, appends.count, d.bridge.statistics)
        }
        let whole = try run(losing: [])
        let lossy = try run(losing: [10, 11, 40, 77])
        #expect(lossy.bytes == whole.bytes && lossy.appends == whole.appends)
        #expect(lossy.statistics.lostFrames == 4 && whole.statistics.lostFrames == 0)
        // A frame that comes again, or late, is dropped.
        var d = try BridgeDriver(turnTaking: .server)
        d.frame(caller[0..<160], chunk: 1)
        d.frame(caller[160..<320], chunk: 2)
        d.frame(caller[160..<320], chunk: 2)
        #expect(d.bridge.statistics.staleFrames == 1 && d.bridge.statistics.callerFrames == 2)
    }

    @Test("a G.711 session: the caller's µ-law goes to the model as it came")
    func passthrough() throws {
        var d = try BridgeDriver(turnTaking: .server, session: #"{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcmu"}},"output":{"format":{"type":"audio/pcmu"}}}}"#)
        _ = d.take()
        let frame = CallSignals.speech(seconds: 0.02)
        d.frame(frame[...])
        let append = try #require(modelTexts(d.take()).first)
        #expect(append == ClientEvent.append(base64: Base64.encode(G711.muLaw.encode(frame))))
        d.model(delta("a", [UInt8](repeating: 0xFF, count: 8000)))
        for _ in 0..<60 { d.frame(CallSignals.silence(seconds: 0.02)[...]) }
        #expect(try mediaMs(carrierTexts(d.take())) == 1000)
    }

    @Test("an audio delta is read in place, in any field order, GA or beta; anything it does not take whole goes to the event parser")
    func audioDeltaInPlace() {
        func read(_ text: String) -> (String?, String)? {
            var text = text
            return text.withUTF8 { bytes in
                CallBridge.audioDelta(in: bytes).map { ($0.itemID, String(decoding: $0.characters, as: UTF8.self)) }
            }
        }
        let ga = read(#"{"type":"response.output_audio.delta","event_id":"e1","response_id":"r","item_id":"i1","output_index":0,"content_index":0,"delta":"AAEC"}"#)
        #expect(ga?.0 == "i1" && ga?.1 == "AAEC")
        let beta = read(#" {"delta":"AQID", "item_id":"i\u0032", "type":"response.audio.delta"} "#)
        #expect(beta?.0 == "i2" && beta?.1 == "AQID")
        #expect(read(#"{"type":"response.output_audio.delta","delta":"AAEC"}"#)?.0 == nil)
        for text in [#"{"type":"response.output_audio.delta","delta":"AA\/C"}"#, #"{"type":"response.output_audio.delta","delta":"AAEC""#,
                     #"{"type":"response.done","delta":"AAEC"}"#, #"{"type":"response.output_audio.delta","delta":7}"#,
                     #"{"type":"response.output_audio.delta"}"#, #"{"type":1,"delta":"AAEC"}"#, "", "[]"] {
            #expect(read(text) == nil, "\(text)")
        }
    }

    @Test("the model's frames as bytes do what the same frames as text do: deltas, escapes, bad base64, a cancelled item")
    func modelBytesMatchText() throws {
        let reply = (0..<9600).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let escaped = Base64.encode(reply).replacingOccurrences(of: "/", with: "\\/")
        let frames = [
            delta("item_1", Array(reply[..<4800])),
            #"{"type":"response.output_audio.delta","item_id":"item_1","delta":"\#(escaped)"}"#,
            #"{"type":"response.output_audio.delta","item_id":"item_1","delta":"***"}"#,
            "{not json",
            delta("item_2", Array(reply[4800...])),
            #"{"type":"input_audio_buffer.speech_started","audio_start_ms":900,"item_id":"in_1"}"#,
            delta("item_2", Array(reply[..<960])),
        ]
        var asText = try BridgeDriver(turnTaking: .server)
        var asBytes = try BridgeDriver(turnTaking: .server)
        for frame in frames {
            asText.model(frame)
            asBytes.modelBytes(frame)
            for _ in 0..<5 { asText.frame(CallSignals.silence(seconds: 0.02)[...]); asBytes.frame(CallSignals.silence(seconds: 0.02)[...]) }
        }
        #expect(carrierTexts(asText.take()) == carrierTexts(asBytes.take()))
        #expect(asText.bridge.statistics == asBytes.bridge.statistics)
        #expect(asBytes.bridge.statistics.modelDeltas == 4 && asBytes.bridge.statistics.modelErrors == 2 && asBytes.bridge.statistics.lateDeltas == 1)
    }

    /// The audio of the `append` events among `texts`, decoded, in order.
    static func appendedAudio(_ texts: [String]) throws -> (audio: [UInt8], appends: Int) {
        let appends = texts.filter { $0.hasPrefix(#"{"type":"input_audio_buffer.append""#) }
        let audio = try appends.flatMap { text -> [UInt8] in try Base64.decode(String(text.split(separator: "\"")[7])) }
        return (audio, appends.count)
    }

    @Test("gathered appends: the model hears the same audio, in fewer appends, at every length and format; held audio goes when frames stop and at stop",
          arguments: [40, 100, 200], ["pcm", "pcmu"])
    func gatheredAppends(appendMs: Int, format: String) throws {
        let session = format == "pcm" ? #"{"type":"realtime"}"#
            : #"{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcmu"}},"output":{"format":{"type":"audio/pcmu"}}}}"#
        let caller = CallSignals.speech(seconds: 2)
        func run(appendMs: Int) throws -> (audio: [UInt8], appends: Int, statistics: CallStatistics) {
            var d = try BridgeDriver(turnTaking: .server, session: session)
            _ = d.take()
            d.bridge.appendMs = appendMs
            // The gateway switches between frames: every length meets audio already held.
            for k in 0..<100 {
                if k == 50 { d.bridge.appendMs = 20 }
                if k == 53 { d.bridge.appendMs = appendMs }
                d.frame(caller[(k * 160)..<(k * 160 + 160)])
            }
            let sent = try Self.appendedAudio(modelTexts(d.take()))
            // The last held audio goes at the stream's stop.
            d.carrier(#"{"event":"stop","stop":{"callSid":"CA1"},"streamSid":"\#(d.sid)"}"#)
            let last = try Self.appendedAudio(modelTexts(d.take()))
            return (sent.audio + last.audio, sent.appends + last.appends, d.bridge.statistics)
        }
        let each = try run(appendMs: 20)
        let gathered = try run(appendMs: appendMs)
        #expect(gathered.audio == each.audio)
        #expect(each.appends == 100 && each.statistics.appends == 100 && gathered.statistics.appends == gathered.appends)
        // About one append per `appendMs` of audio (the three frames sent one by one aside).
        let expected = 3 + 97 * 20 / appendMs
        #expect(abs(gathered.appends - expected) <= 3, "\(gathered.appends) appends, about \(expected) expected")

        // Frames that stop coming: what is held goes out `appendMs` after it came, when the bridge is polled.
        var d = try BridgeDriver(turnTaking: .server, session: session)
        _ = d.take()
        d.bridge.appendMs = appendMs
        d.frame(caller[0..<160])
        #expect(try Self.appendedAudio(modelTexts(d.take())).appends == 0)
        let due = try #require(d.bridge.nextDeadline)
        #expect(due <= d.now - 20_000_000 + UInt64(appendMs) * 1_000_000)
        d.bridge.poll(now: due, into: &d.out)
        #expect(try Self.appendedAudio(modelTexts(d.take())).appends == 1)
    }

    @Test("gathered appends with our detector: a turn's audio is all in the buffer its commit closes")
    func gatheredAppendsBeforeCommit() throws {
        let caller = CallSignals.speech(seconds: 1.2) + CallSignals.silence(seconds: 1.2)
        func beforeCommit(appendMs: Int) throws -> [UInt8] {
            var d = try BridgeDriver(turnTaking: .local)
            _ = d.take()
            d.bridge.appendMs = appendMs
            for k in stride(from: 0, to: caller.count, by: 160) { d.frame(caller[k..<(k + 160)]) }
            let sent = modelTexts(d.take())
            let commit = try #require(sent.firstIndex(of: ClientEvent.commit))
            return try Self.appendedAudio(Array(sent[..<commit])).audio
        }
        // The commit comes after the same frame either way, and the same audio precedes it.
        let each = try beforeCommit(appendMs: 20)
        #expect(!each.isEmpty)
        #expect(try beforeCommit(appendMs: 200) == each)
    }

    @Test("a G.711 model of the other law: the caller's µ-law reaches it re-encoded code for code, lost frames concealed in its law, gathered or not",
          arguments: [20, 100])
    func transcoded(appendMs: Int) throws {
        var d = try BridgeDriver(turnTaking: .server, session: #"{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcma"}},"output":{"format":{"type":"audio/pcma"}}}}"#)
        _ = d.take()
        d.bridge.appendMs = appendMs
        let caller = CallSignals.speech(seconds: 1)
        for k in 0..<50 where k != 20 { d.frame(caller[(k * 160)..<(k * 160 + 160)], chunk: k + 1) }
        d.carrier(#"{"event":"stop","stop":{"callSid":"CA1"},"streamSid":"\#(d.sid)"}"#)
        let sent = try Self.appendedAudio(modelTexts(d.take())).audio
        // One code per 8 kHz sample, the lost frame's slot included: the caller's timeline kept.
        #expect(sent.count == 50 * 160)
        // The caller's µ-law decoded and A-law encoded, code for code (8 kHz both ways), behind the concealer's
        // 30-sample history (3.75 ms, G.711 Appendix I; silence before it): exact up to that history's last quarter
        // pitch period before the lost frame (overlap-added into the concealment), and again once the fade back into
        // the real audio after it is over.
        let mu = G711.muLaw.encode(Array(caller[..<(50 * 160)]))
        let expected = G711.aLaw.encode(G711.muLaw.decodeInt16(mu))
        let delay = 30
        #expect(sent[..<delay].allSatisfy { $0 == G711.aLaw.encode(Int16(0)) })
        let first = (0..<(20 * 160)).first { sent[delay + $0] != expected[$0] }
        #expect(first == nil || first! >= 20 * 160 - delay, "first difference at \(first ?? -1)")
        #expect(Array(sent[(delay + 23 * 160)...]) == Array(expected[(23 * 160)..<(50 * 160 - delay)]))
        #expect(d.bridge.statistics.lostFrames == 1)
    }
}

