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
    func write(opcode: WebSocketOpcode, payload: ByteBuffer, key: WebSocketMaskingKey?, promise: EventLoopPromise<Void>? = nil) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        var payload = payload
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
                for j in 0..<4 { h[n + j] = key[key.startIndex + j] }
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

/// XORs a buffer's readable bytes with a masking key (RFC 6455 §5.3), eight bytes at a time; masking and unmasking
/// are the same operation.
func mask(_ buffer: inout ByteBuffer, key: WebSocketMaskingKey) {
    let k = Array(key)
    buffer.withUnsafeMutableReadableBytes { bytes in
        guard let base = bytes.baseAddress else { return }
        let n = bytes.count
        // The key four bytes at a time, twice: the byte at offset i is XORed with k[i % 4].
        var word: UInt64 = 0
        for j in 0..<8 { word |= UInt64(k[j & 3]) << UInt64(8 * j) }
        word = UInt64(littleEndian: word)
        var i = 0
        while i + 8 <= n {
            let x = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            base.storeBytes(of: x ^ word, toByteOffset: i, as: UInt64.self)
            i += 8
        }
        while i < n {
            base.storeBytes(of: base.load(fromByteOffset: i, as: UInt8.self) ^ k[i & 3], toByteOffset: i, as: UInt8.self)
            i += 1
        }
    }
}
