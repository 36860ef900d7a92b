import Glibc
import NIOCore
import NIOWebSocket

/// What a ``WebSocket`` tells its owner. Every call comes on the socket's event loop, one at a time.
public protocol WebSocketDelegate: AnyObject {
    /// A whole text message (fragments joined).
    func webSocket(_ socket: WebSocket, received text: ByteBuffer)
    /// A whole binary message.
    func webSocketReceivedBinary(_ socket: WebSocket)
    /// The connection ended (closed by either side, or failed: `error` says why when it failed).
    func webSocketClosed(_ socket: WebSocket, error: (any Error)?)
}

/// One WebSocket connection, bound to its channel's event loop: every member must be used on that loop (the
/// gateway runs a call's two sockets and its bridge on one loop, so nothing hops between threads per frame).
///
/// Writes are buffered until ``flush()``: a caller writes what one event produced, then flushes once, so a
/// burst of frames costs one system call. A peer that stops reading makes ``isWritable`` false once
/// ``pendingLimitBytes`` are queued; owners drop or end the call then, so a slow peer cannot grow memory.
public final class WebSocket: @unchecked Sendable {
    public let channel: any Channel
    /// Client sockets mask what they send (RFC 6455 §5.3); server sockets do not.
    public let isClient: Bool
    /// Held strongly until the connection ends (then released, which breaks an owner's cycle with its sockets).
    public var delegate: (any WebSocketDelegate)? {
        didSet {
            // An owner that arrives after the connection ended still hears that it ended.
            if closedReported, let owner = delegate {
                delegate = nil
                owner.webSocketClosed(self, error: nil)
            }
        }
    }
    /// Bytes a message may have after its fragments are joined; a longer one closes the socket (1009).
    public let maxMessageBytes: Int
    private var fragments: ByteBuffer?
    private var fragmentsAreText = false
    private var closing = false
    private var closedReported = false
    private var needsFlush = false
    private var keys = MaskingKeys()
    private let writer = RawFrameWriter()

    init(channel: any Channel, isClient: Bool, maxMessageBytes: Int) {
        self.channel = channel
        self.isClient = isClient
        self.maxMessageBytes = maxMessageBytes
    }

    /// Puts the socket at the end of its upgraded pipeline, and our frame writer below NIO's encoder.
    func install() -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            let encoder = try pipeline.context(handlerType: WebSocketFrameEncoder.self)
            try pipeline.addHandler(writer, position: .before(encoder.handler))
            try pipeline.addHandler(WebSocketHandler(socket: self))
        }
    }

    /// Whether the peer keeps up: false once more than the channel's high water mark is queued unsent.
    public var isWritable: Bool { channel.isWritable }

    /// Whether a close was sent or the connection is gone.
    public var isClosing: Bool { closing }

    /// Queues a text message (sent at the next ``flush()``).
    public func send(_ text: String) {
        // Room in front for the frame's header, so the frame goes out as one buffer.
        let reserve = RawFrameWriter.maximumHeaderBytes
        var buffer = channel.allocator.buffer(capacity: reserve + text.utf8.count)
        buffer.moveWriterIndex(forwardBy: reserve)
        buffer.moveReaderIndex(forwardBy: reserve)
        buffer.writeString(text)
        send(text: buffer)
    }

    /// Queues a text message already in a buffer.
    public func send(text buffer: ByteBuffer) {
        guard !closing else { return }
        write(.text, buffer)
    }

    /// Queues a binary message.
    public func send(binary buffer: ByteBuffer) {
        guard !closing else { return }
        write(.binary, buffer)
    }

    private func write(_ opcode: WebSocketOpcode, _ payload: ByteBuffer) {
        writer.write(opcode: opcode, payload: payload, key: isClient ? keys.next() : nil)
        needsFlush = true
    }

    /// Sends what was queued.
    public func flush() {
        guard needsFlush else { return }
        needsFlush = false
        writer.flush()
    }

    /// Sends a close frame (after what is queued) and closes the connection once it is out.
    public func close(code: WebSocketErrorCode = .normalClosure) {
        guard !closing else { return }
        closing = true
        var data = channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        needsFlush = false
        let channel = self.channel
        let sent = channel.eventLoop.makePromise(of: Void.self)
        writer.write(opcode: .connectionClose, payload: data, key: isClient ? keys.next() : nil, promise: sent)
        writer.flush()
        sent.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }

    func received(_ frame: WebSocketFrame) {
        switch frame.opcode {
        case .text, .binary, .continuation, .ping:
            var data = frame.data
            if let key = frame.maskKey { mask(&data, key: key) }
            receivedData(frame, data)
        case .connectionClose:
            // The peer ends: answer its close (RFC 6455 §5.5.1) and let the socket go.
            if !closing { close(code: .normalClosure) }
        default:
            break
        }
    }

    private func receivedData(_ frame: WebSocketFrame, _ payload: ByteBuffer) {
        switch frame.opcode {
        case .text, .binary:
            if fragments != nil { return fail(.protocolError) }  // a new message inside a fragmented one
            if frame.fin { return deliver(payload, text: frame.opcode == .text) }
            fragments = payload
            fragmentsAreText = frame.opcode == .text
        case .continuation:
            guard var joined = fragments else { return fail(.protocolError) }
            var data = payload
            guard joined.readableBytes + data.readableBytes <= maxMessageBytes else { return fail(.messageTooLarge) }
            joined.writeBuffer(&data)
            if frame.fin {
                fragments = nil
                deliver(joined, text: fragmentsAreText)
            } else {
                fragments = joined
            }
        case .ping:
            guard !closing else { return }
            write(.pong, payload)
            flush()
        default:
            break
        }
    }

    private func deliver(_ data: ByteBuffer, text: Bool) {
        guard data.readableBytes <= maxMessageBytes else { return fail(.messageTooLarge) }
        if text { delegate?.webSocket(self, received: data) } else { delegate?.webSocketReceivedBinary(self) }
    }

    private func fail(_ code: WebSocketErrorCode) { close(code: code) }

    func ended(_ error: (any Error)?) {
        guard !closedReported else { return }
        closedReported = true
        closing = true
        let owner = delegate
        delegate = nil
        owner?.webSocketClosed(self, error: error)
    }
}

/// The handler at the end of an upgraded pipeline: frames in, to the socket.
final class WebSocketHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame
    let socket: WebSocket

    init(socket: WebSocket) { self.socket = socket }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        socket.received(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        socket.ended(nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // After our close went out, a peer that drops TLS without close_notify (nginx does) is not a failure.
        socket.ended(socket.isClosing ? nil : error)
        context.close(promise: nil)
    }
}

/// Masking keys from glibc's `arc4random_buf` (a ChaCha20 generator seeded by the kernel), 4 KiB at a time:
/// RFC 6455 asks for keys from a strong source of entropy, not for a `getrandom` system call per frame, which is what
/// `WebSocketMaskingKey.random()` costs.
struct MaskingKeys {
    private var pool = [UInt8](repeating: 0, count: 4096)
    private var used = 4096

    mutating func next() -> WebSocketMaskingKey {
        if used == pool.count {
            pool.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
            used = 0
        }
        defer { used += 4 }
        return WebSocketMaskingKey(pool[used..<(used + 4)])!
    }
}
