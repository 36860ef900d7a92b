import Foundation
import GatewayCore
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOSSL
import RealtimeAudio
import RealtimeCarrier
import Synchronization

/// A Twilio Media Streams client for tests and load: streams a caller's audio as 20 ms µ-law `media` messages at
/// real-time pace (or faster), plays what the gateway sends at exactly 8000 samples/s into a recording, echoes a
/// mark only once the audio before it has played, honours `clear` (dropping what is queued and echoing the marks
/// it held, as Twilio does), and can mix an echo of what it plays into what it sends.
public enum FakeCarrier {
    public struct Configuration: Sendable {
        /// The gateway's `/media` URL.
        public var url: String
        /// Headers of the upgrade (`X-Twilio-Signature`, `X-Gateway-Secret`).
        public var headers: HTTPFields = [:]
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
        /// Check the gateway's TLS certificate (`wss://`); off for a test proxy's self-signed one.
        public var verifyCertificate = true
        /// Frames a careless or hostile carrier sends after `start` (text frames as given; `nil` a binary frame).
        public var extraFrames: [String?] = []

        public init(url: String, caller: [Float]) {
            self.url = url
            self.caller = caller
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
        /// The socket closed before the call ended.
        public var closedEarly = false
    }

    private struct State {
        var queue: [UInt8] = []
        var queueHead = 0
        var enqueued = 0
        var playedCount = 0
        var pendingMarks: [(position: Int, name: String)] = []
        var result = Result()
        var cleared: Set<Int> = []
        var lastArrival: UInt64?
        var ended = false
    }

    /// Runs one call against the gateway; returns when the caller's audio and the tail have played.
    public static func run(_ configuration: Configuration, logger: Logger = Logger(label: "fake-carrier")) async throws -> Result {
        let state = Locked(State())
        let law = G711.muLaw
        let codes = law.encode(configuration.caller)
        let frames = (codes.count + 159) / 160 + Int(configuration.tailSeconds * 50)
        let tick = Duration.nanoseconds(Int64(20_000_000 / configuration.speedup))
        let echoGain = configuration.echo.map { Float(pow(10, $0.gainDB / 20)) }
        let echoDelay = (configuration.echo?.delayMs ?? 0) * 8
        // A proxy that ends TLS without close_notify after the call has ended (nginx does) is not a failed call: the
        // WebSocket close says when the call ended, and `closedEarly` reports a cut.
        var socket = WebSocketClientConfiguration(maxFrameSize: 1 << 16, additionalHeaders: configuration.headers)
        socket.ignoreUncleanSSLShutdownErrors = true
        var tls = TLSConfiguration.makeClientConfiguration()
        if !configuration.verifyCertificate { tls.certificateVerification = .none }
        try await WebSocketClient.connect(url: configuration.url, configuration: socket, tlsConfiguration: tls, logger: logger) { inbound, outbound, _ in
            let sid = configuration.streamSid
            try await outbound.write(.text(#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#))
            try await outbound.write(.text(#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC0000","streamSid":"\#(sid)","callSid":"CA0000","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{}},"streamSid":"\#(sid)"}"#))
            for frame in configuration.extraFrames {
                if let frame { try await outbound.write(.text(frame)) } else { try await outbound.write(.binary(ByteBuffer(bytes: [0, 1, 2, 3]))) }
            }
            let sender = Task {
                let clock = ContinuousClock()
                let start = clock.now
                var playedSignal: [Float] = []
                for k in 0..<frames {
                    try? await clock.sleep(until: start + tick * k)
                    // Play one frame's worth of what is queued; echo the marks it passes.
                    var marks: [String] = []
                    var playedNow: [UInt8] = []
                    state.withLock { s in
                        let available = s.queue.count - s.queueHead
                        let n = min(160, available)
                        playedNow = Array(s.queue[s.queueHead..<(s.queueHead + n)])
                        s.queueHead += n
                        s.playedCount += n
                        s.result.played += playedNow
                        s.result.playedPerTick.append(n)
                        if s.queueHead > 65536 { s.queue.removeFirst(s.queueHead); s.queueHead = 0 }
                        while let first = s.pendingMarks.first, first.position <= s.playedCount {
                            marks.append(first.name)
                            s.pendingMarks.removeFirst()
                        }
                        s.result.marksEchoed += marks.count
                    }
                    for name in marks { try? await outbound.write(.text(#"{"event":"mark","sequenceNumber":"0","streamSid":"\#(sid)","mark":{"name":"\#(name)"}}"#)) }
                    playedSignal += law.decodeFloat(playedNow) + [Float](repeating: 0, count: 160 - playedNow.count)
                    var frame = [Float](repeating: 0, count: 160)
                    for i in 0..<160 {
                        let t = k * 160 + i
                        var x = t < configuration.caller.count ? configuration.caller[t] : 0
                        if let echoGain, t - echoDelay >= 0, t - echoDelay < playedSignal.count { x += echoGain * playedSignal[t - echoDelay] }
                        frame[i] = x
                    }
                    if let n = configuration.lossEvery, n > 0, (k + 1) % n == 0 { continue }
                    let payload = Base64.encode(law.encode(frame))
                    try? await outbound.write(.text(#"{"event":"media","sequenceNumber":"\#(k + 2)","media":{"track":"inbound","chunk":"\#(k + 1)","timestamp":"\#(k * 20)","payload":"\#(payload)"},"streamSid":"\#(sid)"}"#))
                    state.withLock { $0.result.sentFrames += 1 }
                }
                // Ended by us from here on: the gateway closes the socket as soon as it reads the stop.
                state.withLock { $0.ended = true }
                try? await outbound.write(.text(#"{"event":"stop","sequenceNumber":"\#(frames + 2)","streamSid":"\#(sid)","stop":{"accountSid":"AC0000","callSid":"CA0000"}}"#))
                try? await outbound.close(.normalClosure, reason: nil)
            }
            let clock = ContinuousClock()
            let start = clock.now
            for try await message in inbound.messages(maxSize: 1 << 16) {
                guard case .text(let text) = message, let data = text.data(using: .utf8),
                      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let event = object["event"] as? String else { continue }
                let now = DispatchTime.now().uptimeNanoseconds
                switch event {
                case "media":
                    guard let media = object["media"] as? [String: Any], let payload = media["payload"] as? String,
                          let bytes = try? Base64.decode(payload) else { continue }
                    state.withLock { s in
                        if let last = s.lastArrival { s.result.arrivalGapsMs.append(Double(now - last) / 1e6 * configuration.speedup) }
                        s.lastArrival = now
                        s.queue += bytes
                        s.enqueued += bytes.count
                    }
                case "mark":
                    guard let mark = object["mark"] as? [String: Any], let name = mark["name"] as? String else { continue }
                    state.withLock { s in
                        if let (response, sample) = pacerMark(name) {
                            if s.cleared.contains(response) { s.result.marksAfterClear += 1 }
                            if s.result.responseStarts[response] == nil { s.result.responseStarts[response] = s.enqueued - sample }
                        }
                        s.pendingMarks.append((s.enqueued, name))
                    }
                case "clear":
                    let elapsed = Double((clock.now - start).components.attoseconds) / 1e15 + Double((clock.now - start).components.seconds) * 1000
                    var marks: [String] = []
                    state.withLock { s in
                        let position = s.playedCount
                        let playing = s.result.responseStarts.filter { $0.value <= position }.max { $0.key < $1.key }
                        s.result.clears.append((elapsed * configuration.speedup, playing?.key, playing.map { position - $0.value } ?? 0))
                        for r in s.result.responseStarts.keys { s.cleared.insert(r) }
                        s.queue.removeAll()
                        s.queueHead = 0
                        s.enqueued = s.playedCount
                        s.lastArrival = nil
                        marks = s.pendingMarks.map(\.name)
                        s.pendingMarks.removeAll()
                    }
                    for name in marks { try? await outbound.write(.text(#"{"event":"mark","sequenceNumber":"0","streamSid":"\#(sid)","mark":{"name":"\#(name)"}}"#)) }
                default:
                    break
                }
            }
            if !state.withLock({ $0.ended }) { state.withLock { $0.result.closedEarly = true } }
            sender.cancel()
            _ = await sender.value
        }
        var result = state.withLock { $0.result }
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

/// The response and sample of a pacer mark (`rtaudio:<response>:<sample>`), nil for any other name.
func pacerMark(_ name: String) -> (Int, Int)? {
    let parts = name.split(separator: ":")
    guard parts.count == 3, parts[0] == "rtaudio", let r = Int(parts[1]), let s = Int(parts[2]) else { return nil }
    return (r, s)
}
