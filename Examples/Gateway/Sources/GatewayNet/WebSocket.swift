import Glibc
import NIOCore
import NIOWebSocket

/// What a ``WebSocket`` tells its owner. Every call comes on the socket's event loop, one at a time.
public protocol WebSocketDelegate: AnyObject {
    /// A whole text message (fragments joined), as its bytes: valid during the call only (they are the socket's
    /// read buffer, or its scratch buffer when the peer masks).
    func webSocket(_ socket: WebSocket, received text: UnsafeRawBufferPointer)
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
    /// A fragmented message's pieces so far (`joining` while one is open).
    private var fragments: [UInt8] = []
    private var joining = false
    private var fragmentsAreText = false
    /// Where a masked payload is unmasked (reused, as large as the largest frame so far: at most `maxMessageBytes`).
    private var unmasked: [UInt8] = []
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

    /// Replaces NIO's frame decoder with our reader (where the upgrade put it) and puts our frame writer below
    /// NIO's encoder. The future completes once the decoder is gone: the upgrade hands on the bytes that came with
    /// it only then, so they all reach the reader.
    func install() -> EventLoopFuture<Void> {
        let pipeline = channel.pipeline.syncOperations
        do {
            let encoder = try pipeline.context(handlerType: WebSocketFrameEncoder.self)
            let decoder = try pipeline.context(handlerType: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try pipeline.addHandler(writer, position: .before(encoder.handler))
            try pipeline.addHandler(RawFrameReader(socket: self), position: .after(decoder.handler))
            return pipeline.removeHandler(context: decoder)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    /// Whether the peer keeps up: false once more than the channel's high water mark is queued unsent.
    public var isWritable: Bool { channel.isWritable }

    /// Whether a close was sent or the connection is gone.
    public var isClosing: Bool { closing }

    /// An empty buffer for a message of up to `capacity` bytes, with room in front for the frame's header: written
    /// and handed to ``send(text:)``, it goes out as one buffer, the header (and a client's mask) written in place.
    public func messageBuffer(capacity: Int) -> ByteBuffer {
        let room = RawFrameWriter.maximumHeaderBytes
        var buffer = channel.allocator.buffer(capacity: room + capacity)
        buffer.moveWriterIndex(forwardBy: room)
        buffer.moveReaderIndex(forwardBy: room)
        return buffer
    }

    /// Queues a text message (sent at the next ``flush()``).
    public func send(_ text: String) {
        var buffer = messageBuffer(capacity: text.utf8.count)
        buffer.writeString(text)
        send(text: consume buffer)
    }

    /// Queues a text message given as its UTF-8 bytes (sent at the next ``flush()``).
    public func send(utf8 bytes: [UInt8]) {
        var buffer = messageBuffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        send(text: consume buffer)
    }

    /// Queues a text message already in a buffer (taken: pass it with `consume`, and the frame's header and mask go
    /// into it in place; a buffer still referenced elsewhere is copied first).
    public func send(text buffer: consuming ByteBuffer) {
        guard !closing else { return }
        write(.text, buffer)
    }

    /// Queues a binary message (taken, as ``send(text:)`` takes its buffer).
    public func send(binary buffer: consuming ByteBuffer) {
        guard !closing else { return }
        write(.binary, buffer)
    }

    private func write(_ opcode: WebSocketOpcode, _ payload: consuming ByteBuffer) {
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

    /// Takes the frame at the start of `bytes` (from ``RawFrameReader``): the bytes it used, nil while the frame
    /// is not whole. A refused frame closes the socket (nothing after it is read).
    func takeFrame(from bytes: UnsafeRawBufferPointer) -> Int? {
        let header: FrameHeader
        do {
            guard let read = try FrameHeader.read(bytes, maximum: maxMessageBytes) else { return nil }
            header = read
        } catch {
            fail(error == .tooLarge ? .messageTooLarge : .protocolError)
            return 0
        }
        // A client masks every frame, a server none (RFC 6455 §5.1).
        guard (header.key != nil) != isClient else {
            fail(.protocolError)
            return 0
        }
        let total = header.headerCount + header.payloadCount
        guard bytes.count >= total else { return nil }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[header.headerCount..<total])
        if let key = header.key {
            if unmasked.count < payload.count { unmasked = [UInt8](repeating: 0, count: payload.count) }
            unmasked.withUnsafeMutableBytes { target in
                // An empty payload (a bare ping, an empty message) has nothing to unmask, and maybe no buffer yet.
                if payload.count > 0, let source = payload.baseAddress, let into = target.baseAddress {
                    unmask(source, into: into, count: payload.count, key: key)
                }
                received(header.opcode, fin: header.fin, UnsafeRawBufferPointer(rebasing: target[..<payload.count]))
            }
        } else {
            received(header.opcode, fin: header.fin, payload)
        }
        return total
    }

    private func received(_ opcode: UInt8, fin: Bool, _ payload: UnsafeRawBufferPointer) {
        switch opcode {
        case 0x1, 0x2:
            if joining { return fail(.protocolError) }  // a new message inside a fragmented one
            if fin { return deliver(payload, text: opcode == 0x1) }
            joining = true
            fragmentsAreText = opcode == 0x1
            fragments.removeAll(keepingCapacity: true)
            fragments.append(contentsOf: payload)
        case 0x0:
            guard joining else { return fail(.protocolError) }
            guard fragments.count + payload.count <= maxMessageBytes else { return fail(.messageTooLarge) }
            fragments.append(contentsOf: payload)
            guard fin else { return }
            joining = false
            fragments.withUnsafeBytes { deliver($0, text: fragmentsAreText) }
            // A long message's room is not kept for the rest of the call.
            fragments.removeAll(keepingCapacity: fragments.capacity <= 1 << 16)
        case 0x8:
            // The peer ends: answer its close (RFC 6455 §5.5.1) and let the socket go.
            if !closing { close(code: .normalClosure) }
        case 0x9:
            guard !closing else { return }
            write(.pong, channel.allocator.buffer(bytes: payload))
            flush()
        default:
            break  // pong
        }
    }

    private func deliver(_ data: UnsafeRawBufferPointer, text: Bool) {
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

/// Masking keys from glibc's `arc4random_buf` (a ChaCha20 generator seeded by the kernel), 4 KiB at a time:
/// RFC 6455 asks for keys from a strong source of entropy, not for a `getrandom` system call per frame, which is what
/// `WebSocketMaskingKey.random()` costs.
struct MaskingKeys {
    private var pool = [UInt8](repeating: 0, count: 4096)
    private var used = 4096

    /// The next key, as four bytes in memory order.
    mutating func next() -> UInt32 {
        if used == pool.count {
            pool.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
            used = 0
        }
        defer { used += 4 }
        return pool.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: used, as: UInt32.self) }
    }
}
