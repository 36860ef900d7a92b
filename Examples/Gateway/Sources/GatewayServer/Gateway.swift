import GatewayCore
import GatewayNet
import RealtimeCarrier
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import RealtimeSession
import Synchronization

/// How the gateway is set up: where it listens, where the model is, which session, who may call.
public struct GatewayConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// The Realtime endpoint (`wss://api.openai.com/v1/realtime?model=...`, or `ws://` for local use).
    public var realtimeURL: String
    /// The session sent as `session.update` (GA or beta shape; validated).
    public var session: Session
    public var turnTaking: TurnTaking = .server
    /// The API key, sent as `Authorization: Bearer` to the model; never logged.
    public var apiKey: String?
    /// Twilio's auth token: the `/media` upgrade must carry a valid `X-Twilio-Signature`.
    public var twilioAuthToken: String?
    /// The URL Twilio dials, when a TLS proxy sits in front (`wss://voice.example.com`): signatures are over it.
    public var publicURL: String?
    /// A shared secret for other carriers and local use: the upgrade's `X-Gateway-Secret` header must equal it.
    public var sharedSecret: String?
    /// Concurrent calls accepted; one more is refused with 503 before any model connection.
    public var maxCalls = 1000
    /// How long SIGTERM waits for calls to end before ending them, in seconds.
    public var drainSeconds = 30
    /// The length of each `media` frame sent to the carrier, in ms (20...60), with a mark after each.
    public var outboundFrameMs = 40
    /// The most caller audio one `append` to the model gathers while the call's event loop runs behind, in ms
    /// (20...200; ``CallBridge/appendMs``). While the loop keeps up, each caller frame goes as it comes; at 20 it
    /// always does.
    public var appendMs = 100
    /// Refuse new calls (503, before any model connection) on an event loop whose timers run late
    /// (``LoopTicker/isOverloaded(now:)``: four turns 10 ms late within a second, and for 5 s after): the calls
    /// in progress keep their timing instead of every call on the loop getting worse; a load balancer in front
    /// (the shipped nginx configuration retries on 503) sends the call to another instance. Off by default:
    /// `maxCalls` is then the only bound.
    public var refuseWhenOverloaded = false

    public init(realtimeURL: String, session: Session) {
        self.realtimeURL = realtimeURL
        self.session = session
    }
}

/// Why an upgrade was refused (counted in `gateway_upgrades_refused_total{reason}`).
enum Refusal: String {
    case unauthorized, full, overloaded
}

/// The reference gateway: Twilio Media Streams WebSocket connections at `/media`, one Realtime WebSocket per call,
/// one ``CallBridge`` between them; `/metrics` (Prometheus) and `/health`.
///
/// Threading: each call lives on its carrier connection's event loop: the carrier socket, the model socket (opened
/// on the same loop), the bridge and the pacer's timer; so a frame is handled where it is read, with no queue or
/// thread hop between. Calls spread over the loops as connections are accepted (one loop per core by default).
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    let logger: Logger
    let registry: PrometheusCollectorRegistry
    private let active = Mutex(0)
    /// Set by ``drain()``: when calls in progress must end (monotonic ns); new calls are refused from then on.
    private let draining = Mutex<UInt64?>(nil)
    private let nextCall = Mutex(0)
    /// For each reason, when a refusal was last logged (monotonic ns) and the refusals counted since.
    private let refusalLog = Mutex<[Refusal: (last: UInt64, count: Int)]>([:])

    let callsTotal: Metrics.Counter
    let callsActive: Metrics.Gauge
    let refusedUnauthorized: Metrics.Counter
    let refusedFull: Metrics.Counter
    let refusedOverloaded: Metrics.Counter
    let callerFrames: Metrics.Counter
    let appends: Metrics.Counter
    let framesOut: Metrics.Counter
    let underflows: Metrics.Counter
    let bargeIns: Metrics.Counter
    let carrierErrors: Metrics.Counter
    let modelErrors: Metrics.Counter
    let modelFailures: Metrics.Counter
    let droppedInputs: Metrics.Counter
    let lostFrames: Metrics.Counter
    let staleFrames: Metrics.Counter
    let localTurns: Metrics.Counter
    let inboundLatency: Metrics.Timer
    let truncationMs: Metrics.Recorder
    let stalledPeers: Metrics.Counter
    let modelTarget: WebSocketClient.Target
    /// Outbound frame lateness over all calls (release after the pacer's deadline), in the pacer's buckets (0.1 ms
    /// to 10 ms, 1 ms to 100 ms): merged from each call's pacer every 250 ms, not per frame under a lock.
    private let lateness = Mutex(([Int](repeating: 0, count: PacerStatistics.latenessBucketCount), UInt64(0)))

    /// - Parameter registry: where the metrics go (one per gateway; `/metrics` shows it).
    /// - Throws: ``WebSocketClientError/invalidURL(_:)`` when `realtimeURL` is not a `ws://` or `wss://` URL.
    public init(configuration: GatewayConfiguration, logger: Logger, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) throws {
        modelTarget = try WebSocketClient.Target(url: configuration.realtimeURL)
        self.configuration = configuration
        self.logger = logger
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        // Fine buckets where the targets are (caller frame in -> append out: 5 ms at p99).
        factory.durationHistogramBuckets["gateway_inbound_latency_seconds"] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(20), .milliseconds(50), .milliseconds(100), .milliseconds(500),
        ]
        callsTotal = Metrics.Counter(label: "gateway_calls_total", factory: factory)
        callsActive = Metrics.Gauge(label: "gateway_calls_active", factory: factory)
        func refused(_ reason: Refusal) -> Metrics.Counter {
            Metrics.Counter(label: "gateway_upgrades_refused_total", dimensions: [("reason", reason.rawValue)], factory: factory)
        }
        refusedUnauthorized = refused(.unauthorized)
        refusedFull = refused(.full)
        refusedOverloaded = refused(.overloaded)
        callerFrames = Metrics.Counter(label: "gateway_caller_frames_total", factory: factory)
        appends = Metrics.Counter(label: "gateway_model_appends_total", factory: factory)
        framesOut = Metrics.Counter(label: "gateway_frames_out_total", factory: factory)
        underflows = Metrics.Counter(label: "gateway_underflows_total", factory: factory)
        bargeIns = Metrics.Counter(label: "gateway_barge_ins_total", factory: factory)
        carrierErrors = Metrics.Counter(label: "gateway_carrier_errors_total", factory: factory)
        modelErrors = Metrics.Counter(label: "gateway_model_errors_total", factory: factory)
        modelFailures = Metrics.Counter(label: "gateway_model_connection_failures_total", factory: factory)
        droppedInputs = Metrics.Counter(label: "gateway_dropped_inputs_total", factory: factory)
        lostFrames = Metrics.Counter(label: "gateway_caller_frames_lost_total", factory: factory)
        staleFrames = Metrics.Counter(label: "gateway_caller_frames_stale_total", factory: factory)
        localTurns = Metrics.Counter(label: "gateway_local_turns_total", factory: factory)
        inboundLatency = Metrics.Timer(label: "gateway_inbound_latency_seconds", preferredDisplayUnit: .seconds, factory: factory)
        truncationMs = Metrics.Recorder(label: "gateway_truncation_audio_end_ms", factory: factory)
        stalledPeers = Metrics.Counter(label: "gateway_stalled_peers_total", factory: factory)
    }

    /// The metrics in Prometheus' text format (what `/metrics` serves).
    public var registryText: [UInt8] { registry.emitToBuffer() + latenessText() }

    func addLateness(_ buckets: ArraySlice<Int>, maximumNs: UInt64) {
        lateness.withLock { h in
            for (k, n) in zip(h.0.indices, buckets) where n != 0 { h.0[k] += n }
            h.1 = max(h.1, maximumNs)
        }
    }

    /// `gateway_frame_lateness_seconds`: a histogram of how late the pacer released each frame (0.5, 1, 2, 5, 10,
    /// 20, 50 and 100 ms edges), and the latest one.
    private func latenessText() -> [UInt8] {
        let (buckets, maximum) = lateness.withLock { $0 }
        var text = "# TYPE gateway_frame_lateness_seconds histogram\n"
        var cumulative = 0
        var k = 0
        for edge in [0.5, 1, 2, 5, 10, 20, 50, 100] {  // ms, each a bucket's upper edge
            while k < buckets.count, PacerStatistics.latenessUpperEdgeMs(ofBucket: k) <= edge + 1e-9 { cumulative += buckets[k]; k += 1 }
            text += "gateway_frame_lateness_seconds_bucket{le=\"\(edge / 1000)\"} \(cumulative)\n"
        }
        let total = buckets.reduce(0, +)
        text += "gateway_frame_lateness_seconds_bucket{le=\"+Inf\"} \(total)\ngateway_frame_lateness_seconds_count \(total)\n"
        text += "# TYPE gateway_frame_lateness_max_seconds gauge\ngateway_frame_lateness_max_seconds \(Double(maximum) / 1e9)\n"
        return Array(text.utf8)
    }

    /// Calls in progress.
    public var activeCalls: Int { active.withLock { $0 } }

    /// Shutting down (SIGTERM): refuses new calls (503), lets the calls in progress go on for
    /// ``GatewayConfiguration/drainSeconds``, ends those still going then, and returns once none is left.
    public func drain() async {
        let deadline = Self.now() + UInt64(max(0, configuration.drainSeconds)) * 1_000_000_000
        draining.withLock { $0 = $0 ?? deadline }
        logger.notice("draining \(activeCalls) calls for up to \(configuration.drainSeconds) s")
        while activeCalls > 0, Self.now() < deadline + 2_000_000_000 {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Whether an upgrade may become a call: a valid Twilio signature over the URL the carrier called, or the
    /// shared secret.
    func isAuthorized(_ head: HTTPRequestHead) -> Bool {
        if let token = configuration.twilioAuthToken, let signature = head.headers.first(name: "X-Twilio-Signature") {
            if TwilioSignature.isValid(signature, authToken: token, url: calledURL(head)) { return true }
        }
        if let secret = configuration.sharedSecret, let given = head.headers.first(name: "X-Gateway-Secret") {
            return TwilioSignature.constantTimeEqual(secret, given)
        }
        return false
    }

    /// The URL the carrier called: `--public-url` with the request's path, or `ws://` with the `Host` and path (the
    /// gateway itself speaks no TLS: a proxy in front does, and `--public-url` names it).
    func calledURL(_ head: HTTPRequestHead) -> String {
        let path = head.uri.hasPrefix("/") ? head.uri : "/" + head.uri
        if let base = configuration.publicURL { return base.hasSuffix("/") ? String(base.dropLast()) + path : base + path }
        return "ws://\(head.headers.first(name: "Host") ?? "\(configuration.host):\(configuration.port)")\(path)"
    }

    private var isFull: Bool { activeCalls >= configuration.maxCalls || draining.withLock { $0 } != nil }

    /// Whether calls are refused when overloaded and the event loop this runs on (the new connection's, where its
    /// call would live) is. False off an event loop.
    private var isOverloaded: Bool {
        guard configuration.refuseWhenOverloaded, let loop = MultiThreadedEventLoopGroup.currentEventLoop else { return false }
        return LoopTicker.of(loop).isOverloaded(now: Self.now())
    }

    private static func isMedia(_ head: HTTPRequestHead) -> Bool {
        head.uri == "/media" || head.uri.hasPrefix("/media?")
    }

    /// Whether an upgrade to `/media` goes ahead; a refusal is counted and logged here (without secrets) and
    /// answered by ``answer(_:)`` before any model connection.
    func shouldUpgrade(_ head: HTTPRequestHead) -> Bool {
        guard Self.isMedia(head) else { return false }
        guard isAuthorized(head) else {
            return refuse(.unauthorized, "no valid signature", metadata: ["path": "\(head.uri.prefix { $0 != "?" })"])
        }
        guard !isFull else { return refuse(.full, "\(configuration.maxCalls) calls in progress or shutting down") }
        guard !isOverloaded else { return refuse(.overloaded, "overloaded (this event loop's timers run 10 ms or more late)") }
        return true
    }

    /// Counts a refused upgrade and logs it, at most one line a second for each reason with the number refused
    /// since the last: a flood of upgrades (unsigned, or offered to a full or overloaded gateway) must cost no log
    /// line per upgrade; the counter has every one. Returns false (the upgrade's answer).
    private func refuse(_ reason: Refusal, _ why: String, metadata: Logger.Metadata? = nil) -> Bool {
        switch reason {
        case .unauthorized: refusedUnauthorized.increment()
        case .full: refusedFull.increment()
        case .overloaded: refusedOverloaded.increment()
        }
        let now = Self.now()
        let count = refusalLog.withLock { log -> Int? in
            var entry = log[reason] ?? (last: 0, count: 0)
            entry.count += 1
            let due = now >= entry.last + 1_000_000_000
            log[reason] = due ? (last: now, count: 0) : entry
            return due ? entry.count : nil
        }
        if let count { logger.warning("upgrade refused: \(why) (\(count) refused for this reason since the last such line)", metadata: metadata) }
        return false
    }

    /// Plain HTTP: `/health`, `/metrics`, and the answer to a `/media` request that did not upgrade.
    func answer(_ head: HTTPRequestHead) -> HTTPAnswer {
        switch head.uri.prefix(while: { $0 != "?" }) {
        case "/health": return HTTPAnswer(status: .ok, body: Array("ok".utf8))
        case "/metrics": return HTTPAnswer(status: .ok, contentType: "text/plain; version=0.0.4", body: registryText)
        case "/media": return HTTPAnswer(status: isAuthorized(head) ? (isFull || isOverloaded ? .serviceUnavailable : .upgradeRequired) : .forbidden)
        default: return HTTPAnswer(status: .notFound)
        }
    }

    /// Listens (on `host:port`; port 0 picks one: the channel's `localAddress` has it). Close the returned channel
    /// to stop accepting; calls in progress go on (``drain()`` ends them).
    public func bind(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> any Channel {
        try await WebSocketServer.bind(group: group, host: configuration.host, port: configuration.port, maxMessageBytes: 1 << 16,
                                       shouldUpgrade: { [self] head in shouldUpgrade(head) },
                                       onUpgrade: { [self] socket, _ in startCall(carrier: socket) },
                                       answer: { [self] head in answer(head) }).get()
    }

    private func startCall(carrier: WebSocket) {
        // The slot is taken here, not at the upgrade's check: an upgrade that dies before this holds none.
        let admitted = active.withLock { n in
            guard n < configuration.maxCalls else { return false }
            n += 1
            return true
        }
        guard admitted else {
            refusedFull.increment()
            carrier.close(code: .unknown(1013))  // try again later
            return
        }
        let id = nextCall.withLock { n in n += 1; return n }
        var log = logger
        log[metadataKey: "call"] = "\(id)"
        callsTotal.increment()
        callsActive.record(activeCalls)
        let bridge: CallBridge
        do {
            bridge = try CallBridge(session: configuration.session, turnTaking: configuration.turnTaking,
                                    outboundFrameMs: configuration.outboundFrameMs)
        } catch {
            log.error("call refused: \(error)")
            carrier.close(code: .unexpectedServerError)
            callEnded()
            return
        }
        Call(gateway: self, bridge: bridge, carrier: carrier, log: log).start()
    }

    func callEnded() {
        active.withLock { $0 -= 1 }
        callsActive.record(activeCalls)
    }

    var drainDeadline: UInt64? { draining.withLock { $0 } }

    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }
}

/// One call: the carrier's socket, the model's, and the bridge between them, all on the carrier's event loop.
final class Call: WebSocketDelegate, Ticking, @unchecked Sendable {
    let gateway: Gateway
    let log: Logger
    var bridge: CallBridge
    let carrier: WebSocket
    var model: WebSocket?
    /// What the bridge sent the model before its socket opened (`session.update` first), bounded.
    var waiting: [[UInt8]] = []
    var out: [BridgeAction] = []
    var reported = CallStatistics()
    var reportedUnderflows = 0
    var reportedLateness = [Int](repeating: 0, count: PacerStatistics.latenessBucketCount)
    var nextReport: UInt64 = 0
    /// The loop's shared timer, and the wake-up asked of it (`.max`: none).
    let ticker: LoopTicker
    var timerDeadline: UInt64 = .max
    var tickerGeneration: UInt64 = 0
    var drainNoticed = false
    var ended = false

    init(gateway: Gateway, bridge: CallBridge, carrier: WebSocket, log: Logger) {
        self.gateway = gateway
        self.bridge = bridge
        self.carrier = carrier
        self.log = log
        ticker = LoopTicker.of(carrier.channel.eventLoop)
    }

    var eventLoop: any EventLoop { carrier.channel.eventLoop }

    func start() {
        carrier.delegate = self
        log.info("call started")
        out = bridge.open()
        var headers: [(String, String)] = []
        if let key = gateway.configuration.apiKey { headers.append(("Authorization", "Bearer \(key)")) }
        if gateway.configuration.session.shape == .beta { headers.append(("OpenAI-Beta", "realtime=v1")) }
        WebSocketClient.connect(to: gateway.modelTarget, headers: headers, eventLoop: eventLoop, maxMessageBytes: 1 << 22).whenComplete { [self] result in
            switch result {
            case .success(let socket):
                guard !ended else { return socket.close() }
                model = socket
                socket.delegate = self
                for text in waiting { socket.send(utf8: text) }
                waiting.removeAll()
                socket.flush()
            case .failure(let error):
                // The error names the URL's host at most; the key is in a header, never in the URL.
                gateway.modelFailures.increment()
                end("model connection: \(error)")
            }
        }
        step(now: Gateway.now())
    }

    func webSocket(_ socket: WebSocket, received text: UnsafeRawBufferPointer) {
        guard !ended else { return }
        let now = Gateway.now()
        if socket === carrier {
            // A loop behind its timers gathers the caller's audio: fewer, longer appends for every call on it.
            bridge.appendMs = ticker.isBehind(now: now) ? gateway.configuration.appendMs : 20
            bridge.carrier(text, now: now, into: &out)
            step(now: now)
            gateway.inboundLatency.recordNanoseconds(Int64(Gateway.now() - now))
        } else {
            bridge.model(text, now: now, into: &out)
            step(now: now)
        }
    }

    func webSocketReceivedBinary(_ socket: WebSocket) {
        guard socket === carrier else { return }
        gateway.carrierErrors.increment()
        log.warning("carrier sent a binary frame: ignored")
    }

    func webSocketClosed(_ socket: WebSocket, error: (any Error)?) {
        if socket === carrier {
            end(error.map { "carrier socket: \($0)" } ?? "the carrier closed the socket")
        } else if !ended {
            gateway.modelFailures.increment()
            end(error.map { "model socket: \($0)" } ?? "the model closed the connection")
        }
    }

    /// Runs the bridge's clock, sends what it produced, publishes counters and sets the next wake-up.
    private func step(now: UInt64) {
        if !drainNoticed, gateway.drainDeadline != nil {
            drainNoticed = true
            log.info("shutting down: the call may go on for \(gateway.configuration.drainSeconds) s")
        }
        bridge.poll(now: now, into: &out)
        perform()
        if now >= nextReport { publish(now: now) }
        if let deadline = gateway.drainDeadline, now >= deadline { end("the gateway is shutting down") }
        guard !ended else { return }
        // Wake at the pacer's next deadline, at least every 20 ms (drain, statistics).
        let next = max(min(bridge.nextDeadline ?? .max, now + 20_000_000), now + 200_000)
        if next != timerDeadline {
            timerDeadline = next
            ticker.wake(self, at: next)
        }
    }

    func tick(now: UInt64) {
        timerDeadline = .max
        if !ended { step(now: now) }
    }

    private func perform() {
        guard !out.isEmpty else { return }
        var ending: String?
        // Each socket's writability once per batch: a batch is what one message or tick produced (a few frames), so
        // a peer that stops reading is still held to its high water mark within one batch.
        var carrierWritable: Bool?, modelWritable: Bool?
        for action in out {
            switch action {
            case .toCarrier(let text):
                // A carrier that stops reading holds what we send in the socket's buffer: past the high water mark
                // the call ends rather than the gateway's memory growing.
                if carrierWritable == nil { carrierWritable = carrier.isWritable }
                guard carrierWritable! else { ending = "the carrier stopped reading"; break }
                carrier.send(utf8: text)
            case .toModel(let text):
                if let model {
                    if modelWritable == nil { modelWritable = model.isWritable }
                    guard modelWritable! else { ending = "the model stopped reading"; break }
                    model.send(utf8: text)
                } else if waiting.count < 500 {
                    waiting.append(text)
                } else {
                    gateway.droppedInputs.increment()
                }
            case .log(let warning, let message):
                if warning { log.warning("\(message)") } else { log.info("\(message)") }
            case .end(let reason):
                ending = reason
            }
        }
        out.removeAll(keepingCapacity: true)
        carrier.flush()
        model?.flush()
        if carrierWritable == false || modelWritable == false { gateway.stalledPeers.increment() }
        if let ending { end(ending) }
    }

    /// Counters as deltas of the call's own, published at most every 250 ms (and at the end): each update takes the
    /// registry's locks, which thousands of calls share.
    private func publish(now: UInt64) {
        nextReport = now + 250_000_000
        let s = bridge.statistics
        func add(_ counter: Metrics.Counter, _ delta: Int) { if delta > 0 { counter.increment(by: delta) } }
        add(gateway.callerFrames, s.callerFrames - reported.callerFrames)
        add(gateway.appends, s.appends - reported.appends)
        add(gateway.framesOut, s.framesOut - reported.framesOut)
        add(gateway.bargeIns, s.bargeIns - reported.bargeIns)
        add(gateway.carrierErrors, s.carrierErrors - reported.carrierErrors)
        add(gateway.modelErrors, s.modelErrors - reported.modelErrors)
        add(gateway.lostFrames, s.lostFrames - reported.lostFrames)
        add(gateway.staleFrames, s.staleFrames - reported.staleFrames)
        add(gateway.localTurns, s.localTurns - reported.localTurns)
        if let t = s.lastTruncation, s.bargeIns != reported.bargeIns { gateway.truncationMs.record(t.audioEndMs) }
        reported = s
        if let pacer = bridge.leg?.pacer.statistics {
            add(gateway.underflows, pacer.underflows - reportedUnderflows)
            reportedUnderflows = pacer.underflows
            if pacer.frames > reportedLateness.reduce(0, +) {
                gateway.addLateness(zip(pacer.latenessBuckets, reportedLateness).map { $0 - $1 }[...], maximumNs: pacer.maximumLatenessNs)
                reportedLateness = pacer.latenessBuckets
            }
        }
    }

    private func end(_ reason: String) {
        guard !ended else { return }
        // Ended first: what is still queued goes out, and an `.end` among it cannot end the call a second time.
        ended = true
        bridge.finish(into: &out)
        perform()
        publish(now: Gateway.now())
        ticker.cancel(self)
        timerDeadline = .max
        log.info("ending: \(reason)")
        model?.close()
        carrier.close()
        log.info("call ended")
        gateway.callEnded()
    }
}
