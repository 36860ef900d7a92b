@testable import GatewayNet
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

/// A frame as a peer would put it on the wire (RFC 6455 §5.2), masked with `key` when given.
func wireFrame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, key: [UInt8]? = nil, rsv: UInt8 = 0) -> [UInt8] {
    var out: [UInt8] = [(fin ? 0x80 : 0) | rsv | opcode]
    let maskBit: UInt8 = key == nil ? 0 : 0x80
    if payload.count < 126 {
        out.append(maskBit | UInt8(payload.count))
    } else if payload.count <= 0xFFFF {
        out += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
    } else {
        out.append(maskBit | 127)
        for j in 0..<8 { out.append(UInt8((UInt64(payload.count) >> UInt64(56 - 8 * j)) & 0xFF)) }
    }
    guard let key else { return out + payload }
    return out + key + payload.enumerated().map { $0.element ^ key[$0.offset & 3] }
}

/// Collects what a socket delivers.
final class Collector: WebSocketDelegate {
    var texts: [[UInt8]] = []
    var binaries = 0
    var closed = false
    func webSocket(_ socket: WebSocket, received text: UnsafeRawBufferPointer) { texts.append(Array(text)) }
    func webSocketReceivedBinary(_ socket: WebSocket) { binaries += 1 }
    func webSocketClosed(_ socket: WebSocket, error: (any Error)?) { closed = true }
}

/// A socket on an embedded channel with our reader and writer (what an upgrade installs), and its collector.
func embeddedSocket(isClient: Bool, maxMessageBytes: Int = 1 << 16) throws -> (EmbeddedChannel, WebSocket, Collector) {
    let channel = EmbeddedChannel()
    let socket = WebSocket(channel: channel, isClient: isClient, maxMessageBytes: maxMessageBytes)
    try channel.pipeline.syncOperations.addHandler(WebSocketFrameEncoder())
    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxMessageBytes)))
    let installed = socket.install()
    channel.embeddedEventLoop.run()  // the decoder's removal is a task of the loop
    try installed.wait()
    let collector = Collector()
    socket.delegate = collector
    return (channel, socket, collector)
}

/// The frames a socket wrote, parsed back (opcode and payload, unmasked).
func writtenFrames(_ channel: EmbeddedChannel) throws -> [(opcode: UInt8, payload: [UInt8])] {
    var frames: [(UInt8, [UInt8])] = []
    while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
        var bytes = Array(buffer.readableBytesView)
        while !bytes.isEmpty {
            let header = try bytes.withUnsafeBytes { try FrameHeader.read($0, maximum: 1 << 20) }!
            var payload = Array(bytes[header.headerCount..<(header.headerCount + header.payloadCount)])
            if let key = header.key { payload.withUnsafeMutableBytes { unmask($0.baseAddress!, into: $0.baseAddress!, count: $0.count, key: key) } }
            frames.append((bytes[0] & 0x0F, payload))
            bytes.removeFirst(header.headerCount + header.payloadCount)
        }
    }
    return frames
}

@Suite("WebSocket frames, read and written without NIO's codec")
struct FrameTests {
    @Test("unmasking is a XOR with the key's bytes in turn, at every length and alignment")
    func unmaskMatchesTheDefinition() {
        let key: [UInt8] = [0x12, 0xA5, 0x3C, 0xF0]
        let word = key.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        for count in 0..<41 {
            for offset in 0..<8 {
                let source = (0..<(count + offset)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
                var target = [UInt8](repeating: 0, count: count)
                source.withUnsafeBytes { s in
                    target.withUnsafeMutableBytes { t in
                        if count > 0 { unmask(s.baseAddress! + offset, into: t.baseAddress!, count: count, key: word) }
                    }
                }
                #expect(target == (0..<count).map { source[offset + $0] ^ key[$0 & 3] })
            }
        }
    }

    @Test("a header is known only once whole: every shorter prefix asks for more (7-, 16- and 64-bit lengths, masked or not)")
    func headerNeedsItsBytes() throws {
        for count in [0, 125, 126, 65535, 65536] {
            for key in [nil, [UInt8]([1, 2, 3, 4])] {
                let frame = wireFrame(0x1, [UInt8](repeating: 7, count: count), key: key)
                let header = try frame.withUnsafeBytes { try FrameHeader.read($0, maximum: 1 << 20) }
                #expect(header?.payloadCount == count && header?.fin == true && header?.opcode == 1 && (header?.key != nil) == (key != nil))
                for cut in 0..<header!.headerCount {
                    #expect(try frame[..<cut].withUnsafeBytes { try FrameHeader.read($0, maximum: 1 << 20) } == nil)
                }
            }
        }
    }

    @Test("refused headers: reserved bits and opcodes, fragmented or long control frames, lengths over the limit or with the top bit set")
    func refusedHeaders() {
        func refusal(_ bytes: [UInt8], maximum: Int = 1000) -> FrameHeader.Refusal? {
            do { _ = try bytes.withUnsafeBytes { try FrameHeader.read($0, maximum: maximum) }; return nil } catch { return error as? FrameHeader.Refusal }
        }
        #expect(refusal(wireFrame(0x1, [1], rsv: 0x40)) == .protocolError)
        for opcode: UInt8 in [0x3, 0x7, 0xB, 0xF] { #expect(refusal(wireFrame(opcode, [1])) == .protocolError) }
        #expect(refusal(wireFrame(0x9, [1], fin: false)) == .protocolError)
        #expect(refusal(wireFrame(0x8, [UInt8](repeating: 0, count: 126))) == .protocolError)
        #expect(refusal(wireFrame(0x1, [UInt8](repeating: 0, count: 1001))) == .tooLarge)
        #expect(refusal([0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]) == .protocolError)
        #expect(refusal([0x81, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) == .tooLarge)
        #expect(refusal(wireFrame(0x1, [UInt8](repeating: 0, count: 1000))) == nil)
    }

    @Test("a stream of messages, fragments and pings, cut at every byte, gives the same messages and pongs")
    func anyCutGivesTheSameMessages() throws {
        let key: [UInt8] = [9, 8, 7, 6]
        let long = (0..<70000).map { UInt8(truncatingIfNeeded: $0) }
        let stream = wireFrame(0x1, Array(#"{"event":"media"}"#.utf8), key: key)
            + wireFrame(0x1, Array("frag".utf8), fin: false, key: key) + wireFrame(0x9, [1, 2], key: key)
            + wireFrame(0x0, Array("ment".utf8), fin: false, key: key) + wireFrame(0x0, Array("ed".utf8), key: key)
            + wireFrame(0x2, [0, 1, 2], key: key) + wireFrame(0x1, [], key: key) + wireFrame(0x1, long, key: key)
        let expected = [Array(#"{"event":"media"}"#.utf8), Array("fragmented".utf8), [], long]
        for cut in Array(0...40) + [stream.count / 2, stream.count - 1] {
            let (channel, socket, collector) = try embeddedSocket(isClient: false, maxMessageBytes: 1 << 17)
            try channel.writeInbound(channel.allocator.buffer(bytes: stream[..<cut]))
            try channel.writeInbound(channel.allocator.buffer(bytes: stream[cut...]))
            #expect(collector.texts == expected && collector.binaries == 1, "cut at \(cut)")
            let written = try writtenFrames(channel)
            #expect(written.count == 1 && written[0].opcode == 0xA && written[0].payload == [1, 2], "cut at \(cut)")
            #expect(!socket.isClosing)
        }
    }

    @Test("empty frames first: a masked empty ping, message and close reach a fresh server socket whole")
    func emptyFramesFirst() throws {
        let (server, socket, collector) = try embeddedSocket(isClient: false)
        try server.writeInbound(server.allocator.buffer(bytes: wireFrame(0x9, [], key: [1, 2, 3, 4])))
        try server.writeInbound(server.allocator.buffer(bytes: wireFrame(0x1, [], key: [5, 6, 7, 8])))
        #expect(collector.texts == [[]] && !socket.isClosing)
        try server.writeInbound(server.allocator.buffer(bytes: wireFrame(0x8, [], key: [9, 9, 9, 9])))
        #expect(try writtenFrames(server).map(\.opcode) == [0xA, 0x8] && socket.isClosing)
    }

    @Test("a client reads a server's unmasked frames and masks its own; a server's masked frame is refused")
    func masking() throws {
        let (client, socket, collector) = try embeddedSocket(isClient: true)
        try client.writeInbound(client.allocator.buffer(bytes: wireFrame(0x1, Array("hello".utf8))))
        #expect(collector.texts == [Array("hello".utf8)])
        socket.send("hi")
        socket.flush()
        let sent = try #require(try client.readOutbound(as: ByteBuffer.self))
        #expect(sent.getInteger(at: sent.readerIndex + 1, as: UInt8.self)! & 0x80 != 0)
        try client.writeInbound(client.allocator.buffer(bytes: wireFrame(0x1, Array("masked".utf8), key: [1, 2, 3, 4])))
        #expect(collector.texts.count == 1 && socket.isClosing)
        #expect(try writtenFrames(client).map(\.opcode) == [0x8])
    }

    @Test("refusals close with the RFC's code and read nothing after: unmasked at a server (1002), too long (1009), a stray continuation (1002)")
    func refusalsClose() throws {
        let cases: [([UInt8], UInt16)] = [
            (wireFrame(0x1, [1]), 1002),
            (wireFrame(0x1, [UInt8](repeating: 0, count: 200), key: [1, 1, 1, 1]), 1009),
            (wireFrame(0x0, [1], key: [1, 1, 1, 1]), 1002),
            (wireFrame(0x1, [1], fin: false, key: [1, 1, 1, 1]) + wireFrame(0x1, [2], key: [1, 1, 1, 1]), 1002),
        ]
        for (bytes, code) in cases {
            let (server, socket, collector) = try embeddedSocket(isClient: false, maxMessageBytes: 100)
            try server.writeInbound(server.allocator.buffer(bytes: bytes + wireFrame(0x1, [5], key: [1, 1, 1, 1])))
            #expect(collector.texts.isEmpty && socket.isClosing)
            let written = try writtenFrames(server)
            #expect(written.count == 1 && written[0].opcode == 0x8 && written[0].payload == [UInt8(code >> 8), UInt8(code & 0xFF)])
        }
    }

    @Test("a close is answered with a close, then the connection is closed and the owner hears it")
    func closeIsAnswered() throws {
        let (server, socket, collector) = try embeddedSocket(isClient: false)
        try server.writeInbound(server.allocator.buffer(bytes: wireFrame(0x8, [0x03, 0xE8], key: [4, 3, 2, 1])))
        #expect(socket.isClosing)
        #expect(try writtenFrames(server).map(\.opcode) == [0x8])
        server.embeddedEventLoop.run()
        #expect(collector.closed && !server.isActive)
    }
}
