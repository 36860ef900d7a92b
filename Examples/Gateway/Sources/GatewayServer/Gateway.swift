import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import HummingbirdWSClient
import HummingbirdWebSocket
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
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

    public init(realtimeURL: String, session: Session) {
        self.realtimeURL = realtimeURL
        self.session = session
    }
}

/// Why an upgrade was refused (counted in `gateway_upgrades_refused_total{reason}`).
enum Refusal: String {
    case unauthorized, full
}

/// The reference gateway: Twilio Media Streams WebSocket connections at `/media`, one Realtime WebSocket per call,
/// one ``CallBridge`` between them; `/metrics` (Prometheus) and `/health`.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    let logger: Logger
    let registry: PrometheusCollectorRegistry
    private let active = Mutex(0)
    /// Set by ``drain()``: when calls in progress must end (monotonic ns); new calls are refused from then on.
    private let draining = Mutex<UInt64?>(nil)
    private let nextCall = Mutex(0)

    let callsTotal: Metrics.Counter
    let callsActive: Metrics.Gauge
    let refusedUnauthorized: Metrics.Counter
    let refusedFull: Metrics.Counter
    let callerFrames: Metrics.Counter
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

    /// - Parameter registry: where the metrics go (one per gateway; `/metrics` shows it).
    public init(configuration: GatewayConfiguration, logger: Logger, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
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
        refusedUnauthorized = Metrics.Counter(label: "gateway_upgrades_refused_total", dimensions: [("reason", "unauthorized")], factory: factory)
        refusedFull = Metrics.Counter(label: "gateway_upgrades_refused_total", dimensions: [("reason", "full")], factory: factory)
        callerFrames = Metrics.Counter(label: "gateway_caller_frames_total", factory: factory)
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
    }

    /// The metrics in Prometheus' text format (what `/metrics` serves).
    public var registryText: [UInt8] { registry.emitToBuffer() }

    /// Calls in progress.
    public var activeCalls: Int { active.withLock { $0 } }

    /// Shutting down (SIGTERM): refuses new calls (503), lets the calls in progress go on for
    /// ``GatewayConfiguration/drainSeconds``, ends those still going then, and returns once none is left.
    public func drain() async {
        let deadline = Self.now() + UInt64(max(0, configuration.drainSeconds)) * 1_000_000_000
        draining.withLock { $0 = $0 ?? deadline }
        logger.notice("draining \(activeCalls) calls for up to \(configuration.drainSeconds) s")
        while activeCalls > 0, Self.now() < deadline + 2_000_000_000 {
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    /// Whether an upgrade request may become a call: a valid Twilio signature or the shared secret.
    func isAuthorized(_ request: Request) -> Bool {
        if let token = configuration.twilioAuthToken, let signature = request.headers[HTTPField.Name("X-Twilio-Signature")!] {
            if TwilioSignature.isValid(signature, authToken: token, url: calledURL(request)) { return true }
        }
        if let secret = configuration.sharedSecret, let given = request.headers[HTTPField.Name("X-Gateway-Secret")!] {
            return TwilioSignature.constantTimeEqual(secret, given)
        }
        return false
    }

    /// The URL the carrier called: `--public-url` with the request's path, or the request's own scheme, host and path.
    func calledURL(_ request: Request) -> String {
        let path = request.uri.string.hasPrefix("/") ? request.uri.string : "/" + request.uri.string
        if let base = configuration.publicURL { return base.hasSuffix("/") ? String(base.dropLast()) + path : base + path }
        let scheme = request.head.scheme == "https" ? "wss" : "ws"
        return "\(scheme)://\(request.head.authority ?? "\(configuration.host):\(configuration.port)")\(path)"
    }

    /// Reserves a call slot, or says why not.
    func admit(_ request: Request) -> Refusal? {
        guard isAuthorized(request) else { return .unauthorized }
        guard draining.withLock({ $0 }) == nil else { return .full }
        let admitted = active.withLock { n in
            guard n < configuration.maxCalls else { return false }
            n += 1
            return true
        }
        return admitted ? nil : .full
    }

    /// The application: `/media` (WebSocket), `/metrics`, `/health`.
    public func makeApplication(onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router()
        router.get("/health") { _, _ in "ok" }
        router.get("/metrics") { [registry] _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        // A refused upgrade lands here (the WebSocket router declined it): say why, without opening anything.
        router.get("/media") { [self] request, _ -> Response in
            let full = activeCalls >= configuration.maxCalls || draining.withLock { $0 } != nil
            return Response(status: isAuthorized(request) ? (full ? .serviceUnavailable : .upgradeRequired) : .forbidden)
        }
        let wsRouter = Router(context: BasicWebSocketRequestContext.self)
        wsRouter.ws("/media") { [self] request, _ in
            switch admit(request) {
            case nil:
                return .upgrade([:])
            case .unauthorized?:
                refusedUnauthorized.increment()
                logger.warning("upgrade refused: no valid signature", metadata: ["path": "\(request.uri.path)"])
                return .dontUpgrade
            case .full?:
                refusedFull.increment()
                logger.warning("upgrade refused: \(configuration.maxCalls) calls in progress")
                return .dontUpgrade
            }
        } onUpgrade: { [self] inbound, outbound, _ in
            await runCall(inbound: inbound, outbound: outbound)
        }
        return Application(router: router, server: .http1WebSocketUpgrade(webSocketRouter: wsRouter, configuration: .init(ws: .init(maxFrameSize: 1 << 16))),
                           configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "realtime-gateway"),
                           onServerRunning: onServerRunning, logger: logger)
    }

    // MARK: - One call

    enum Input: Sendable {
        case carrier(String, at: UInt64)
        case carrierBinary
        case carrierClosed
        case modelOpen(WebSocketOutboundWriter)
        case model(String)
        case modelClosed(String)
        case tick
    }

    func runCall(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        let id = nextCall.withLock { n in n += 1; return n }
        var callLog = logger
        callLog[metadataKey: "call"] = "\(id)"
        let log = callLog
        callsTotal.increment()
        callsActive.record(activeCalls)
        defer {
            active.withLock { $0 -= 1 }
            callsActive.record(activeCalls)
        }
        let bridge: CallBridge
        do { bridge = try CallBridge(session: configuration.session, turnTaking: configuration.turnTaking) } catch {
            log.error("call refused: \(error)")
            try? await outbound.close(.unexpectedServerError, reason: "session")
            return
        }
        // One queue for everything the call reacts to, bounded: a flooding peer loses its own frames (counted),
        // never the gateway's memory.
        let (inputs, feed) = AsyncStream<Input>.makeStream(bufferingPolicy: .bufferingOldest(2048))
        let deadline = Locked<UInt64?>(nil)
        let tickPending = Locked(false)
        log.info("call started")
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                do {
                    for try await message in inbound.messages(maxSize: 1 << 16) {
                        let result: AsyncStream<Input>.Continuation.YieldResult
                        switch message {
                        case .text(let text): result = feed.yield(.carrier(text, at: Self.now()))
                        case .binary: result = feed.yield(.carrierBinary)
                        }
                        if case .dropped = result { droppedInputs.increment() }
                    }
                } catch {
                    log.warning("carrier socket: \(error)")
                }
                feed.yield(.carrierClosed)
            }
            group.addTask { [self] in
                var headers = HTTPFields()
                if let key = configuration.apiKey { headers[.authorization] = "Bearer \(key)" }
                if configuration.session.shape == .beta { headers[HTTPField.Name("OpenAI-Beta")!] = "realtime=v1" }
                do {
                    try await WebSocketClient.connect(url: configuration.realtimeURL,
                                                      configuration: .init(maxFrameSize: 1 << 22, additionalHeaders: headers),
                                                      logger: log) { modelIn, modelOut, _ in
                        feed.yield(.modelOpen(modelOut))
                        for try await message in modelIn.messages(maxSize: 1 << 22) {
                            if case .text(let text) = message, case .dropped = feed.yield(.model(text)) { self.droppedInputs.increment() }
                        }
                    }
                    feed.yield(.modelClosed("the model closed the connection"))
                } catch {
                    // The error names the URL's host at most; the key is in a header, never in the URL.
                    feed.yield(.modelClosed("model connection: \(error)"))
                }
            }
            group.addTask {
                // Wakes the loop at the pacer's deadlines (at least every 20 ms while the call lasts, at most every
                // millisecond), one tick at a time: a loop that falls behind under load is never flooded with ticks.
                while !Task.isCancelled {
                    let now = Self.now()
                    let next = deadline.withLock { $0 } ?? (now + 20_000_000)
                    let wait = next > now ? min(next - now, 20_000_000) : 0
                    try? await Task.sleep(nanoseconds: max(wait, 1_000_000))
                    if tickPending.withLock({ pending in defer { pending = true }; return !pending }) { feed.yield(.tick) }
                }
            }
            await loop(bridge: bridge, inputs: inputs, carrier: outbound, deadline: deadline, tickPending: tickPending, log: log)
            feed.finish()
            group.cancelAll()
        }
        log.info("call ended")
    }

    private func loop(bridge initial: CallBridge, inputs: AsyncStream<Input>, carrier: WebSocketOutboundWriter,
                      deadline: Locked<UInt64?>, tickPending: Locked<Bool>, log: Logger) async {
        var bridge = initial
        var model: WebSocketOutboundWriter?
        var waiting: [String] = []
        var out: [BridgeAction] = []
        var reported = CallStatistics()
        var reportedUnderflows = 0
        var drainDeadline: UInt64?
        var nextReport: UInt64 = 0
        out = bridge.open()
        for await input in inputs {
            let now = Self.now()
            var receivedAt: UInt64?
            switch input {
            case .carrier(let text, let at):
                receivedAt = at
                bridge.carrier(text, now: now, into: &out)
            case .carrierBinary:
                carrierErrors.increment()
                log.warning("carrier sent a binary frame: ignored")
            case .carrierClosed:
                out.append(.end(reason: "the carrier closed the socket"))
            case .modelOpen(let writer):
                model = writer
            case .model(let text):
                bridge.model(text, now: now, into: &out)
            case .modelClosed(let why):
                modelFailures.increment()
                out.append(.end(reason: why))
            case .tick:
                tickPending.withLock { $0 = false }
            }
            if drainDeadline == nil, let deadline = draining.withLock({ $0 }) {
                drainDeadline = deadline
                log.info("shutting down: the call may go on for \(configuration.drainSeconds) s")
            }
            bridge.poll(now: Self.now(), into: &out)
            var ending: String?
            for action in out {
                switch action {
                case .toCarrier(let text):
                    do { try await carrier.write(.text(text)) } catch { ending = "carrier write: \(error)" }
                case .toModel(let text):
                    if let model {
                        for queued in waiting { try? await model.write(.text(queued)) }
                        waiting.removeAll()
                        do { try await model.write(.text(text)) } catch { ending = "model write: \(error)" }
                    } else if waiting.count < 500 {
                        waiting.append(text)
                    } else {
                        droppedInputs.increment()
                    }
                case .log(let warning, let message):
                    if warning { log.warning("\(message)") } else { log.info("\(message)") }
                case .end(let reason):
                    ending = reason
                }
            }
            out.removeAll(keepingCapacity: true)
            if let receivedAt { inboundLatency.recordNanoseconds(Int64(Self.now() - receivedAt)) }
            // Counters as deltas of the call's own, published at most every 250 ms (and at the end): each update
            // takes the registry's locks, which thousands of calls share.
            if now >= nextReport || ending != nil {
                nextReport = now + 250_000_000
                let s = bridge.statistics
                func publish(_ counter: Metrics.Counter, _ delta: Int) { if delta > 0 { counter.increment(by: delta) } }
                publish(callerFrames, s.callerFrames - reported.callerFrames)
                publish(framesOut, s.framesOut - reported.framesOut)
                publish(bargeIns, s.bargeIns - reported.bargeIns)
                publish(carrierErrors, s.carrierErrors - reported.carrierErrors)
                publish(modelErrors, s.modelErrors - reported.modelErrors)
                publish(lostFrames, s.lostFrames - reported.lostFrames)
                publish(staleFrames, s.staleFrames - reported.staleFrames)
                publish(localTurns, s.localTurns - reported.localTurns)
                if let t = s.lastTruncation, s.bargeIns != reported.bargeIns { truncationMs.record(t.audioEndMs) }
                reported = s
                let u = bridge.leg?.pacer.statistics.underflows ?? 0
                publish(underflows, u - reportedUnderflows)
                reportedUnderflows = u
            }
            deadline.withLock { $0 = bridge.nextDeadline }
            if let drainDeadline, Self.now() >= drainDeadline, ending == nil { ending = "the gateway is shutting down" }
            if let ending {
                log.info("ending: \(ending)")
                try? await model?.close(.normalClosure, reason: nil)
                try? await carrier.close(.normalClosure, reason: nil)
                return
            }
        }
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}
