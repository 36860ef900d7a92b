import ArgumentParser
import Foundation
import GatewayCore
import GatewayServer
import Logging
import NIOCore
import RealtimeSession
import UnixSignals

/// `realtime-gateway`: Twilio Media Streams to the Realtime API.
@main
struct RealtimeGateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "realtime-gateway",
        abstract: "Bridge Twilio Media Streams calls to a Realtime API endpoint, one model connection per call.",
        discussion: """
            Twilio connects to ws(s)://HOST:PORT/media (a <Connect><Stream url="wss://your.host/media"/> TwiML). Each \
            call opens a WebSocket to --realtime-url and sends session.update built from --session (GA or beta \
            shape, validated: every violation is listed and the gateway does not start). The API key comes from \
            OPENAI_API_KEY and is sent as Authorization: Bearer; it never appears in logs.

            Who may call: with TWILIO_AUTH_TOKEN set, the upgrade must carry a valid X-Twilio-Signature over the \
            URL Twilio called (the upgrade's scheme, Host and path, or --public-url behind a TLS proxy); with \
            GATEWAY_SHARED_SECRET set, an X-Gateway-Secret header equal to it is accepted too (other carriers, \
            local use). Anything else gets 403 before any model connection. One of the two must be set.

            GET /metrics serves Prometheus metrics; GET /health answers "ok". SIGTERM stops accepting calls and \
            waits up to --drain-seconds for the calls in progress.
            """
    )

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on.")
    var port = 8080

    @Option(name: .customLong("realtime-url"), help: "The Realtime endpoint: wss://api.openai.com/v1/realtime?model=gpt-realtime, or ws:// for local use.")
    var realtimeURL: String

    @Option(help: "The session JSON sent as session.update (GA or beta shape).")
    var session: String

    @Option(name: .customLong("turn-detection"), help: "server: the model's turn detection; local: ours (the model's is turned off).")
    var turnDetection = "server"

    @Option(name: .customLong("public-url"), help: "The URL Twilio dials when a TLS proxy is in front (wss://voice.example.com): signatures are checked over it.")
    var publicURL: String?

    @Option(name: .customLong("max-calls"), help: "Concurrent calls accepted; beyond it an upgrade gets 503.")
    var maxCalls = 1000

    @Option(name: .customLong("drain-seconds"), help: "On SIGTERM, how long calls in progress may go on.")
    var drainSeconds = 30

    @Option(name: .customLong("frame-ms"), help: "Length of each media frame sent to the carrier, 20 to 60 ms, a mark after each (longer: fewer messages per call).")
    var frameMs = 40

    @Option(name: .customLong("append-ms"), help: "The most caller audio, 20 to 200 ms, one append to the model gathers while the gateway runs behind (20: every frame as it comes, always).")
    var appendMs = 100

    @Flag(name: .customLong("refuse-when-overloaded"), help: "Refuse new calls (503) on an event loop whose timers run 10 ms or more late, several times a second: the calls in progress keep their timing, and a load balancer in front sends the call elsewhere.")
    var refuseWhenOverloaded = false

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard let turnTaking = TurnTaking(rawValue: turnDetection) else { throw ValidationError("--turn-detection must be server or local, not '\(turnDetection)'") }
        guard (1...65535).contains(port) || port == 0 else { throw ValidationError("--port \(port) is outside 0...65535") }
        guard maxCalls >= 1 else { throw ValidationError("--max-calls must be at least 1") }
        guard (20...60).contains(frameMs) else { throw ValidationError("--frame-ms \(frameMs) is outside 20...60") }
        guard (20...CallBridge.maximumAppendMs).contains(appendMs) else {
            throw ValidationError("--append-ms \(appendMs) is outside 20...\(CallBridge.maximumAppendMs)")
        }
        guard realtimeURL.hasPrefix("ws://") || realtimeURL.hasPrefix("wss://") else {
            throw ValidationError("--realtime-url must start with ws:// or wss://")
        }
        let text: String
        do { text = try String(contentsOfFile: session, encoding: .utf8) } catch { throw ValidationError("cannot read --session '\(session)'") }
        let (parsed, report) = Session.validate(json: text)
        guard let parsed else {
            throw ValidationError("--session '\(session)' is invalid:\n" + report.violations.map { "  \($0)" }.joined(separator: "\n"))
        }
        let environment = ProcessInfo.processInfo.environment
        var configuration = GatewayConfiguration(realtimeURL: realtimeURL, session: parsed)
        configuration.host = host
        configuration.port = port
        configuration.turnTaking = turnTaking
        configuration.apiKey = environment["OPENAI_API_KEY"]
        configuration.twilioAuthToken = environment["TWILIO_AUTH_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.sharedSecret = environment["GATEWAY_SHARED_SECRET"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.publicURL = publicURL
        configuration.maxCalls = maxCalls
        configuration.drainSeconds = drainSeconds
        configuration.outboundFrameMs = frameMs
        configuration.appendMs = appendMs
        configuration.refuseWhenOverloaded = refuseWhenOverloaded
        guard configuration.twilioAuthToken != nil || configuration.sharedSecret != nil else {
            throw ValidationError("set TWILIO_AUTH_TOKEN (Twilio signatures) or GATEWAY_SHARED_SECRET: the gateway lets no one in unchecked")
        }
        var logger = Logger(label: "realtime-gateway")
        logger.logLevel = level
        for warning in report.warnings { logger.warning("session: \(warning)") }
        for note in (try? parsed.pipelineNotes()) ?? [] { logger.notice("session: \(note)") }
        let gateway: Gateway
        do { gateway = try Gateway(configuration: configuration, logger: logger) } catch { throw ValidationError("--realtime-url: \(error)") }
        let server: any Channel
        do { server = try await gateway.bind() } catch { throw ValidationError("cannot listen on \(host):\(port): \(error)") }
        logger.notice("listening on \(server.localAddress.map { "\($0)" } ?? "\(host):\(port)")")
        // SIGTERM and SIGINT: stop accepting, let the calls in progress end (up to --drain-seconds), then exit.
        for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
            await gateway.drain()
            try? await server.close()
            return
        }
    }
}
