import Foundation
import GatewayCore
import GatewayHarness
import GatewayNet
import GatewayServer
import Logging
import NIOCore
import NIOPosix
import RealtimeAudio
import RealtimeSession
import Testing

/// The messages a logger wrote, kept for a test to read.
final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var kept: [String] = []
    var all: [String] { lock.withLock { kept } }
    func add(_ line: String) { lock.withLock { kept.append(line) } }

    /// A logger at `level` that keeps its messages here.
    func logger(level: Logger.Level = .warning) -> Logger {
        var logger = Logger(label: "test") { _ in Handler(lines: self) }
        logger.logLevel = level
        return logger
    }

    struct Handler: LogHandler {
        let lines: LogLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { lines.add(event.message.description) }
    }
}

/// A ticker client that does nothing when woken (its wake-ups only make a loop's turns late).
final class LateClient: Ticking, @unchecked Sendable {
    var tickerGeneration: UInt64 = 0
    func tick(now: UInt64) {}
}

/// A gateway and a fake model on loopback ports, for the duration of `body`.
struct Loopback {
    let gateway: Gateway
    let model: FakeModel
    let mediaURL: String

    static let secret = "loopback-secret"

    static func run<T: Sendable>(session json: String = #"{"type":"realtime"}"#, turnTaking: TurnTaking, reply: [UInt8],
                                 maxCalls: Int = 100, realtimeURL: String? = nil, faultyModels: Set<Int> = [],
                                 refuseWhenOverloaded: Bool = false, group: (any EventLoopGroup)? = nil, logger: Logger? = nil,
                                 _ body: @Sendable (Loopback) async throws -> T) async throws -> T {
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        var modelConfiguration = FakeModel.Configuration(reply: reply)
        modelConfiguration.faulty = faultyModels
        let model = FakeModel(configuration: modelConfiguration)
        let modelChannel = try await model.bind()
        let mport = modelChannel.localAddress?.port ?? 0
        var configuration = GatewayConfiguration(realtimeURL: realtimeURL ?? "ws://127.0.0.1:\(mport)/v1/realtime", session: try Session(json: json))
        configuration.port = 0
        configuration.sharedSecret = secret
        configuration.twilioAuthToken = "twilio-token"
        configuration.turnTaking = turnTaking
        configuration.maxCalls = maxCalls
        configuration.refuseWhenOverloaded = refuseWhenOverloaded
        let gateway = try Gateway(configuration: configuration, logger: logger ?? quiet)
        let gatewayChannel: any Channel
        if let group { gatewayChannel = try await gateway.bind(group: group) } else { gatewayChannel = try await gateway.bind() }
        let gport = gatewayChannel.localAddress?.port ?? 0
        defer {
            gatewayChannel.close(promise: nil)
            modelChannel.close(promise: nil)
        }
        return try await body(Loopback(gateway: gateway, model: model, mediaURL: "ws://127.0.0.1:\(gport)/media"))
    }

    func carrier(_ caller: [Float], tail: Double = 2) -> FakeCarrier.Configuration {
        var c = FakeCarrier.Configuration(url: mediaURL, caller: caller)
        c.headers["X-Gateway-Secret"] = Self.secret
        c.tailSeconds = tail
        return c
    }

    /// Runs the calls concurrently (started `staggerNs` apart); their results in the order given.
    func calls(_ configurations: [FakeCarrier.Configuration], staggerNs: UInt64 = 0) async throws -> [FakeCarrier.Result] {
        try await withThrowingTaskGroup(of: (Int, FakeCarrier.Result).self) { group in
            for (k, c) in configurations.enumerated() {
                group.addTask {
                    try await Task.sleep(nanoseconds: UInt64(k) * staggerNs)
                    return (k, try await FakeCarrier.run(c))
                }
            }
            var all: [(Int, FakeCarrier.Result)] = []
            for try await r in group { all.append(r) }
            return all.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// Connection `n`'s record once the model has read everything the gateway sent (its socket closed), or as it
    /// stands after 3 s.
    func record(_ n: Int) async throws -> FakeModel.Record? {
        for _ in 0..<150 {
            if let r = model.allRecords[n], r.closed { return r }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        return model.allRecords[n]
    }

    /// The metrics text.
    var metrics: String { String(decoding: gateway.registryText, as: UTF8.self) }
}

/// The inbound pipeline's output for the caller's µ-law frames, as the model must receive it.
func expectedModelAudio(_ caller: [Float], modelRate: SampleRate = .hz24000) throws -> [UInt8] {
    let codes = G711.muLaw.encode(caller)
    // The gateway conceals lost frames, so its pipeline carries the concealer's 3.75 ms delay.
    var inbound = try InboundAudio(format: .g711_ulaw, turnDetection: nil, concealment: true, modelRate: modelRate)
    var out: [UInt8] = []
    var events = InboundEvents()
    for k in stride(from: 0, to: codes.count, by: 160) {
        try inbound.append(Array(codes[k..<min(codes.count, k + 160)]), to: &out, events: &events)
    }
    return out
}

/// The outbound pipeline's output for a reply, as the carrier must play it.
func expectedPlayed(_ reply: [UInt8], modelRate: SampleRate = .hz24000) throws -> [UInt8] {
    var outbound = try OutboundAudio(format: .g711_ulaw, modelRate: modelRate)
    var out: [UInt8] = []
    for k in stride(from: 0, to: reply.count, by: 4800) { try outbound.append(Array(reply[k..<min(reply.count, k + 4800)]), to: &out) }
    var tail = [UInt8](repeating: 0, count: outbound.maximumOutputBytes)
    let n = try tail.withUnsafeMutableBufferPointer { try outbound.finish(into: $0) }
    return out + tail[..<n]
}

func pcm16(_ x: [Float]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 2 * x.count)
    _ = x.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { PCM16.encode(src, into: $0) } }
    return out
}

/// The count of a Prometheus counter (summed over its labels matching `filter`).
func metric(_ text: String, _ name: String, _ filter: String = "") -> Double {
    text.split(separator: "\n").filter { $0.hasPrefix(name) && (filter.isEmpty || $0.contains(filter)) }
        .compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
}

@Suite("Whole calls through the gateway, on loopback, in real time", .serialized)
struct CallTests {
    @Test("server turn detection: the model hears the caller bit-exact, the caller hears the reply gap-free")
    func serverCall() async throws {
        let caller = CallSignals.silence(seconds: 0.5) + CallSignals.speech(seconds: 1.5) + CallSignals.silence(seconds: 1.5)
        let reply = pcm16(CallSignals.speech(seconds: 2, rate: 24000, seed: 7))
        try await Loopback.run(turnTaking: .server, reply: reply) { loop in
            var c = loop.carrier(caller, tail: 3)
            // A careless carrier: garbage, a binary frame, an unknown event; the call goes on.
            c.extraFrames = ["not json", nil, #"{"event":"surprise","streamSid":"MZ00000000000000000000000000000001"}"#]
            let result = try await FakeCarrier.run(c)
            let record = try #require(try await loop.record(1))
            // The session went out as the model's session.update, in its shape.
            #expect(record.sessions.first?["type"] == .string("realtime"))
            // What the model received is our inbound pipeline's output for the same audio (and the quiet line
            // after it), byte for byte.
            #expect(record.audio == (try expectedModelAudio(caller + CallSignals.silence(seconds: 3))))
            // One append per caller frame, or fewer gathering several while the gateway's loop ran behind (a busy
            // test machine): the model took every append the gateway counted.
            #expect(record.appends <= result.sentFrames && Double(record.appends) == metric(loop.metrics, "gateway_model_appends_total"))
            #expect(metric(loop.metrics, "gateway_caller_frames_total") == Double(result.sentFrames))
            // One reply, played whole: the outbound pipeline's bytes, no gap, no repeat.
            #expect(record.items.count == 1)
            #expect(result.played == (try expectedPlayed(reply)))
            #expect(result.starvedTicks == 0)
            #expect(result.clears.isEmpty && !result.closedEarly)
            let m = loop.metrics
            #expect(metric(m, "gateway_underflows_total") == 0)
            // The garbage and the binary frame are counted; an unknown event is not an error (carriers add events).
            #expect(metric(m, "gateway_carrier_errors_total") == 2)
            #expect(metric(m, "gateway_calls_total") == 1)
            // Every caller frame's latency (in -> append out) is in the histogram; its figures are measured by
            // `make bench-gateway` on a release build, not asserted here.
            #expect(metric(m, "gateway_inbound_latency_seconds_count") >= Double(result.sentFrames))
            // The fakes' own timeliness, which `make bench-gateway` prints beside the gateway's: a lateness for each
            // of the carrier's timed ticks, and for each of the model's timed sends (every delta after the first,
            // then the reply's end).
            #expect(result.tickLatenessMs.count == result.playedPerTick.count && result.tickLatenessMs.allSatisfy { $0 >= 0 })
            let deltas = (reply.count + 4799) / 4800
            #expect(metric(loop.model.statistics, "fake_model_delta_lateness_seconds_count") == Double(deltas))
            #expect(metric(loop.model.statistics, "fake_model_delta_lateness_seconds_bucket", #"le="+Inf""#) == Double(deltas))
        }
    }

    /// A caller of two turns, as the harness's `--turns 2` and `make bench-gateway`'s `STEADY=1` send: the model
    /// answers each at its end and the caller hears both replies whole, one after the other.
    @Test("server turn detection, two turns in one call: two replies, each played whole")
    func twoTurns() async throws {
        let said = CallSignals.speech(seconds: 1.2)
        let caller = CallSignals.silence(seconds: 0.5) + said + CallSignals.silence(seconds: 3.5) + said + CallSignals.silence(seconds: 1)
        let reply = pcm16(CallSignals.speech(seconds: 1.5, rate: 24000, seed: 9))
        try await Loopback.run(turnTaking: .server, reply: reply) { loop in
            let result = try await FakeCarrier.run(loop.carrier(caller, tail: 3))
            let record = try #require(try await loop.record(1))
            #expect(record.items.count == 2)
            let one = try expectedPlayed(reply)
            #expect(result.played.count == 2 * one.count, "\(result.played.count) bytes played, 2 x \(one.count) expected")
            #expect(Array(result.played.prefix(one.count)) == one && Array(result.played.suffix(one.count)) == one)
            #expect(result.starvedTicks == 0 && result.clears.isEmpty && !result.closedEarly,
                    "\(result.starvedTicks) starved ticks, clears \(result.clears), per tick \(result.playedPerTick.map(String.init).joined(separator: ","))")
        }
    }

    @Test("local turn taking: our detector commits the turn, barges in on the caller, truncates at what was played")
    func localBargeIn() async throws {
        // Speak, pause (the reply starts), speak over the reply at 3.0 s, then listen.
        let caller = CallSignals.speech(seconds: 1.2) + CallSignals.silence(seconds: 1.8) + CallSignals.speech(seconds: 1.0, seed: 3)
            + CallSignals.silence(seconds: 1.0)
        let reply = pcm16(CallSignals.speech(seconds: 4, rate: 24000, seed: 9))
        try await Loopback.run(turnTaking: .local, reply: reply) { loop in
            let result = try await FakeCarrier.run(loop.carrier(caller, tail: 1.5))
            let record = try #require(try await loop.record(1))
            // Turn detection is off on the model's side; ours committed and asked for the replies.
            #expect(record.sessions.first?["audio"]?["input"]?["turn_detection"] == .null)
            #expect(record.commits >= 1 && record.responseCreates >= 1)
            // The barge-in: clear at the carrier within 150 ms of the caller's onset at 3.0 s.
            let clear = try #require(result.clears.first)
            #expect(clear.atMs - 3000 <= 150 && clear.atMs > 3000, "clear at \(clear.atMs) ms")
            // The truncation is what the carrier had played of the reply, within 20 ms.
            let truncation = try #require(record.truncations.first)
            #expect(truncation.itemID == record.items.first)
            #expect(abs(Double(truncation.audioEndMs) - Double(clear.playedSamples) / 8) <= 20,
                    "truncated at \(truncation.audioEndMs) ms, played \(clear.playedSamples / 8) ms")
            // Nothing of the interrupted reply after the clear.
            #expect(result.marksAfterClear == 0)
            #expect(metric(loop.metrics, "gateway_barge_ins_total") >= 1)
            // The model's timeline (what `gateway-harness demo` tells and draws) has it in order, on the carrier's clock.
            let events = record.timeline.map(\.event)
            let order = ["session.update", "input_audio_buffer.commit", "response.create", "reply \(record.items[0]) started",
                         "conversation.item.truncate \(record.items[0]) at audio_end_ms \(truncation.audioEndMs)"]
            let positions = order.map { e in events.firstIndex { $0 == e } }
            #expect(positions.allSatisfy { $0 != nil } && positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "\(events)")
            let truncatedAt = try #require(record.timeline.first { $0.event.hasPrefix("conversation.item.truncate") }).atNs
            #expect(abs(Double(truncatedAt) - Double(result.startedAtNs) - clear.atMs * 1e6) < 50e6)
        }
    }

    @Test("local turn taking with the caller's echo at -12 dB: no false barge-in")
    func echoGuard() async throws {
        let caller = CallSignals.speech(seconds: 1.2) + CallSignals.silence(seconds: 4.5)
        let reply = pcm16(CallSignals.speech(seconds: 3.5, rate: 24000, amplitude: 0.5, seed: 5))
        try await Loopback.run(turnTaking: .local, reply: reply) { loop in
            var c = loop.carrier(caller, tail: 0.5)
            c.echo = (-12, 120)
            let result = try await FakeCarrier.run(c)
            #expect(result.clears.isEmpty, "\(result.clears)")
            #expect(result.played.count >= 8 * 3400, "the reply played: \(result.played.count) samples")
            #expect(metric(loop.metrics, "gateway_barge_ins_total") == 0)
        }
    }

    @Test("who may call: unsigned, wrongly signed and replayed upgrades are refused before any model connection")
    func refusals() async throws {
        try await Loopback.run(turnTaking: .server, reply: []) { loop in
            let caller = CallSignals.silence(seconds: 0.2)
            for headers: [String: String] in [[:], ["X-Gateway-Secret": "wrong"],
                                              ["X-Twilio-Signature": TwilioSignature.sign(authToken: "twilio-token", url: "ws://elsewhere/media")],
                                              ["X-Twilio-Signature": TwilioSignature.sign(authToken: "other-token", url: loop.mediaURL)]] {
                var c = FakeCarrier.Configuration(url: loop.mediaURL, caller: caller)
                c.headers = headers
                await #expect(throws: (any Error).self) { try await FakeCarrier.run(c) }
            }
            #expect(metric(loop.metrics, "gateway_upgrades_refused_total", "unauthorized") == 4)
            #expect(loop.model.allRecords.isEmpty)
            // Signed as Twilio signs it: accepted.
            var signed = FakeCarrier.Configuration(url: loop.mediaURL, caller: caller)
            signed.headers["X-Twilio-Signature"] = TwilioSignature.sign(authToken: "twilio-token", url: loop.mediaURL)
            signed.tailSeconds = 0.2
            let result = try await FakeCarrier.run(signed)
            #expect(!result.closedEarly && result.sentFrames == 20)
            #expect(loop.model.allRecords.count == 1)
        }
    }

    @Test("a flood of unsigned upgrades: every one refused and counted, logged at most once a second with the count")
    func refusalFlood() async throws {
        let lines = LogLines()
        try await Loopback.run(turnTaking: .server, reply: [], logger: lines.logger()) { loop in
            let unsigned = FakeCarrier.Configuration(url: loop.mediaURL, caller: CallSignals.silence(seconds: 0.2))
            let start = Date()
            for _ in 0..<5 { await #expect(throws: (any Error).self) { try await FakeCarrier.run(unsigned) } }
            let floodSeconds = Date().timeIntervalSince(start)
            // A second after the last line: the next refusal is logged with every one not logged before it.
            try await Task.sleep(nanoseconds: 1_100_000_000)
            await #expect(throws: (any Error).self) { try await FakeCarrier.run(unsigned) }
            #expect(metric(loop.metrics, "gateway_upgrades_refused_total", "unauthorized") == 6)
            #expect(loop.model.allRecords.isEmpty)
            let refusals = lines.all.filter { $0.hasPrefix("upgrade refused: no valid signature") }
            let counts = refusals.compactMap { line -> Int? in
                guard let open = line.range(of: "(") else { return nil }
                return Int(line[open.upperBound...].prefix { $0.isNumber })
            }
            #expect(counts.count == refusals.count)
            #expect(counts.reduce(0, +) == 6)
            // One line for the flood (more only if it outlasted a second), one after the pause.
            #expect(refusals.count <= 2 + Int(floodSeconds))
            if floodSeconds < 1 { #expect(counts == [1, 5]) }
        }
    }

    @Test("--max-calls: a call beyond the limit is refused, the calls in progress go on")
    func maxCalls() async throws {
        try await Loopback.run(turnTaking: .server, reply: [], maxCalls: 1) { loop in
            let first = Task { try await FakeCarrier.run(loop.carrier(CallSignals.silence(seconds: 1.5), tail: 0.2)) }
            try await Task.sleep(nanoseconds: 400_000_000)
            await #expect(throws: (any Error).self) { try await FakeCarrier.run(loop.carrier(CallSignals.silence(seconds: 0.2), tail: 0.1)) }
            let r = try await first.value
            #expect(!r.closedEarly && r.sentFrames == 85)
            #expect(metric(loop.metrics, "gateway_upgrades_refused_total", "full") == 1)
        }
    }

    @Test("--refuse-when-overloaded: a loop whose timers run late refuses new calls (503, counted), and takes them again once it keeps up; without it, calls are taken")
    func overloaded() async throws {
        for refusing in [true, false] {
            // One loop, so the call lands on the loop made late.
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let loop = group.next()
            try await Loopback.run(turnTaking: .server, reply: [], refuseWhenOverloaded: refusing, group: group) { gateway in
                // Wake-ups the loop serves 30 ms late, four within a second: a loop with more calls than time.
                let ticker = try await loop.submit { LoopTicker.of(loop) }.get()
                let client = LateClient()
                for _ in 0..<LoopTicker.behindTurns { try await lateTurn(loop, ticker, client, holdingFor: 30_000) }
                #expect(try await loop.submit { ticker.isOverloaded(now: NIODeadline.now().uptimeNanoseconds) }.get())
                let call = gateway.carrier(CallSignals.silence(seconds: 0.2), tail: 0.1)
                if refusing {
                    await #expect(throws: WebSocketClientError.self) { try await FakeCarrier.run(call) }
                    #expect(metric(gateway.metrics, "gateway_upgrades_refused_total", "overloaded") == 1)
                    #expect(gateway.model.allRecords.isEmpty)
                    // The hold over and the loop idle since: taken.
                    try await Task.sleep(nanoseconds: LoopTicker.overloadHoldNs + 200_000_000)
                }
                let result = try await FakeCarrier.run(call)
                #expect(!result.closedEarly && result.sentFrames == 15)
                #expect(metric(gateway.metrics, "gateway_upgrades_refused_total", "overloaded") == (refusing ? 1 : 0))
            }
            try await group.shutdownGracefully()
        }
    }

    @Test("one hostile carrier among several calls: it is counted, the others hear and are heard exactly")
    func faultyAmongMany() async throws {
        let caller = CallSignals.silence(seconds: 0.3) + CallSignals.speech(seconds: 1.2) + CallSignals.silence(seconds: 1.2)
        let reply = pcm16(CallSignals.speech(seconds: 1.5, rate: 24000, seed: 11))
        try await Loopback.run(turnTaking: .server, reply: reply) { loop in
            let configurations = (0..<5).map { k in
                var c = loop.carrier(caller, tail: 2.5)
                c.streamSid = "MZ0000000000000000000000000000000\(k)"
                // The third: a flood of garbage, binary frames and unknown events before the audio.
                if k == 2 { c.extraFrames = (0..<1500).map { $0 % 3 == 0 ? nil : $0 % 3 == 1 ? "{\"event\":" : #"{"event":"noise"}"# } }
                return c
            }
            let results = try await loop.calls(configurations).enumerated().map { ($0.offset == 2, $0.element) }
            let played = try expectedPlayed(reply)
            for (k, (hostile, result)) in results.enumerated() where !hostile {
                #expect(result.played == played, "call \(k): \(result.played.count) bytes played, \(played.count) expected, clears \(result.clears)")
                #expect(result.starvedTicks == 0 && !result.closedEarly, "call \(k): \(result.starvedTicks) starved ticks, closed early: \(result.closedEarly)")
            }
            let heard = try expectedModelAudio(caller + CallSignals.silence(seconds: 2.5))
            for n in 1...5 { _ = try await loop.record(n) }
            #expect(loop.model.allRecords.values.filter { $0.audio == heard }.count >= 4)
            #expect(metric(loop.metrics, "gateway_carrier_errors_total") >= 1000)
            // Every call ends (the gateway counts a call out once both its sockets are closed).
            for _ in 0..<100 where loop.gateway.activeCalls > 0 { try await Task.sleep(nanoseconds: 20_000_000) }
            #expect(loop.gateway.activeCalls == 0)
        }
    }

    @Test("a lossy caller (every 10th frame lost): the model's stream keeps the caller's timeline, the gaps concealed")
    func lossyCaller() async throws {
        let caller = CallSignals.speech(seconds: 1.6) + CallSignals.silence(seconds: 0.4)
        try await Loopback.run(turnTaking: .server, reply: []) { loop in
            var c = loop.carrier(caller, tail: 0.4)
            c.lossEvery = 10
            let result = try await FakeCarrier.run(c)
            #expect(result.sentFrames == 108)
            let record = try #require(try await loop.record(1))
            // As long as the whole stream, and different from it only where frames were lost.
            let whole = try expectedModelAudio(caller + CallSignals.silence(seconds: 0.4))
            // (the last frame, lost at the very end, leaves no gap behind it to see: 119 of 120 reach the model).
            #expect(record.audio.count == whole.count - 960)
            #expect(record.appends <= 119 && Double(record.appends) == metric(loop.metrics, "gateway_model_appends_total"))
        }
    }

    @Test("a reordering caller (every 7th frame sent after the next): the late frame is stale, its slot concealed")
    func reorderingCaller() async throws {
        let caller = CallSignals.speech(seconds: 1.6) + CallSignals.silence(seconds: 0.4)
        try await Loopback.run(turnTaking: .server, reply: []) { loop in
            var c = loop.carrier(caller, tail: 0.4)
            c.reorderEvery = 7
            let result = try await FakeCarrier.run(c)
            #expect(result.sentFrames == 120)
            let record = try #require(try await loop.record(1))
            // The stream keeps the caller's timeline: 20 ms for each slot, the swapped frames' slots concealed.
            let whole = try expectedModelAudio(caller + CallSignals.silence(seconds: 0.4))
            #expect(record.audio.count == whole.count)
            #expect(record.appends <= 120 && Double(record.appends) == metric(loop.metrics, "gateway_model_appends_total"))
            // 17 frames came after their successors: each is stale (dropped, counted) and its slot was a loss.
            let m = loop.metrics
            #expect(metric(m, "gateway_caller_frames_stale_total") == 17)
            #expect(metric(m, "gateway_caller_frames_lost_total") == 17)
        }
    }

    @Test("one faulty model among several calls: its malformed events are counted, its call ends when it drops; the others are exact")
    func faultyModelAmongMany() async throws {
        let caller = CallSignals.silence(seconds: 0.3) + CallSignals.speech(seconds: 1.2) + CallSignals.silence(seconds: 1.2)
        let reply = pcm16(CallSignals.speech(seconds: 1.5, rate: 24000, seed: 13))
        try await Loopback.run(turnTaking: .server, reply: reply, faultyModels: [3]) { loop in
            let configurations = (0..<5).map { k in
                var c = loop.carrier(caller, tail: 2.5)
                c.streamSid = "MZ0000000000000000000000000000001\(k)"
                return c
            }
            // Calls connect in order, 30 ms apart, so the faulty model connection is the third call's.
            let results = try await loop.calls(configurations, staggerNs: 30_000_000)
            #expect(results.filter(\.closedEarly).count == 1)
            let played = try expectedPlayed(reply)
            for result in results where !result.closedEarly {
                #expect(result.played == played && result.starvedTicks == 0)
            }
            let m = loop.metrics
            #expect(metric(m, "gateway_model_errors_total") >= 3, "the garbage, the event with no type, the bad delta")
            #expect(metric(m, "gateway_model_connection_failures_total") == 1)
            for _ in 0..<100 where loop.gateway.activeCalls > 0 { try await Task.sleep(nanoseconds: 20_000_000) }
            #expect(loop.gateway.activeCalls == 0)
        }
    }

    @Test("the model refuses the connection: the call ends cleanly and is counted")
    func modelDown() async throws {
        try await Loopback.run(turnTaking: .server, reply: [], realtimeURL: "ws://127.0.0.1:1/v1/realtime") { loop in
            let result = try await FakeCarrier.run(loop.carrier(CallSignals.silence(seconds: 2), tail: 0.2))
            #expect(result.closedEarly)
            #expect(metric(loop.metrics, "gateway_model_connection_failures_total") == 1)
            for _ in 0..<100 where loop.gateway.activeCalls > 0 { try await Task.sleep(nanoseconds: 20_000_000) }
            #expect(loop.gateway.activeCalls == 0)
        }
    }
}
