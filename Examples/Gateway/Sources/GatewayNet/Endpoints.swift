import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// A plain HTTP answer (for requests that are not WebSocket upgrades).
public struct HTTPAnswer: Sendable {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: [UInt8]

    public init(status: HTTPResponseStatus, contentType: String = "text/plain", body: [UInt8] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// A WebSocket server on swift-nio: each upgrade is offered to `shouldUpgrade` (on the connection's event loop), an
/// accepted one becomes a ``WebSocket`` handed to `onUpgrade`; every other request (and a refused upgrade) is
/// answered by `answer`.
public enum WebSocketServer {
    /// Binds and returns the listening channel (its `localAddress` has the port when `port` is 0).
    /// - Parameters:
    ///   - maxMessageBytes: the longest message a peer may send (frames and joined fragments); longer closes with 1009.
    ///   - shouldUpgrade: true to accept the upgrade; false to answer it with `answer` instead.
    ///   - onUpgrade: the new socket, on its event loop; set its delegate here.
    public static func bind(group: any EventLoopGroup, host: String, port: Int, maxMessageBytes: Int,
                            shouldUpgrade: @escaping @Sendable (HTTPRequestHead) -> Bool,
                            onUpgrade: @escaping @Sendable (WebSocket, HTTPRequestHead) -> Void,
                            answer: @escaping @Sendable (HTTPRequestHead) -> HTTPAnswer) -> EventLoopFuture<any Channel> {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 64 << 10, high: 256 << 10))
            .childChannelInitializer { channel in
                let http = HTTPAnswerHandler(answer: answer)
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: maxMessageBytes, automaticErrorHandling: false,
                    shouldUpgrade: { channel, head in channel.eventLoop.makeSucceededFuture(shouldUpgrade(head) ? HTTPHeaders() : nil) },
                    upgradePipelineHandler: { channel, head in
                        let socket = WebSocket(channel: channel, isClient: false, maxMessageBytes: maxMessageBytes)
                        return channel.pipeline.removeHandler(http).flatMap { socket.install() }.map { onUpgrade(socket, head) }
                            .flatMapErrorThrowing { error in
                                channel.close(promise: nil)
                                throw error
                            }
                    })
                return channel.pipeline.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                    .flatMap { channel.pipeline.addHandler(http) }
            }
            .bind(host: host, port: port)
    }
}

/// Answers HTTP requests that did not become WebSockets.
final class HTTPAnswerHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let answer: @Sendable (HTTPRequestHead) -> HTTPAnswer
    private var head: HTTPRequestHead?

    init(answer: @escaping @Sendable (HTTPRequestHead) -> HTTPAnswer) { self.answer = answer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let a = answer(head)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: a.contentType)
            headers.add(name: "Content-Length", value: "\(a.body.count)")
            if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: a.status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: a.body)))), promise: nil)
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !head.isKeepAlive { done.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) } }
        }
    }
}

/// Why a client connection did not become a WebSocket.
public enum WebSocketClientError: Error, CustomStringConvertible, Sendable {
    case invalidURL(String)
    /// The server answered the upgrade with this status instead of 101.
    case refused(status: Int)
    case closedBeforeUpgrade
    /// The server did not answer the upgrade in time.
    case upgradeTimedOut

    public var description: String {
        switch self {
        case .invalidURL(let url): "not a ws:// or wss:// URL: \(url)"
        case .refused(let status): "the server refused the WebSocket upgrade (HTTP \(status))"
        case .closedBeforeUpgrade: "the connection closed before the WebSocket upgrade"
        case .upgradeTimedOut: "the server did not answer the WebSocket upgrade in time"
        }
    }
}

/// A WebSocket client on swift-nio.
public enum WebSocketClient {
    /// The parts of a `ws://` or `wss://` URL.
    public struct Target: Sendable {
        public var secure: Bool
        public var host: String
        public var port: Int
        /// Path and query, from the first `/` (`/` when the URL has none).
        public var path: String

        public init(url: String) throws(WebSocketClientError) {
            let rest: Substring
            if url.hasPrefix("ws://") { secure = false; rest = url.dropFirst(5) } else if url.hasPrefix("wss://") { secure = true; rest = url.dropFirst(6) } else {
                throw .invalidURL(url)
            }
            let slash = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            var authority = rest[..<slash]
            path = slash == rest.endIndex ? "/" : (rest[slash] == "?" ? "/" + rest[slash...] : String(rest[slash...]))
            if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
            var portText: Substring?
            if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {  // [v6]:port
                host = String(authority[authority.index(after: authority.startIndex)..<close])
                let after = authority[authority.index(after: close)...]
                if after.hasPrefix(":") { portText = after.dropFirst() }
            } else if let colon = authority.lastIndex(of: ":") {
                host = String(authority[..<colon])
                portText = authority[authority.index(after: colon)...]
            } else {
                host = String(authority)
            }
            if let portText {
                guard let p = Int(portText), (1...65535).contains(p) else { throw .invalidURL(url) }
                port = p
            } else {
                port = secure ? 443 : 80
            }
            guard !host.isEmpty else { throw .invalidURL(url) }
        }

        /// The `Host` header's value.
        var hostHeader: String {
            let name = host.contains(":") ? "[\(host)]" : host
            return port == (secure ? 443 : 80) ? name : "\(name):\(port)"
        }
    }

    /// Connects on `eventLoop` and upgrades; the socket is handed out on that loop (set its delegate before anything
    /// else: the future completes before any message is read).
    /// - Parameters:
    ///   - headers: extra headers of the upgrade request (`Authorization`, signatures).
    ///   - tls: the TLS configuration for `wss://` (the system's trust roots and hostname check by default).
    public static func connect(to target: Target, headers: [(String, String)] = [], eventLoop: any EventLoop,
                               maxMessageBytes: Int, tls: TLSConfiguration = .makeClientConfiguration(),
                               connectTimeout: TimeAmount = .seconds(10)) -> EventLoopFuture<WebSocket> {
        let upgraded = eventLoop.makePromise(of: WebSocket.self)
        let sslContext: NIOSSLContext?
        do { sslContext = target.secure ? try NIOSSLContext(configuration: tls) : nil } catch {
            upgraded.fail(error)
            return upgraded.futureResult
        }
        var requestHeaders = HTTPHeaders()
        requestHeaders.add(name: "Host", value: target.hostHeader)
        for (name, value) in headers { requestHeaders.add(name: name, value: value) }
        let upgradeHeaders = requestHeaders
        let path = target.path
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: 256 << 10, high: 1 << 20))
            .channelInitializer { channel in
                do {
                    if let sslContext {
                        let serverName = target.host.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" } ? nil : target.host
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    }
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                let request = UpgradeRequestHandler(path: path, headers: upgradeHeaders, upgraded: upgraded)
                let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: maxMessageBytes, automaticErrorHandling: false) { channel, _ in
                    let socket = WebSocket(channel: channel, isClient: true, maxMessageBytes: maxMessageBytes)
                    return channel.pipeline.removeHandler(request).flatMap { socket.install() }.map { upgraded.succeed(socket) }
                        .flatMapErrorThrowing { error in
                            upgraded.fail(error)
                            channel.close(promise: nil)
                            throw error
                        }
                }
                return channel.pipeline.addHTTPClientHandlers(withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                    .flatMap { channel.pipeline.addHandler(request) }
            }
            .connect(host: target.host, port: target.port)
        connected.whenFailure { upgraded.fail($0) }
        // A server that takes the connection and never answers the upgrade fails it too, after the same time.
        let timeout = eventLoop.scheduleTask(in: connectTimeout) {
            upgraded.fail(WebSocketClientError.upgradeTimedOut)
            connected.whenSuccess { $0.close(promise: nil) }
        }
        upgraded.futureResult.whenComplete { _ in timeout.cancel() }
        return upgraded.futureResult
    }
}

/// Sends the upgrade request once connected; fails the upgrade if the server answers anything but 101.
final class UpgradeRequestHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart
    let path: String
    let headers: HTTPHeaders
    let upgraded: EventLoopPromise<WebSocket>

    init(path: String, headers: HTTPHeaders, upgraded: EventLoopPromise<WebSocket>) {
        self.path = path
        self.headers = headers
        self.upgraded = upgraded
    }

    func channelActive(context: ChannelHandlerContext) {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Only a response that did not upgrade gets here.
        if case .head(let head) = unwrapInboundIn(data) {
            upgraded.fail(WebSocketClientError.refused(status: Int(head.status.code)))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        upgraded.fail(WebSocketClientError.closedBeforeUpgrade)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        upgraded.fail(error)
        context.close(promise: nil)
    }
}
