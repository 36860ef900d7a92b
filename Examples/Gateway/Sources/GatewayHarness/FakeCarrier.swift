import Foundation
import GatewayCore
import GatewayNet
import NIOCore
import NIOPosix
import NIOSSL
import RealtimeAudio
import RealtimeCarrier
import RealtimeSession

/// A Twilio Media Streams client for tests and load: streams a caller's audio as 20 ms µ-law `media` messages at
/// real-time pace (or faster), plays what the gateway sends at exactly 8000 samples/s into a recording, echoes a
/// mark only once the audio before it has played, honours `clear` (dropping what is queued and echoing the marks
/// it held, as Twilio does), and can mix an echo of what it plays into what it sends.
public enum FakeCarrier {
    public struct Configuration: Sendable {
        /// The gateway's `/media` URL.
        public var url: String
        /// Headers of the upgrade (`X-Twilio-Signature`, `X-Gateway-Secret`).
        public var headers: [String: String] = [:]
        /// The caller's audio at 8 kHz, -1...1.
        public var caller: [Float]
        /// How long the call goes on after the caller's audio ends, in seconds: the carrier keeps streaming
        /// (silence, as a quiet line does) and playing.
        public var tailSeconds = 3.0
        /// An echo of what is played, mixed into what is sent: its level (dB, negative) and delay (ms).
        public var echo: (gainDB: Double, delayMs: Int)?
        /// Time runs this many times faster than real time (1: a real call; more for load on a fast path).
        public var speedup = 1.0
        public var streamSid = "MZ00000000000000000000000000000001"
        /// Lose every n-th caller frame (not sent; its chunk number is skipped, as a lossy path leaves it).
        public var lossEvery: Int?
        /// Send every n-th caller frame after the one that follows it (the two swapped, as a reordering path does).
        public var reorderEvery: Int?
        /// Check the gateway's TLS certificate (`wss://`); off for a test proxy's self-signed one.
        public var verifyCertificate = true
        /// Frames a careless or hostile carrier sends after `start` (text frames as given; `nil` a binary frame).
        public var extraFrames: [String?] = []
        /// The caller's frames already encoded (µ-law, base64), shared by the calls of a load run so that each
        /// frame is encoded once rather than once per call; made from `caller` when not given. Not used with an
        /// echo (what is sent then depends on what was played).
        public var encodedCaller: EncodedCaller?

        public init(url: String, caller: [Float]) {
            self.url = url
            self.caller = caller
        }
    }

    /// The caller's audio as the base64 payloads of its 20 ms µ-law frames, and a silent frame's.
    public final class EncodedCaller: Sendable {
        public let payloads: [[UInt8]]
        public let silence: [UInt8]
        public init(_ caller: [Float]) {
            let law = G711.muLaw
            payloads = stride(from: 0, to: caller.count, by: 160).map { start in
                var frame = [Float](repeating: 0, count: 160)
                for i in start..<min(caller.count, start + 160) { frame[i - start] = caller[i] }
                return Array(Base64.encode(law.encode(frame)).utf8)
            }
            silence = Array(Base64.encode(law.encode([Float](repeating: 0, count: 160))).utf8)
        }
    }

    /// What the call did, from the carrier's side.
    public struct Result: Sendable {
        /// µ-law bytes played, in order (gap-free: only what was received).
        public var played: [UInt8] = []
        /// Bytes played at each 20 ms tick (160 when a whole frame played, fewer when the queue ran short).
        public var playedPerTick: [Int] = []
        /// Frames sent.
        public var sentFrames = 0
        /// Each `clear`: when it came (ms from the call's start), the response playing and the samples of it played.
        public var clears: [(atMs: Double, response: Int?, playedSamples: Int)] = []
        /// Marks of a response after that response was cleared (frames of it played after `clear`).
        public var marksAfterClear = 0
        /// Marks echoed.
        public var marksEchoed = 0
        /// Where each response started in `played` (from its marks).
        public var responseStarts: [Int: Int] = [:]
        /// Ticks with nothing to play between ticks that played whole frames, less than 100 ms apart (the
        /// gateway fell behind inside a stream of audio).
        public var starvedTicks = 0
        /// Frame release lateness seen by the carrier: for each frame, how much later than 20 ms after the previous
        /// one it arrived, in ms (jitter of the gateway's pacing plus the loopback).
        public var arrivalGapsMs: [Double] = []
        /// How late the carrier's own ticks ran, in ms, one per tick after the first: how far behind its 20 ms
        /// schedule the fake itself was when it sent and played (a loaded machine delays the load generator too, and
        /// a late carrier sends the gateway less than it claims at that moment).
        public var tickLatenessMs: [Double] = []
        /// The socket closed before the call ended.
        public var closedEarly = false
        /// When the call started (its first tick, uptime ns): tick k plays at this plus k x 20 ms.
        public var startedAtNs: UInt64 = 0
    }

    /// Runs one call against the gateway; returns when the caller's audio and the tail have played.
    /// - Parameter eventLoop: where the call runs (one of the shared group's loops by default).
    public static func run(_ configuration: Configuration,
                           on eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()) async throws -> Result {
        var tls = TLSConfiguration.makeClientConfiguration()
        if !configuration.verifyCertificate { tls.certificateVerification = .none }
        let target = try WebSocketClient.Target(url: configuration.url)
        let done = eventLoop.makePromise(of: Result.self)
        // The call starts in the connect's own callback, on the loop, before the socket delivers anything: a
        // gateway that answers (or hangs up) at once is heard.
        WebSocketClient.connect(to: target, headers: configuration.headers.map { ($0.key, $0.value) },
                                eventLoop: eventLoop, maxMessageBytes: 1 << 16, tls: tls).whenComplete { connected in
            switch connected {
            case .success(let socket): CarrierPeer(configuration: configuration, socket: socket, done: done).start()
            case .failure(let error): done.fail(error)
            }
        }
        var result = try await done.futureResult.get()
        // Starved ticks: a tick with less than a frame between two ticks that played whole frames of one stream.
        let ticks = result.playedPerTick
        var k = 1
        while k < ticks.count - 1 {
            if ticks[k] == 0, ticks[k - 1] == 160 {
                var j = k
                while j < ticks.count, ticks[j] == 0 { j += 1 }
                if j < ticks.count, j - k < 5 { result.starvedTicks += j - k }
                k = j
            } else {
                k += 1
            }
        }
        return result
    }
}

/// One fake call, on its socket's event loop: a timer sends and plays a frame every 20 ms; what the gateway sends
/// is queued, marked and cleared as it arrives.
final class CarrierPeer: WebSocketDelegate, Ticking, @unchecked Sendable {
    let configuration: FakeCarrier.Configuration
    let socket: WebSocket
    let done: EventLoopPromise<FakeCarrier.Result>
    let law = G711.muLaw
    let frames: Int
    let tickNs: Int64
    let echoGain: Float?
    let echoDelay: Int
    let encoded: FakeCarrier.EncodedCaller
    var startedAt = NIODeadline.now()
    var k = 0
    var queue: [UInt8] = []
    var queueHead = 0
    var enqueued = 0
    var playedCount = 0
    var pendingMarks: [(position: Int, name: String)] = []
    var result = FakeCarrier.Result()
    var cleared: Set<Int> = []
    var lastArrival: UInt64?
    /// The length of the last media frame that came, in samples (its successor is due that much later).
    var lastArrivalSamples = 160
    var senderDone = false
    /// The loop's shared timer (one wake-up per frame).
    let ticker: LoopTicker
    var tickerGeneration: UInt64 = 0
    /// What was played, as samples, for the echo (kept only as far back as the echo reaches).
    var playedSignal: [Float] = []
    var playedSignalStart = 0
    /// A frame held back to be sent after the next one (reordering).
    var held: ByteBuffer?

    init(configuration: FakeCarrier.Configuration, socket: WebSocket, done: EventLoopPromise<FakeCarrier.Result>) {
        self.configuration = configuration
        self.socket = socket
        self.done = done
        frames = (configuration.caller.count + 159) / 160 + Int(configuration.tailSeconds * 50)
        tickNs = Int64(20_000_000 / configuration.speedup)
        echoGain = configuration.echo.map { Float(pow(10, $0.gainDB / 20)) }
        echoDelay = (configuration.echo?.delayMs ?? 0) * 8
        ticker = LoopTicker.of(socket.channel.eventLoop)
        encoded = configuration.encodedCaller ?? FakeCarrier.EncodedCaller(configuration.echo == nil ? configuration.caller : [])
    }

    var sid: String { configuration.streamSid }

    func start() {
        socket.delegate = self
        socket.send(#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#)
        socket.send(#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC0000","streamSid":"\#(sid)","callSid":"CA0000","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{}},"streamSid":"\#(sid)"}"#)
        for frame in configuration.extraFrames {
            if let frame { socket.send(frame) } else { socket.send(binary: socket.channel.allocator.buffer(bytes: [0, 1, 2, 3])) }
        }
        socket.flush()
        startedAt = .now()
        result.startedAtNs = startedAt.uptimeNanoseconds
        tick()
    }

    /// Plays one frame's worth of what is queued (echoing the marks it passes), sends the caller's next frame.
    private func tick() {
        guard !senderDone else { return }
        if k == frames {
            // Ended by us from here on: the gateway closes the socket as soon as it reads the stop.
            senderDone = true
            socket.send(#"{"event":"stop","sequenceNumber":"\#(frames + 2)","streamSid":"\#(sid)","stop":{"accountSid":"AC0000","callSid":"CA0000"}}"#)
            socket.close()
            return
        }
        let n = min(160, queue.count - queueHead)
        let playedNow = queue[queueHead..<(queueHead + n)]
        result.played += playedNow
        result.playedPerTick.append(n)
        queueHead += n
        playedCount += n
        if echoGain != nil {
            playedSignal += law.decodeFloat(Array(playedNow)) + [Float](repeating: 0, count: 160 - n)
            // Keep only what the echo can still reach.
            let keepFrom = k * 160 - echoDelay - 160
            if keepFrom - playedSignalStart > 8000 {
                playedSignal.removeFirst(keepFrom - playedSignalStart)
                playedSignalStart = keepFrom
            }
        }
        if queueHead > 65536 { queue.removeFirst(queueHead); queueHead = 0 }
        while let first = pendingMarks.first, first.position <= playedCount {
            sendMark(first.name)
            pendingMarks.removeFirst()
        }
        let lost = configuration.lossEvery.map { $0 > 0 && (k + 1) % $0 == 0 } ?? false
        if !lost {
            let payload: [UInt8]
            if echoGain == nil {
                payload = k < encoded.payloads.count ? encoded.payloads[k] : encoded.silence
            } else {
                var frame = [Float](repeating: 0, count: 160)
                for i in 0..<160 {
                    let t = k * 160 + i
                    var x = t < configuration.caller.count ? configuration.caller[t] : 0
                    let e = t - echoDelay - playedSignalStart
                    if let echoGain, t - echoDelay >= 0, e >= 0, e < playedSignal.count { x += echoGain * playedSignal[e] }
                    frame[i] = x
                }
                payload = Array(Base64.encode(law.encode(frame)).utf8)
            }
            // Written straight into the frame's buffer: at hundreds of calls, string interpolation per frame was
            // a visible share of the fake carrier's time.
            var message = socket.messageBuffer(capacity: payload.count + 160 + sid.utf8.count)
            message.writeStaticString(#"{"event":"media","sequenceNumber":""#)
            message.writeDecimal(k + 2)
            message.writeStaticString(#"","media":{"track":"inbound","chunk":""#)
            message.writeDecimal(k + 1)
            message.writeStaticString(#"","timestamp":""#)
            message.writeDecimal(k * 20)
            message.writeStaticString(#"","payload":""#)
            message.writeBytes(payload)
            message.writeStaticString(#""},"streamSid":""#)
            message.writeString(sid)
            message.writeStaticString(#""}"#)
            result.sentFrames += 1
            if let n = configuration.reorderEvery, n > 0, (k + 1) % n == 0, k + 1 < frames {
                held = consume message
            } else {
                socket.send(text: consume message)
                if let late = held.take() { socket.send(text: late) }
            }
        }
        socket.flush()
        k += 1
        ticker.wake(self, at: (startedAt + .nanoseconds(tickNs * Int64(k))).uptimeNanoseconds)
    }

    func tick(now: UInt64) {
        let due = (startedAt + .nanoseconds(tickNs * Int64(k))).uptimeNanoseconds
        result.tickLatenessMs.append(now > due ? Double(now - due) / 1e6 : 0)
        tick()
    }

    /// A media frame of `samples` came at `now`: its gap to the previous one, less that frame's length beyond
    /// 20 ms (a gateway may send longer frames: 20 is on time whatever their length).
    private func mediaArrived(now: UInt64, samples: Int) {
        if let last = lastArrival {
            result.arrivalGapsMs.append(Double(now - last) / 1e6 * configuration.speedup - Double(lastArrivalSamples - 160) / 8)
        }
        lastArrival = now
        lastArrivalSamples = samples
    }

    /// The string value of `key` in a message of event `event` in the compact shape a gateway writes (the event
    /// first, the value without escapes), found without the JSON parser: the range of its characters, nil for any
    /// other message (the full parser reads it then). A raw `"key":"` can only be a key: inside a JSON string its
    /// quotes would be escaped.
    private func compactValue(event: [UInt8], key: [UInt8], in bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        guard let at = find(event, in: bytes, from: 0),
              bytes[..<at].allSatisfy({ $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: " ") }),
              let found = find(key, in: bytes, from: 0) else { return nil }
        let start = found + key.count
        guard let end = bytes[start...].firstIndex(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }),
              bytes[end] == UInt8(ascii: "\"") else { return nil }
        return start..<end
    }

    /// A `media` event read without the JSON parser (most of what a gateway sends): its payload is decoded straight
    /// into the play queue. nil when the message is anything else or not in the compact shape; false when the
    /// payload is not base64.
    private func mediaFastPath(_ text: UnsafeRawBufferPointer) -> Bool? {
        let bytes = text.bindMemory(to: UInt8.self)
        guard let range = compactValue(event: Self.mediaEvent, key: Self.payloadKey, in: bytes) else { return nil }
        let characters = UnsafeBufferPointer(rebasing: bytes[range])
        let old = queue.count
        queue.append(contentsOf: repeatElement(0, count: Base64.decodedCapacity(forCharacterCount: characters.count)))
        let written = queue.withUnsafeMutableBufferPointer { q in
            try? Base64.decode(characters, into: UnsafeMutableBufferPointer(rebasing: q[old...]))
        }
        queue.removeLast(queue.count - old - (written ?? 0))
        guard let written else { return false }
        enqueued += written
        return true
    }

    /// The name of a `mark` event read without the JSON parser (a gateway sends one with every frame); nil when the
    /// message is anything else or not in the compact shape.
    private func compactMarkName(_ text: UnsafeRawBufferPointer) -> String? {
        let bytes = text.bindMemory(to: UInt8.self)
        guard let range = compactValue(event: Self.markEvent, key: Self.nameKey, in: bytes) else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// A mark to echo once the audio queued before it has played.
    private func markArrived(_ name: String) {
        if let (response, sample) = pacerMark(name) {
            if cleared.contains(response) { result.marksAfterClear += 1 }
            if result.responseStarts[response] == nil { result.responseStarts[response] = enqueued - sample }
        }
        pendingMarks.append((enqueued, name))
    }

    private static let markEvent = Array(#""event":"mark""#.utf8)
    private static let nameKey = Array(#""name":""#.utf8)
    private static let mediaEvent = Array(#""event":"media""#.utf8)
    private static let payloadKey = Array(#""payload":""#.utf8)

    private func find(_ needle: [UInt8], in haystack: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = from
        while i <= haystack.count - needle.count {
            if haystack[i] == needle[0], needle.indices.allSatisfy({ haystack[i + $0] == needle[$0] }) { return i }
            i += 1
        }
        return nil
    }

    private func sendMark(_ name: String) {
        socket.send(#"{"event":"mark","sequenceNumber":"0","streamSid":"\#(sid)","mark":{"name":"\#(name)"}}"#)
        result.marksEchoed += 1
    }

    func webSocket(_ socket: WebSocket, received text: UnsafeRawBufferPointer) {
        let now = NIODeadline.now().uptimeNanoseconds
        let before = enqueued
        if let decoded = mediaFastPath(text) {
            if decoded { mediaArrived(now: now, samples: enqueued - before) }
            return
        }
        if let name = compactMarkName(text) { return markArrived(name) }
        guard let object = try? JSONValue(parsing: String(decoding: text, as: UTF8.self)), case .string(let event)? = object["event"] else { return }
        switch event {
        case "media":
            guard case .string(let payload)? = object["media"]?["payload"], let bytes = try? Base64.decode(payload) else { return }
            queue += bytes
            enqueued += bytes.count
            mediaArrived(now: now, samples: bytes.count)
        case "mark":
            guard case .string(let name)? = object["mark"]?["name"] else { return }
            markArrived(name)
        case "clear":
            let elapsedMs = Double(now - startedAt.uptimeNanoseconds) / 1e6
            let position = playedCount
            let playing = result.responseStarts.filter { $0.value <= position }.max { $0.key < $1.key }
            result.clears.append((elapsedMs * configuration.speedup, playing?.key, playing.map { position - $0.value } ?? 0))
            for r in result.responseStarts.keys { cleared.insert(r) }
            queue.removeAll()
            queueHead = 0
            enqueued = playedCount
            lastArrival = nil
            for mark in pendingMarks { sendMark(mark.name) }
            pendingMarks.removeAll()
            socket.flush()
        default:
            break
        }
    }

    func webSocketReceivedBinary(_ socket: WebSocket) {}

    func webSocketClosed(_ socket: WebSocket, error: (any Error)?) {
        if !senderDone { result.closedEarly = true }
        senderDone = true
        ticker.cancel(self)
        done.succeed(result)
    }
}

/// The response and sample of a pacer mark (`rtaudio:<response>:<sample>`), nil for any other name.
func pacerMark(_ name: String) -> (Int, Int)? {
    // Read in place: a gateway sends one with every frame, and splitting each made an array of strings.
    var utf8 = name.utf8[...]
    guard utf8.starts(with: "rtaudio:".utf8) else { return nil }
    utf8 = utf8.dropFirst(8)
    func number() -> Int? {
        var value = 0, digits = 0
        while let c = utf8.first, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9"), digits < 18 {
            value = value * 10 + Int(c - UInt8(ascii: "0"))
            digits += 1
            utf8 = utf8.dropFirst()
        }
        return digits > 0 ? value : nil
    }
    guard let r = number(), utf8.first == UInt8(ascii: ":") else { return nil }
    utf8 = utf8.dropFirst()
    guard let s = number(), utf8.isEmpty else { return nil }
    return (r, s)
}

extension ByteBuffer {
    /// Writes a non-negative integer in decimal ASCII (no string made of it).
    mutating func writeDecimal(_ value: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 24 digits
        let count = withUnsafeMutableBytes(of: &digits) { d -> Int in
            var v = max(0, value), n = 0
            repeat {
                d[23 - n] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                n += 1
            } while v > 0
            return n
        }
        withUnsafeBytes(of: &digits) { _ = writeBytes(UnsafeRawBufferPointer(rebasing: $0[(24 - count)...])) }
    }
}
