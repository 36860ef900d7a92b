import NIOCore
import NIOWebSocket

/// Frames out, written below NIO's `WebSocketFrameEncoder` (which stays in the pipeline for nothing but its place):
/// the header goes into the room the payload's buffer keeps in front of it (``WebSocket/send(_:)`` reserves it), so a
/// frame is one buffer and one iovec, and a client's payload is masked eight bytes at a time. NIO's encoder writes the
/// header as a second buffer when there is no room and masks byte by byte, which under load is a visible share of
/// the gateway's time (BENCHMARKS.md, the reference gateway).
final class RawFrameWriter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private(set) var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// The longest header: 2 bytes, 8 of extended length, 4 of mask.
    static let maximumHeaderBytes = 14

    /// Writes one whole frame (not flushed).
    /// - Parameters:
    ///   - payload: taken: the mask and the header (into the room before its reader index, when there is some) are
    ///     written into it in place. A payload the caller still holds is copied on the first write instead (the
    ///     whole message, a second allocation), so the callers hand theirs over.
    ///   - key: the masking key as four bytes in memory order (a client's frames), nil for none.
    func write(opcode: WebSocketOpcode, payload: consuming ByteBuffer, key: UInt32?, promise: EventLoopPromise<Void>? = nil) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        if let key { mask(&payload, key: key) }
        let count = payload.readableBytes
        var header = (UInt64(0), UInt64(0))  // 16 bytes of room for the 14 at most
        let headerCount = withUnsafeMutableBytes(of: &header) { h -> Int in
            h[0] = 0x80 | UInt8(webSocketOpcode: opcode)
            let maskBit: UInt8 = key == nil ? 0 : 0x80
            var n: Int
            if count < 126 {
                h[1] = maskBit | UInt8(count)
                n = 2
            } else if count <= 0xFFFF {
                h[1] = maskBit | 126
                h[2] = UInt8(count >> 8)
                h[3] = UInt8(count & 0xFF)
                n = 4
            } else {
                h[1] = maskBit | 127
                for j in 0..<8 { h[2 + j] = UInt8((UInt64(count) >> UInt64(56 - 8 * j)) & 0xFF) }
                n = 10
            }
            if let key {
                h.storeBytes(of: key, toByteOffset: n, as: UInt32.self)
                n += 4
            }
            return n
        }
        let frame: ByteBuffer
        if payload.readerIndex >= headerCount {
            payload.moveReaderIndex(to: payload.readerIndex - headerCount)
            withUnsafeBytes(of: &header) { _ = payload.setBytes(UnsafeRawBufferPointer(rebasing: $0[..<headerCount]), at: payload.readerIndex) }
            frame = payload
        } else {
            var buffer = context.channel.allocator.buffer(capacity: headerCount + count)
            withUnsafeBytes(of: &header) { _ = buffer.writeBytes(UnsafeRawBufferPointer(rebasing: $0[..<headerCount])) }
            buffer.writeBuffer(&payload)
            frame = buffer
        }
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    func flush() { context?.flush() }
}

/// Frames in, parsed straight from the socket's reads (RFC 6455 §5.2), in place of NIO's `WebSocketFrameDecoder`
/// behind a `ByteToMessageHandler`: a message reaches the socket as the bytes of the read that carried it (unmasked
/// into the socket's scratch buffer when the peer masks), with no frame value, no buffer slice and no allocation per
/// frame. Under load the decoder's handler hops and buffers were a tenth of the gateway's time (BENCHMARKS.md).
///
/// What it refuses closes the connection with the RFC's code: reserved bits or opcodes (no extension is
/// negotiated), a control frame that is fragmented or longer than 125 bytes (1002), a frame longer than the
/// socket's ``WebSocket/maxMessageBytes`` (1009, before its payload is read); a client's unmasked frame at a server,
/// a server's masked frame at a client (1002). A frame split over reads waits, whole, in one buffer bounded by the
/// same limit.
final class RawFrameReader: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let socket: WebSocket
    /// The start of a frame whose end has not come yet.
    private var partial: ByteBuffer?

    init(socket: WebSocket) { self.socket = socket }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        if var carried = partial {
            partial = nil
            carried.writeBuffer(&buffer)
            buffer = carried
        }
        while !socket.isClosing, buffer.readableBytes > 0 {
            let taken = buffer.withUnsafeReadableBytes { socket.takeFrame(from: $0) }
            guard let taken else { break }
            buffer.moveReaderIndex(forwardBy: taken)
        }
        if !socket.isClosing, buffer.readableBytes > 0 {
            buffer.discardReadBytes()
            partial = buffer
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        partial = nil
        socket.ended(nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // After our close went out, a peer that drops TLS without close_notify (nginx does) is not a failure.
        socket.ended(socket.isClosing ? nil : error)
        context.close(promise: nil)
    }
}

/// One frame's header (RFC 6455 §5.2).
struct FrameHeader: Equatable {
    var fin: Bool
    var opcode: UInt8
    /// The masking key as four bytes in order, nil when the frame is not masked.
    var key: UInt32?
    var payloadCount: Int
    /// Bytes of header before the payload.
    var headerCount: Int

    /// Why a header is refused (the close code to answer with).
    enum Refusal: Error, Equatable { case protocolError, tooLarge }

    /// Reads the header at the start of `bytes`: nil when more bytes are needed to know it.
    /// - Throws: ``Refusal`` for reserved bits or opcodes, a bad control frame, or a payload over `maximum`.
    static func read(_ bytes: UnsafeRawBufferPointer, maximum: Int) throws(Refusal) -> FrameHeader? {
        guard bytes.count >= 2 else { return nil }
        let b0 = bytes[0], b1 = bytes[1]
        guard b0 & 0x70 == 0 else { throw .protocolError }
        let opcode = b0 & 0x0F
        let fin = b0 & 0x80 != 0
        switch opcode {
        case 0x0, 0x1, 0x2: break
        case 0x8, 0x9, 0xA:
            guard fin, b1 & 0x7F <= 125 else { throw .protocolError }
        default: throw .protocolError
        }
        var n = 2
        var count = Int(b1 & 0x7F)
        if count == 126 {
            guard bytes.count >= 4 else { return nil }
            count = Int(bytes[2]) << 8 | Int(bytes[3])
            n = 4
        } else if count == 127 {
            guard bytes.count >= 10 else { return nil }
            var length: UInt64 = 0
            for j in 0..<8 { length = length << 8 | UInt64(bytes[2 + j]) }
            guard length <= UInt64(maximum) else { throw length >> 63 == 0 ? .tooLarge : .protocolError }
            count = Int(length)
            n = 10
        }
        guard count <= maximum else { throw .tooLarge }
        var key: UInt32?
        if b1 & 0x80 != 0 {
            guard bytes.count >= n + 4 else { return nil }
            key = bytes.loadUnaligned(fromByteOffset: n, as: UInt32.self)
            n += 4
        }
        return FrameHeader(fin: fin, opcode: opcode, key: key, payloadCount: count, headerCount: n)
    }
}

/// XORs `count` bytes from `source` with a masking key (four bytes in memory order) into `target` (which may be
/// `source`), eight bytes at a time.
func unmask(_ source: UnsafeRawPointer, into target: UnsafeMutableRawPointer, count: Int, key: UInt32) {
    let word = UInt64(key) | UInt64(key) << 32
    var i = 0
    while i + 8 <= count {
        target.storeBytes(of: source.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ word, toByteOffset: i, as: UInt64.self)
        i += 8
    }
    withUnsafeBytes(of: key) { k in
        while i < count {
            target.storeBytes(of: source.load(fromByteOffset: i, as: UInt8.self) ^ k[i & 3], toByteOffset: i, as: UInt8.self)
            i += 1
        }
    }
}

/// XORs a buffer's readable bytes with a masking key (four bytes in memory order; RFC 6455 §5.3): masking and
/// unmasking are the same operation.
func mask(_ buffer: inout ByteBuffer, key: UInt32) {
    buffer.withUnsafeMutableReadableBytes { bytes in
        guard let base = bytes.baseAddress else { return }
        unmask(base, into: base, count: bytes.count, key: key)
    }
}
