import Foundation
import GatewayCore
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import RealtimeAudio
import RealtimeSession
import Synchronization

/// A Realtime endpoint for tests and load: takes `session.update` and the caller's audio, records them, and
/// answers with a reply's audio as the API does (`response.created`, `response.output_audio.delta` faster than
/// real time, `response.output_audio.done`, `response.done`); with server turn detection it runs its own detector on
/// what it receives and sends `input_audio_buffer.speech_started` / `speech_stopped`, and answers at each turn's end.
/// `response.cancel` stops a reply; `conversation.item.truncate` is recorded.
public final class FakeModel: Sendable {
    /// What one connection (one call) did.
    public struct Record: Sendable {
        /// The `session` objects of every `session.update`, in order.
        public var sessions: [JSONValue] = []
        /// The caller's audio as the model received it (decoded `input_audio_buffer.append` payloads, in order).
        public var audio: [UInt8] = []
        public var appends = 0
        /// `conversation.item.truncate` events: item and `audio_end_ms`.
        public var truncations: [(itemID: String, audioEndMs: Int)] = []
        public var commits = 0
        public var responseCreates = 0
        public var cancels = 0
        /// Replies started, and the item id of each.
        public var items: [String] = []
        /// Frames that were not valid events.
        public var invalid = 0
        public var closed = false
    }

    public struct Configuration: Sendable {
        /// The reply's audio, pcm16 little-endian at the session's output rate (or G.711 for G.711 sessions).
        public var reply: [UInt8]
        /// Audio per delta, in bytes (the API sends about 100 ms to 1 s per delta).
        public var deltaBytes = 4800
        /// Pause between deltas, in ms (0: as fast as the socket takes them; the API runs ahead of real time).
        public var deltaIntervalMs = 5
        /// Answer at the end of each turn its own detector hears, as the API does with `server_vad`; with
        /// turn detection off (local turn taking), it answers `response.create` only.
        public init(reply: [UInt8]) { self.reply = reply }
    }

    public let configuration: Configuration
    private let records = Mutex<[Int: Record]>([:])
    private let connections = Mutex(0)

    public init(configuration: Configuration) { self.configuration = configuration }

    /// Every connection's record, by connection number (from 1).
    public var allRecords: [Int: Record] { records.withLock { $0 } }

    private func update(_ id: Int, _ change: (inout Record) -> Void) { records.withLock { change(&$0[id, default: Record()]) } }

    /// The application: a WebSocket at any path.
    public func makeApplication(host: String = "127.0.0.1", port: Int = 0, onServerRunning: @escaping @Sendable (any Channel) async -> Void)
        -> some ApplicationProtocol {
        let wsRouter = Router(context: BasicWebSocketRequestContext.self)
        wsRouter.ws("/v1/realtime") { _, _ in .upgrade([:]) } onUpgrade: { [self] inbound, outbound, _ in
            let id = connections.withLock { n in n += 1; return n }
            await serve(id: id, inbound: inbound, outbound: outbound)
        }
        var logger = Logger(label: "fake-model")
        logger.logLevel = .error
        return Application(router: Router(), server: .http1WebSocketUpgrade(webSocketRouter: wsRouter, configuration: .init(ws: .init(maxFrameSize: 1 << 22))),
                           configuration: .init(address: .hostname(host, port: port)), onServerRunning: onServerRunning, logger: logger)
    }

    private func serve(id: Int, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
        update(id) { _ in }
        var detector: InboundAudio?
        var events = InboundEvents()
        var scratch: [UInt8] = []
        let replies = Locked<Task<Void, Never>?>(nil)
        var itemCounter = 0
        func startReply() {
            itemCounter += 1
            let item = "item_\(id)_\(itemCounter)"
            update(id) { $0.items.append(item) }
            let reply = configuration.reply, chunk = configuration.deltaBytes, interval = configuration.deltaIntervalMs
            let task = Task {
                let response = "resp_\(item)"
                try? await outbound.write(.text(#"{"type":"response.created","response":{"id":"\#(response)","status":"in_progress"}}"#))
                var offset = 0
                while offset < reply.count, !Task.isCancelled {
                    let end = min(reply.count, offset + chunk)
                    let delta = Base64.encode(Array(reply[offset..<end]))
                    try? await outbound.write(.text(#"{"type":"response.output_audio.delta","response_id":"\#(response)","item_id":"\#(item)","output_index":0,"content_index":0,"delta":"\#(delta)"}"#))
                    offset = end
                    if interval > 0 { try? await Task.sleep(nanoseconds: UInt64(interval) * 1_000_000) }
                }
                let status = Task.isCancelled ? "cancelled" : "completed"
                if !Task.isCancelled {
                    try? await outbound.write(.text(#"{"type":"response.output_audio.done","response_id":"\#(response)","item_id":"\#(item)"}"#))
                }
                try? await outbound.write(.text(#"{"type":"response.done","response":{"id":"\#(response)","status":"\#(status)"}}"#))
            }
            replies.withLock { $0?.cancel(); $0 = task }
        }
        do {
            for try await message in inbound.messages(maxSize: 1 << 22) {
                guard case .text(let text) = message, let value = try? JSONValue(parsing: text), case .string(let type)? = value["type"] else {
                    update(id) { $0.invalid += 1 }
                    continue
                }
                switch type {
                case "session.update":
                    guard let session = value["session"] else { update(id) { $0.invalid += 1 }; continue }
                    update(id) { $0.sessions.append(session) }
                    // Its own detector when the session asks the server to detect turns.
                    if let parsed = try? Session(json: session.serialized()), parsed.turnDetection != nil {
                        detector = try? parsed.makeInbound()
                    } else {
                        detector = nil
                    }
                    try? await outbound.write(.text(#"{"type":"session.updated","session":\#(session.serialized())}"#))
                case "input_audio_buffer.append":
                    guard case .string(let audio)? = value["audio"], let bytes = try? Base64.decode(audio) else { update(id) { $0.invalid += 1 }; continue }
                    update(id) { $0.audio += bytes; $0.appends += 1 }
                    if detector != nil {
                        scratch.removeAll(keepingCapacity: true)
                        try? detector!.append(bytes, to: &scratch, events: &events)
                        for event in events {
                            switch event {
                            case .speechStarted(let start):
                                replies.withLock { $0?.cancel() }
                                try? await outbound.write(.text(#"{"type":"input_audio_buffer.speech_started","audio_start_ms":\#(start),"item_id":"in_\#(id)"}"#))
                            case .speechStopped(let end):
                                try? await outbound.write(.text(#"{"type":"input_audio_buffer.speech_stopped","audio_end_ms":\#(end),"item_id":"in_\#(id)"}"#))
                                startReply()
                            case .timeoutTriggered:
                                break
                            }
                        }
                    }
                case "input_audio_buffer.commit":
                    update(id) { $0.commits += 1 }
                case "response.create":
                    update(id) { $0.responseCreates += 1 }
                    startReply()
                case "response.cancel":
                    update(id) { $0.cancels += 1 }
                    replies.withLock { $0?.cancel() }
                case "conversation.item.truncate":
                    if case .string(let item)? = value["item_id"], let ms = value["audio_end_ms"]?.doubleValue {
                        update(id) { $0.truncations.append((item, Int(ms))) }
                    }
                default:
                    break
                }
            }
        } catch {}
        replies.withLock { $0?.cancel() }
        update(id) { $0.closed = true }
    }
}
