import Glibc
import GatewayCore
import GatewayNet
import NIOCore
import NIOPosix
import Prometheus
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
        /// `input_audio_buffer.append` events taken (counted with the audio: when records are kept).
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
        /// What happened on the connection, in order, each with the moment (uptime ns); kept with the audio
        /// (``Configuration/recordsAudio``), for timelines.
        public var timeline: [(atNs: UInt64, event: String)] = []
    }

    public struct Configuration: Sendable {
        /// The reply's audio, pcm16 little-endian at the session's output rate (or G.711 for G.711 sessions).
        public var reply: [UInt8]
        /// Audio per delta, in bytes (the API sends about 100 ms to 1 s per delta).
        public var deltaBytes = 4800
        /// Pause between deltas, in ms (0: as fast as the socket takes them; the API runs ahead of real time).
        public var deltaIntervalMs = 5
        /// Keep the caller's audio in each record (``Record/audio``), and each record after its connection closes;
        /// off for load, where they would only grow.
        public var recordsAudio = true
        /// Connections (numbered from 1 in arrival order) that misbehave: at their first `append` they send
        /// malformed events (not JSON, no `type`, a delta that is not base64), and after `faultCloseMs` they close
        /// the socket mid-call.
        public var faulty: Set<Int> = []
        public var faultCloseMs = 800
        /// Answer at the end of each turn its own detector hears, as the API does with `server_vad`; with
        /// turn detection off (local turn taking), it answers `response.create` only.
        public init(reply: [UInt8]) { self.reply = reply }
    }

    public let configuration: Configuration
    private let records = Mutex<[Int: Record]>([:])
    private let connections = Mutex(0)

    /// The reply's deltas, base64 as UTF-8, encoded once: every call sends the same reply, and under load encoding
    /// it again for each one was a twentieth of this process's time, on the cores the gateway it measures shares.
    let replyDeltas: [[UInt8]]

    public init(configuration: Configuration) {
        self.configuration = configuration
        let audio = configuration.reply, step = max(1, configuration.deltaBytes)
        replyDeltas = stride(from: 0, to: audio.count, by: step).map { Array(Base64.encode(Array(audio[$0..<min(audio.count, $0 + step)])).utf8) }
        let name = MetricNameDescriptor(namespace: "fake_model", metricName: "delta_lateness", unitName: "seconds",
                                        helpText: "How late each reply delta went out against its schedule")
        deltaLateness = registry.makeDurationHistogram(descriptor: name, buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000].map { .milliseconds($0) })
    }

    /// How late the reply's deltas went out against their schedule (the configured pause after the one before),
    /// as `fake_model_delta_lateness_seconds`: a loaded machine delays the fake model too, and a delta sent late can
    /// run the gateway's queue dry, an underflow that is then the fake's, not the gateway's.
    private let registry = PrometheusCollectorRegistry()
    private let deltaLateness: DurationHistogram

    func deltaSent(lateNs: UInt64) { deltaLateness.recordNanoseconds(Int64(clamping: lateNs)) }

    /// The fake's own figures in Prometheus' text format, the answer to `GET /stats`: a load run reads them before
    /// and after, as it reads the gateway's `/metrics`.
    public var statistics: String { String(decoding: registry.emitToBuffer(), as: UTF8.self) }

    /// Every connection's record, by connection number (from 1).
    public var allRecords: [Int: Record] { records.withLock { $0 } }

    func update(_ id: Int, _ change: (inout Record) -> Void) { records.withLock { change(&$0[id, default: Record()]) } }

    func forget(_ id: Int) { _ = records.withLock { $0.removeValue(forKey: id) } }

    /// Notes an event in connection `id`'s timeline (when records are kept).
    func note(_ id: Int, _ event: @autoclosure () -> String) {
        guard configuration.recordsAudio else { return }
        let now = NIODeadline.now().uptimeNanoseconds, text = event()
        update(id) { $0.timeline.append((now, text)) }
    }

    /// Listens for WebSockets at `/v1/realtime` (port 0 picks one: the channel's `localAddress` has it).
    public func bind(host: String = "127.0.0.1", port: Int = 0, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> any Channel {
        try await WebSocketServer.bind(group: group, host: host, port: port, maxMessageBytes: 1 << 22,
                                       shouldUpgrade: { $0.uri.hasPrefix("/v1/realtime") },
                                       onUpgrade: { [self] socket, _ in
                                           let id = connections.withLock { n in n += 1; return n }
                                           update(id) { _ in }
                                           let peer = ModelPeer(model: self, id: id, socket: socket)
                                           socket.delegate = peer
                                       },
                                       answer: { [self] head in
                                           head.method == .GET && head.uri == "/stats"
                                               ? HTTPAnswer(status: .ok, contentType: "text/plain; version=0.0.4", body: Array(statistics.utf8))
                                               : HTTPAnswer(status: .notFound)
                                       }).get()
    }
}

/// One connection to the fake model, on its event loop.
final class ModelPeer: WebSocketDelegate, @unchecked Sendable {
    let model: FakeModel
    let id: Int
    let socket: WebSocket
    var detector: InboundAudio?
    var events = InboundEvents()
    var scratch: [UInt8] = []
    /// The caller's audio of the append being read, decoded (reused: 50 appends a second per call under load).
    var audio: [UInt8] = []
    var audioCount = 0
    var appends = 0
    var itemCounter = 0
    /// The reply being sent: its response and item ids, the next of `replyDeltas` to send, and the timer for it.
    var reply: (response: String, item: String, delta: Int, timer: Scheduled<Void>?)?

    init(model: FakeModel, id: Int, socket: WebSocket) {
        self.model = model
        self.id = id
        self.socket = socket
    }

    func webSocket(_ socket: WebSocket, received text: UnsafeRawBufferPointer) {
        defer { socket.flush() }
        if compactAppend(text) { return appended() }
        guard let value = try? JSONValue(parsing: String(decoding: text, as: UTF8.self)), case .string(let type)? = value["type"] else {
            model.update(id) { $0.invalid += 1 }
            return
        }
        switch type {
        case "session.update":
            guard let session = value["session"] else { model.update(id) { $0.invalid += 1 }; return }
            model.update(id) { $0.sessions.append(session) }
            model.note(id, "session.update")
            // Its own detector when the session asks the server to detect turns.
            if let parsed = try? Session(json: session.serialized()), parsed.turnDetection != nil {
                detector = try? parsed.makeInbound()
            } else {
                detector = nil
            }
            socket.send(#"{"type":"session.updated","session":\#(session.serialized())}"#)
        case "input_audio_buffer.append":
            guard case .string(let characters)? = value["audio"], let bytes = try? Base64.decode(characters) else { model.update(id) { $0.invalid += 1 }; return }
            audio = bytes
            audioCount = bytes.count
            appended()
        case "input_audio_buffer.commit":
            model.update(id) { $0.commits += 1 }
            model.note(id, "input_audio_buffer.commit")
        case "response.create":
            model.update(id) { $0.responseCreates += 1 }
            model.note(id, "response.create")
            startReply()
        case "response.cancel":
            model.update(id) { $0.cancels += 1 }
            model.note(id, "response.cancel")
            cancelReply()
        case "conversation.item.truncate":
            if case .string(let item)? = value["item_id"], let ms = value["audio_end_ms"]?.doubleValue {
                model.update(id) { $0.truncations.append((item, Int(ms))) }
                model.note(id, "conversation.item.truncate \(item) at audio_end_ms \(Int(ms))")
            }
        default:
            break
        }
    }

    /// An `input_audio_buffer.append` in the compact shape a gateway sends (`{"type":"input_audio_buffer.append",
    /// "audio":"..."}`, nothing else), its audio decoded into ``audio`` without a string or a JSON tree of each
    /// 20 ms append: under load the fake model shares the machine with the gateway it measures. False for any
    /// other message, and when what stands for the audio is not base64 (another shape: the alphabet has no quote),
    /// which the JSON parser reads then.
    private func compactAppend(_ raw: UnsafeRawBufferPointer) -> Bool {
        let prefix = Self.appendPrefix, suffix = Self.appendSuffix
        guard raw.count >= prefix.count + suffix.count,
              prefix.withUnsafeBytes({ memcmp(raw.baseAddress!, $0.baseAddress!, prefix.count) == 0 }),
              suffix.withUnsafeBytes({ memcmp(raw.baseAddress! + raw.count - suffix.count, $0.baseAddress!, suffix.count) == 0 })
        else { return false }
        let characters = UnsafeBufferPointer(rebasing: raw.bindMemory(to: UInt8.self)[prefix.count..<(raw.count - suffix.count)])
        let capacity = Base64.decodedCapacity(forCharacterCount: characters.count)
        if audio.count < capacity { audio = [UInt8](repeating: 0, count: capacity) }
        guard let written = audio.withUnsafeMutableBufferPointer({ try? Base64.decode(characters, into: $0) }) else { return false }
        audioCount = written
        return true
    }

    private static let appendPrefix = Array(#"{"type":"input_audio_buffer.append","audio":""#.utf8)
    private static let appendSuffix = Array(#""}"#.utf8)

    /// The caller's audio in ``audio`` (its first `audioCount` bytes): recorded (when records are kept), and heard
    /// by the detector.
    private func appended() {
        appends += 1
        if model.configuration.recordsAudio {
            model.update(id) { r in
                r.audio += audio[..<audioCount]
                r.appends += 1
            }
        }
        if appends == 1, model.configuration.faulty.contains(id) { misbehave() }
        // Moved out of its optional while it works: mutated in place there, it was copied whole (every buffer of it
        // retained) at every append.
        guard var heard = detector.take() else { return }
        defer { detector = heard }
        let needed = heard.maximumOutputCount(forInput: audioCount)
        if scratch.count < needed { scratch = [UInt8](repeating: 0, count: needed) }
        let count = audioCount
        audio.withUnsafeBufferPointer { a in
            scratch.withUnsafeMutableBufferPointer { o in
                _ = try? heard.append(UnsafeBufferPointer(rebasing: a[..<count]), into: o, events: &events)
            }
        }
        for event in events {
            switch event {
            case .speechStarted(let start):
                model.note(id, "speech_started (audio_start_ms \(start))")
                cancelReply()
                socket.send(#"{"type":"input_audio_buffer.speech_started","audio_start_ms":\#(start),"item_id":"in_\#(id)"}"#)
            case .speechStopped(let end):
                model.note(id, "speech_stopped (audio_end_ms \(end))")
                socket.send(#"{"type":"input_audio_buffer.speech_stopped","audio_end_ms":\#(end),"item_id":"in_\#(id)"}"#)
                startReply()
            case .timeoutTriggered:
                break
            }
        }
    }

    func webSocketReceivedBinary(_ socket: WebSocket) { model.update(id) { $0.invalid += 1 } }

    func webSocketClosed(_ socket: WebSocket, error: (any Error)?) {
        reply?.timer?.cancel()
        reply = nil
        // A load run keeps no records (nobody reads them, and a soak of thousands of calls would grow them).
        if model.configuration.recordsAudio { model.update(id) { $0.closed = true } } else { model.forget(id) }
    }

    /// What a broken endpoint sends: garbage, then the connection dropped in the middle of the call.
    private func misbehave() {
        socket.send("{not json")
        socket.send(#"{"no_type":1}"#)
        socket.send(#"{"type":"response.output_audio.delta","response_id":"r","item_id":"i","delta":"***not base64***"}"#)
        socket.send(#"{"type":"error","error":{"code":"server_error","message":"the fake model breaks on purpose"}}"#)
        let socket = self.socket
        socket.channel.eventLoop.scheduleTask(in: .milliseconds(Int64(model.configuration.faultCloseMs))) { socket.channel.close(promise: nil) }
    }

    private func startReply() {
        cancelReply()
        itemCounter += 1
        let item = "item_\(id)_\(itemCounter)"
        model.update(id) { $0.items.append(item) }
        model.note(id, "reply \(item) started")
        let response = "resp_\(item)"
        socket.send(#"{"type":"response.created","response":{"id":"\#(response)","status":"in_progress"}}"#)
        reply = (response, item, 0, nil)
        sendDelta()
    }

    /// One delta, then the next after the configured pause; the end of the reply after the last.
    private func sendDelta() {
        guard var r = reply else { return }
        if r.delta < model.replyDeltas.count {
            var message = Array(#"{"type":"response.output_audio.delta","response_id":"\#(r.response)","item_id":"\#(r.item)","output_index":0,"content_index":0,"delta":""#.utf8)
            message.append(contentsOf: model.replyDeltas[r.delta])
            message.append(contentsOf: #""}"#.utf8)
            socket.send(utf8: message)
            r.delta += 1
            let interval = max(0, model.configuration.deltaIntervalMs)
            let due = NIODeadline.now() + .milliseconds(Int64(interval))
            r.timer = socket.channel.eventLoop.scheduleTask(deadline: due) { [self] in
                let now = NIODeadline.now()
                model.deltaSent(lateNs: now > due ? (now - due).nanoseconds.magnitude : 0)
                sendDelta()
                socket.flush()
            }
            reply = r
        } else {
            model.note(id, "reply \(r.item) sent whole")
            socket.send(#"{"type":"response.output_audio.done","response_id":"\#(r.response)","item_id":"\#(r.item)"}"#)
            socket.send(#"{"type":"response.done","response":{"id":"\#(r.response)","status":"completed"}}"#)
            reply = nil
        }
    }

    private func cancelReply() {
        guard let r = reply else { return }
        r.timer?.cancel()
        reply = nil
        model.note(id, "reply \(r.item) cancelled")
        socket.send(#"{"type":"response.done","response":{"id":"\#(r.response)","status":"cancelled"}}"#)
    }
}
