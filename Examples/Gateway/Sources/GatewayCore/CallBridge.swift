import RealtimeAudio
@_spi(JSONReading) import RealtimeCarrier
import RealtimeSession

/// Who decides that the caller has finished a turn, or started one over the assistant.
public enum TurnTaking: String, Sendable, CaseIterable {
    /// The model's own turn detection (the session's `turn_detection`): on its `input_audio_buffer.speech_started`
    /// the gateway clears the carrier and truncates at the played position.
    case server
    /// Ours: turn detection is off on the model side; our detector commits the turn and asks for the response, and
    /// barges in on the caller's onset with the echo guard, without waiting a network round trip.
    case local
}

/// What the gateway must do after the bridge took a message or a tick.
public enum BridgeAction: Sendable, Equatable {
    /// A text frame for the carrier (Twilio `media`, `mark`, `clear`), as its UTF-8 bytes (written in place by the
    /// codecs: 100 messages a second per call each cost one array, not a string and its copies).
    case toCarrier([UInt8])
    /// A text frame for the model (`session.update`, `input_audio_buffer.append`, ...), as its UTF-8 bytes.
    case toModel([UInt8])
    /// Something to log with the call's id (never a secret: the bridge holds none).
    case log(warning: Bool, String)
    /// The call is over (the carrier stopped, or the leg could not be built): close both sockets.
    case end(reason: String)
}

/// Counters of one call.
public struct CallStatistics: Sendable, Equatable {
    /// Caller `media` frames taken.
    public var callerFrames = 0
    /// `input_audio_buffer.append` events sent: one per caller frame, fewer while appends gather several
    /// (``CallBridge/appendMs``).
    public var appends = 0
    /// Model audio deltas taken.
    public var modelDeltas = 0
    /// Frames sent to the carrier.
    public var framesOut = 0
    /// Barge-ins that cut audio the caller was hearing (or about to).
    public var bargeIns = 0
    /// Turns our detector committed (local turn taking).
    public var localTurns = 0
    /// Carrier frames that were not valid Twilio messages (each logged; the call goes on).
    public var carrierErrors = 0
    /// Model frames that were not valid events, and the model's `error` events.
    public var modelErrors = 0
    /// Model audio bytes refused because the call's queue was full (each time logged).
    public var droppedModelBytes = 0
    /// Deltas of a response already interrupted, dropped: the caller must not hear them after `clear`.
    public var lateDeltas = 0
    /// Caller frames missing from the stream (gaps in Twilio's `media.chunk`), concealed for the model.
    public var lostFrames = 0
    /// Caller frames that came again or out of order (a chunk number already passed), dropped.
    public var staleFrames = 0
    /// The last truncation sent: the item and its `audio_end_ms`.
    public var lastTruncation: (itemID: String, audioEndMs: Int)?

    public init() {}

    public static func == (a: Self, b: Self) -> Bool {
        a.callerFrames == b.callerFrames && a.modelDeltas == b.modelDeltas && a.framesOut == b.framesOut && a.bargeIns == b.bargeIns
            && a.localTurns == b.localTurns && a.carrierErrors == b.carrierErrors && a.modelErrors == b.modelErrors
            && a.droppedModelBytes == b.droppedModelBytes && a.lateDeltas == b.lateDeltas && a.appends == b.appends
            && a.lastTruncation?.itemID == b.lastTruncation?.itemID && a.lastTruncation?.audioEndMs == b.lastTruncation?.audioEndMs
    }
}

/// Why a call could not be set up.
public enum BridgeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The session asks for a model format this gateway cannot bridge to the carrier's.
    case unsupportedFormat(String)

    public var description: String {
        switch self {
        case .unsupportedFormat(let why): "session: \(why)"
        }
    }
}

/// One call between a Twilio Media Streams leg and a Realtime model, without networking: the gateway hands it
/// each text frame from either side and a tick at ``nextDeadline``, and sends what it returns. Everything the
/// call needs (the inbound pipeline and detector, the outbound leg with its pacer and playback clock, the item of
/// each response for truncation) lives here, so the audio loop is tested offline.
///
/// Time is a monotonic clock in nanoseconds (`now`), the gateway's. Not thread-safe: one task drives one bridge.
public struct CallBridge: Sendable {
    /// The session as configured (the model gets it with turn detection off in local turn taking).
    public let session: Session
    public let turnTaking: TurnTaking
    public private(set) var statistics = CallStatistics()
    /// Twilio's `streamSid` and `callSid`, once the stream started.
    public private(set) var streamID: String?
    public private(set) var callID: String?
    /// The outbound leg (its pacer's statistics: underflows, lateness), once the stream started.
    public private(set) var leg: OutboundLeg?

    /// The most model audio held beyond the pacer's queue, in bytes (a model far ahead of real time).
    public let backlogLimitBytes: Int
    /// The length of the frames sent to the carrier, in ms; a mark follows each.
    public let outboundFrameMs: Int
    private var codec = MediaStreamCodec(carrier: .twilio)
    private var payload: [UInt8]
    private var inbound: InboundAudio?
    private var events = InboundEvents()
    private var modelBytes: [UInt8] = []
    /// The caller's audio gathered for the next `append`, in the model's format, and when its first byte came.
    private var held: [UInt8] = []
    private var heldSince: UInt64 = 0
    /// G.711 codes of the other law (or of concealed audio), re-encoded from the pipeline's pcm16 for each frame.
    private var transcoded: [UInt8] = []
    /// Bytes of the model's input format per ms (pcm16 at its rate, or G.711 at 8 kHz).
    private var modelBytesPerMs = 48
    /// How the caller's audio reaches the model: our pipeline's pcm16, the carrier's G.711 bytes as they came, or
    /// G.711 of the other law.
    private enum InputPath: Equatable { case pcm, passthrough, transcode }
    private var inputPath = InputPath.pcm
    /// The model's audio before the leg: base64 pcm16, or G.711 at 8 kHz decoded to pcm16 first.
    private let modelOutputLaw: G711?
    /// Model audio waiting for queue space, in order, with the ends of responses between.
    private enum Pending { case audio(item: String, bytes: [UInt8]), end }
    private var pending: [Pending] = []
    private var pendingHead = 0
    private var pendingOffset = 0
    private var pendingBytes = 0
    private var responseItems: [Int: String] = [:]
    private var mappedItem: String?
    private var currentItem: String?
    private var cancelledItems: Set<String> = []
    private var responseActive = false
    private var ended = false
    private var lastChunk: Int?
    /// The session's `create_response` and `interrupt_response`: whether a turn's end asks for a response, and
    /// whether the caller's speech interrupts one.
    private let createsResponse: Bool
    private let interruptsResponse: Bool

    /// How much of the caller's audio one `input_audio_buffer.append` gathers, in ms (20...200; clamped). At 20, the
    /// default, each caller frame goes to the model as it comes. Longer appends cost the model's turn detection up
    /// to that much minus 20 ms of delay, and cut the messages to the model, their system calls and the model's
    /// parsing by as many times (LiveKit's agents send 100 ms appends): the gateway raises it while its event loop
    /// runs late (``GatewayConfiguration/appendMs``). Audio gathered never waits longer than this for a frame that
    /// does not come (``poll(now:into:)``), and always goes out before a commit and at the stream's `stop`.
    public var appendMs = 20 {
        didSet { appendMs = min(max(appendMs, 20), Self.maximumAppendMs) }
    }
    /// The longest ``appendMs``, in ms: 200 ms of pcm16 at 24 kHz is a 12.8 KB message, well inside any limit.
    public static let maximumAppendMs = 200

    /// The largest caller payload the inbound pipeline takes at once (a carrier's frame is 160 to 640 bytes).
    static let inboundPieceBytes = 2048
    /// The largest piece of model audio the outbound leg takes at once (100 ms at 24 kHz pcm16).
    static let outboundPieceBytes = 4800

    /// Builds a call's bridge for a validated session.
    ///
    /// - Parameters:
    ///   - backlogLimitSeconds: the most model audio held beyond the pacer's queue, in seconds of the model's rate.
    ///   - outboundFrameMs: the length of each `media` frame sent to the carrier, with a mark after each (20...60 ms;
    ///     clamped). Twilio plays frames of any length; 40 ms ones halve the messages of the outbound path against
    ///     20 ms, each mark still placing the playhead.
    /// - Throws: ``BridgeError/unsupportedFormat(_:)`` for G.711 model formats with a 16 kHz rate, never otherwise.
    public init(session: Session, turnTaking: TurnTaking, backlogLimitSeconds: Int = 60, outboundFrameMs: Int = 40) throws(BridgeError) {
        self.session = session
        self.turnTaking = turnTaking
        self.outboundFrameMs = min(max(outboundFrameMs, 20), 60)
        switch session.turnDetection {
        case .serverVAD(let s)?: (createsResponse, interruptsResponse) = (s.createResponse, s.interruptResponse)
        case .semanticVAD(_, let create, let interrupt, _)?: (createsResponse, interruptsResponse) = (create, interrupt)
        case nil: (createsResponse, interruptsResponse) = (true, true)
        }
        modelOutputLaw = session.outputAudioFormat.g711
        let outRate = modelOutputLaw == nil ? session.modelOutputRate.hertz : 8000
        backlogLimitBytes = 2 * outRate * max(1, backlogLimitSeconds)
        payload = [UInt8](repeating: 0, count: codec.payloadCapacity)
    }

    /// The session as the model gets it: turn detection off when ours takes the turns.
    public var modelSession: Session {
        var s = session
        if turnTaking == .local { s.turnDetection = nil }
        return s
    }

    /// The first frame for the model, as soon as its socket is open: `session.update`.
    public func open() -> [BridgeAction] { [.toModel(Array(ClientEvent.sessionUpdate(modelSession).utf8))] }

    /// When ``poll(now:into:)`` next has work (ns), nil while nothing is queued. Model audio waiting in the backlog
    /// moves on at the leg's deadlines: only a released frame frees room for it. Caller audio gathered for an
    /// `append` is due ``appendMs`` after its first byte came.
    public var nextDeadline: UInt64? {
        guard !held.isEmpty else { return leg?.nextDeadline }
        return min(leg?.nextDeadline ?? .max, heldDeadline)
    }

    /// Whether the call has ended (the carrier's `stop`, or a leg that could not be built).
    public var isEnded: Bool { ended }

    // MARK: - The carrier's side

    /// Takes one text frame from the carrier.
    public mutating func carrier(_ text: String, now: UInt64, into out: inout [BridgeAction]) {
        var message = text
        message.withUTF8 { carrier(UnsafeRawBufferPointer($0), now: now, into: &out) }
    }

    /// Takes one text frame from the carrier, as its bytes (read where they lie: no string is made of them).
    public mutating func carrier(_ text: UnsafeRawBufferPointer, now: UInt64, into out: inout [BridgeAction]) {
        guard !ended else { return }
        let bytes = text.bindMemory(to: UInt8.self)
        let decoded: Result<CarrierEvent, CarrierError> = payload.withUnsafeMutableBufferPointer { buffer in
            do throws(CarrierError) { return .success(try codec.decode(bytes, payload: buffer)) } catch { return .failure(error) }
        }
        switch decoded {
        case .failure(let error):
            statistics.carrierErrors += 1
            out.append(.log(warning: true, "carrier frame refused: \(error)"))
        case .success(let event):
            handle(event, now: now, into: &out)
        }
    }

    private mutating func handle(_ event: CarrierEvent, now: UInt64, into out: inout [BridgeAction]) {
        switch event {
        case .start(let start):
            streamID = start.streamID
            callID = start.callID
            do { try startLeg(start.format) } catch {
                ended = true
                out.append(.end(reason: "\(error)"))
            }
        case .media(let frame):
            guard frame.track == .inbound, inbound != nil else { return }
            if let chunk = frame.chunk {
                if let last = lastChunk, chunk <= last {
                    statistics.staleFrames += 1
                    return
                }
                // Missing chunks: concealed (G.711 Appendix I repetition) so the model's stream and the detector's
                // clock stay on the caller's timeline; at most a second of them, a longer hole is the caller's
                // silence, not ours to invent.
                if let last = lastChunk, chunk > last + 1 {
                    let missing = chunk - last - 1
                    statistics.lostFrames += missing
                    concealLoss(frames: min(missing, 50), samplesPerFrame: frame.byteCount, now: now, into: &out)
                }
                lastChunk = chunk
            }
            callerAudio(frame.byteCount, now: now, into: &out)
        case .mark(let mark):
            leg?.acknowledge(mark, now: now)
        case .stop:
            flushAppend(into: &out)
            ended = true
            out.append(.end(reason: "the carrier stopped the stream"))
        case .carrierError(let code, let title, let detail):
            out.append(.log(warning: true, "carrier error \(code.map(String.init) ?? "-"): \(title ?? "") \(detail ?? "")"))
        case .connected, .dtmf, .unknown:
            break
        }
    }

    private mutating func startLeg(_ format: CarrierMediaFormat) throws {
        let detector = try session.detectorSettings()
        let modelIn = session.inputAudioFormat
        // The model takes G.711: the carrier's bytes when the law matches (bit-exact), else decoded and re-encoded.
        let modelRate: SampleRate = modelIn == .pcm16 ? session.modelInputRate : .hz8000
        if modelIn.g711 != nil {
            inputPath = format.audioFormat == modelIn && format.sampleRate == .hz8000 ? .passthrough : .transcode
        }
        // Buffers sized for a carrier's frames (20 ms is 160 to 640 bytes), not for the pipelines' 32 KiB default,
        // which every one of thousands of calls would hold (BENCHMARKS.md). A larger payload goes through in pieces.
        inbound = try InboundAudio(format: format.audioFormat, inputRate: format.sampleRate,
                                   turnDetection: turnTaking == .local ? detector.configuration : nil,
                                   maximumChunkBytes: Self.inboundPieceBytes, concealment: true, modelRate: modelRate,
                                   noiseReduction: session.inputAudioNoiseReduction)
        modelBytes = [UInt8](repeating: 0, count: inbound!.maximumOutputBytes)
        modelBytesPerMs = modelIn == .pcm16 ? 2 * modelRate.hertz / 1000 : 8
        if modelIn.g711 != nil { transcoded = [UInt8](repeating: 0, count: inbound!.maximumOutputBytes / 2) }
        // Room for the longest append and one more piece: gathering never reallocates.
        held.reserveCapacity(Self.maximumAppendMs * modelBytesPerMs + inbound!.maximumOutputBytes)
        let outRate: SampleRate = modelOutputLaw == nil ? session.modelOutputRate : .hz8000
        // A mark every frame (the playhead from the fastest echo) and a queue of 5 s: a model further ahead waits
        // in the backlog (bounded by `backlogLimitBytes`), which holds only what came, where the queue's ring is
        // allocated whole for every call.
        leg = try OutboundLeg(format: format, speed: session.speed, acknowledged: true,
                              pacer: PacerConfiguration(frameMs: outboundFrameMs, markIntervalMs: outboundFrameMs, capacityMs: 5_000),
                              maximumChunkBytes: Self.outboundPieceBytes, modelRate: outRate)
    }

    private mutating func callerAudio(_ count: Int, now: UInt64, into out: inout [BridgeAction]) {
        statistics.callerFrames += 1
        if turnTaking == .local, let leg {
            inbound!.setOutputPlaying(leg.isPlaying(now: now))
            inbound!.setEchoGate(leg.echoGate(now: now))
        }
        var start = 0
        // A payload larger than the pipeline's pieces (a carrier may send up to the codec's maximum) goes to the
        // model as one `append` per piece; a carrier's 20 ms frame is one piece.
        while start < count {
            let end = min(count, start + Self.inboundPieceBytes)
            let written: Int
            do {
                written = try payload.withUnsafeBufferPointer { src in
                    try modelBytes.withUnsafeMutableBufferPointer { dst in
                        try inbound!.append(UnsafeBufferPointer(rebasing: src[start..<end]), into: dst, events: &events)
                    }
                }
            } catch {
                statistics.carrierErrors += 1
                out.append(.log(warning: true, "caller audio refused: \(error)"))
                return
            }
            if inputPath == .passthrough {
                payload.withUnsafeBufferPointer { hold(UnsafeBufferPointer(rebasing: $0[start..<end]), now: now, into: &out) }
            } else {
                appendModelAudio(written, now: now, into: &out)
            }
            if turnTaking == .local { handleTurns(now: now, into: &out) }
            start = end
        }
    }

    /// Our detector's events from the last piece (local turn taking): barge in on an onset, commit and ask for a
    /// response at a turn's end.
    private mutating func handleTurns(now: UInt64, into out: inout [BridgeAction]) {
        for event in events {
            switch event {
            case .speechStarted:
                if interruptsResponse { bargeIn(now: now, into: &out) }
            case .speechStopped:
                statistics.localTurns += 1
                // The turn's last audio is in the buffer the commit closes.
                flushAppend(into: &out)
                out.append(.toModel(Array(ClientEvent.commit.utf8)))
                if createsResponse { out.append(.toModel(Array(ClientEvent.responseCreate.utf8))) }
            case .timeoutTriggered:
                break
            }
        }
    }

    /// The pipeline's first `written` bytes (pcm16) for the model, towards an `append`: pcm16, or G.711 of its law.
    private mutating func appendModelAudio(_ written: Int, now: UInt64, into out: inout [BridgeAction]) {
        guard written > 0 else { return }
        guard let law = session.inputAudioFormat.g711 else {
            // Out of `self` while `hold` mutates it (moved, not copied).
            var bytes: [UInt8] = []
            swap(&bytes, &modelBytes)
            defer { swap(&bytes, &modelBytes) }
            return bytes.withUnsafeBufferPointer { hold(UnsafeBufferPointer(rebasing: $0[..<written]), now: now, into: &out) }
        }
        // Re-encoded into a buffer made once per call (this runs for every frame of a transcoded call).
        let n = written / 2
        var codes: [UInt8] = []
        swap(&codes, &transcoded)
        defer { swap(&codes, &transcoded) }
        modelBytes.withUnsafeBufferPointer { pcm in
            codes.withUnsafeMutableBufferPointer { dst in
                for k in 0..<n { dst[k] = law.encode(Int16(bitPattern: UInt16(pcm[2 * k]) | UInt16(pcm[2 * k + 1]) << 8)) }
            }
        }
        codes.withUnsafeBufferPointer { hold(UnsafeBufferPointer(rebasing: $0[..<n]), now: now, into: &out) }
    }

    /// When the audio gathered for an `append` must go even if no frame adds to it (ns); `.max` with none held.
    private var heldDeadline: UInt64 { held.isEmpty ? .max : heldSince + UInt64(appendMs) * 1_000_000 }

    /// Adds audio in the model's format to the next `append`, and sends it once it holds ``appendMs`` (less half a
    /// frame: a resampler's output per frame varies by a few samples) or its first audio has waited that long.
    private mutating func hold(_ bytes: UnsafeBufferPointer<UInt8>, now: UInt64, into out: inout [BridgeAction]) {
        guard !bytes.isEmpty else { return }
        if appendMs <= 20, held.isEmpty {
            statistics.appends += 1
            return out.append(.toModel(ClientEvent.append(bytes)))
        }
        if held.isEmpty { heldSince = now }
        held.append(contentsOf: bytes)
        if held.count >= (appendMs - 10) * modelBytesPerMs || now >= heldDeadline {
            flushAppend(into: &out)
        }
    }

    /// The call is ending (the carrier hung up without a `stop`, the gateway shuts down): the caller's audio
    /// gathered for an `append` goes to the model now rather than nowhere.
    public mutating func finish(into out: inout [BridgeAction]) {
        flushAppend(into: &out)
    }

    /// Sends the audio gathered so far as one `append`.
    private mutating func flushAppend(into out: inout [BridgeAction]) {
        guard !held.isEmpty else { return }
        statistics.appends += 1
        out.append(.toModel(held.withUnsafeBufferPointer { ClientEvent.append($0) }))
        held.removeAll(keepingCapacity: true)
    }

    /// Lost caller frames: concealed audio for the model, in the same `append` events as the frames around them.
    private mutating func concealLoss(frames: Int, samplesPerFrame: Int, now: UInt64, into out: inout [BridgeAction]) {
        guard samplesPerFrame > 0 else { return }
        for _ in 0..<frames {
            var left = samplesPerFrame
            while left > 0 {
                let n = min(left, Self.inboundPieceBytes)
                left -= n
                let written: Int
                do {
                    written = try modelBytes.withUnsafeMutableBufferPointer { dst in
                        try inbound!.appendLost(samples: n, into: dst, events: &events)
                    }
                } catch {
                    out.append(.log(warning: true, "loss concealment: \(error)"))
                    return
                }
                // Passthrough has no carrier bytes for a lost frame: the concealed audio, in the model's law.
                appendModelAudio(written, now: now, into: &out)
            }
        }
    }

    /// The caller speaks over the assistant: clear the carrier, truncate the item at what was played, drop the
    /// rest of the response (and cancel it, when our detector took the turn).
    private mutating func bargeIn(now: UInt64, into out: inout [BridgeAction]) {
        if let cut = leg?.interrupt(now: now) {
            statistics.bargeIns += 1
            if let clear = try? codec.clearMessageBytes() { out.append(.toCarrier(clear)) }
            if let item = responseItems[cut.response] {
                out.append(.toModel(Array(ClientEvent.truncate(itemID: item, audioEndMs: cut.audioEndMs).utf8)))
                statistics.lastTruncation = (item, cut.audioEndMs)
            }
        }
        if let item = currentItem { cancelledItems.insert(item) }
        for k in pendingHead..<pending.count { if case .audio(let item, _) = pending[k] { cancelledItems.insert(item) } }
        currentItem = nil
        mappedItem = nil
        pending.removeAll(keepingCapacity: true)
        pendingHead = 0
        pendingOffset = 0
        pendingBytes = 0
        responseItems.removeAll(keepingCapacity: true)
        if turnTaking == .local, responseActive {
            out.append(.toModel(Array(ClientEvent.responseCancel.utf8)))
            responseActive = false
        }
    }

    // MARK: - The model's side

    /// Takes one text frame from the model, as its bytes: an audio delta (most of what a model sends, 4 to 60 KB
    /// each) is read in place with the carrier's strict JSON reader and its base64 decoded straight from the
    /// message; any other event, and a delta this reader does not take whole (escapes in it, invalid JSON), goes
    /// through ``ModelEvent``, which reports what is wrong.
    public mutating func model(_ text: UnsafeRawBufferPointer, now: UInt64, into out: inout [BridgeAction]) {
        guard !ended else { return }
        let bytes = text.bindMemory(to: UInt8.self)
        if let delta = Self.audioDelta(in: bytes) {
            return takeAudioDelta(itemID: delta.itemID, base64: delta.characters, now: now, into: &out)
        }
        model(String(decoding: text, as: UTF8.self), now: now, into: &out)
    }

    /// The item and base64 characters of an audio delta (`response.output_audio.delta`, beta `response.audio.delta`)
    /// when `bytes` is one, valid, with an escape-free `delta`; nil otherwise.
    static func audioDelta(in bytes: UnsafeBufferPointer<UInt8>) -> (itemID: String?, characters: UnsafeBufferPointer<UInt8>)? {
        var reader = JSONReader(bytes)
        var isDelta = false
        var itemID: String?
        var delta: JSONString?
        do {
            reader.skipWhitespace()
            try reader.readObject { (r, key) throws(JSONError) -> Bool in
                if key.equals("type", in: bytes) {
                    guard r.peek() == UInt8(ascii: "\"") else { return false }
                    let type = try r.readString()
                    isDelta = type.equals("response.output_audio.delta", in: bytes) || type.equals("response.audio.delta", in: bytes)
                    return true
                }
                if key.equals("item_id", in: bytes), r.peek() == UInt8(ascii: "\"") {
                    itemID = try r.readString().string(in: bytes)
                    return true
                }
                if key.equals("delta", in: bytes), r.peek() == UInt8(ascii: "\"") {
                    delta = try r.readString()
                    return true
                }
                return false
            }
            try reader.finish()
        } catch {
            return nil
        }
        guard isDelta, let delta, !delta.hasEscapes else { return nil }
        return (itemID, delta.raw(in: bytes))
    }

    /// A delta of the model's audio for item `itemID`: decoded, queued for the leg in order (a new item ends the
    /// last), dropped when its item was interrupted or the backlog is full.
    private mutating func takeAudioDelta(itemID: String?, base64 characters: UnsafeBufferPointer<UInt8>, now: UInt64,
                                         into out: inout [BridgeAction]) {
        let item = itemID ?? ""
        guard !cancelledItems.contains(item) else { statistics.lateDeltas += 1; return }
        statistics.modelDeltas += 1
        var bytes: [UInt8]
        do {
            bytes = try [UInt8](unsafeUninitializedCapacity: Base64.decodedCapacity(forCharacterCount: characters.count)) {
                (room, count) throws(Base64Error) in
                count = 0
                count = try Base64.decode(characters, into: room)
            }
        } catch {
            statistics.modelErrors += 1
            out.append(.log(warning: true, "model audio delta refused: \(error)"))
            return
        }
        if let law = modelOutputLaw {
            bytes = law.decodeInt16(bytes).flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
        }
        if currentItem != item {
            if currentItem != nil { pending.append(.end) }
            currentItem = item
        }
        guard pendingBytes + bytes.count <= backlogLimitBytes else {
            statistics.droppedModelBytes += bytes.count
            out.append(.log(warning: true, "model audio beyond the call's \(backlogLimitBytes)-byte backlog: \(bytes.count) bytes dropped"))
            return
        }
        pending.append(.audio(item: item, bytes: bytes))
        pendingBytes += bytes.count
        drain(now: now, into: &out)
    }

    /// Takes one text frame from the model.
    public mutating func model(_ text: String, now: UInt64, into out: inout [BridgeAction]) {
        guard !ended else { return }
        let event: ModelEvent
        do { event = try ModelEvent(parsing: text) } catch {
            statistics.modelErrors += 1
            out.append(.log(warning: true, "\(error)"))
            return
        }
        switch event {
        case .audioDelta(_, let itemID, let delta):
            var characters = delta
            characters.withUTF8 { takeAudioDelta(itemID: itemID, base64: $0, now: now, into: &out) }
        case .audioDone(let itemID):
            if let itemID, itemID == currentItem {
                pending.append(.end)
                currentItem = nil
                drain(now: now, into: &out)
            }
        case .responseCreated:
            responseActive = true
        case .responseDone:
            responseActive = false
            if currentItem != nil {
                pending.append(.end)
                currentItem = nil
                drain(now: now, into: &out)
            }
        case .speechStarted:
            // The model interrupts its own response only when the session says so (`interrupt_response`).
            if turnTaking == .server, interruptsResponse { bargeIn(now: now, into: &out) }
        case .speechStopped:
            break
        case .error(let code, let message):
            statistics.modelErrors += 1
            out.append(.log(warning: true, "model error \(code ?? "-"): \(message ?? "")"))
        case .other:
            break
        }
    }

    /// Moves waiting model audio into the leg as far as its queue takes it.
    private mutating func drain(now: UInt64, into out: inout [BridgeAction]) {
        guard leg != nil else { return }
        let maximumChunk = Self.outboundPieceBytes
        while pendingHead < pending.count {
            switch pending[pendingHead] {
            case .end:
                do { try leg!.finishResponse(now: now) } catch {
                    if case .queueFull = error { return compactPending() }
                    out.append(.log(warning: true, "response end: \(error)"))
                }
                mappedItem = nil
                pendingHead += 1
            case .audio(let item, let bytes):
                let n = min(bytes.count - pendingOffset, maximumChunk)
                let offset = pendingOffset
                let appended: Result<Void, CarrierLegError> = bytes.withUnsafeBufferPointer { all in
                    do throws(CarrierLegError) {
                        try leg!.appendModelAudio(UnsafeBufferPointer(rebasing: all[offset..<(offset + n)]), now: now)
                        return .success(())
                    } catch { return .failure(error) }
                }
                if case .failure(let error) = appended {
                    if case .queueFull = error { return compactPending() }
                    statistics.droppedModelBytes += bytes.count - pendingOffset
                    out.append(.log(warning: true, "model audio refused: \(error)"))
                    pendingBytes -= bytes.count - pendingOffset
                    pendingOffset = 0
                    pendingHead += 1
                    continue
                }
                if mappedItem != item {
                    responseItems[leg!.pacer.latestResponse] = item
                    mappedItem = item
                }
                pendingOffset += n
                pendingBytes -= n
                if pendingOffset == bytes.count {
                    pendingOffset = 0
                    pendingHead += 1
                }
            }
        }
        pending.removeAll(keepingCapacity: true)
        pendingHead = 0
    }

    /// Drops the entries the leg has taken: a model that stays ahead for minutes never empties the list, and the
    /// taken entries must not hold their audio meanwhile (the backlog bound counts only what waits).
    private mutating func compactPending() {
        guard pendingHead > 0 else { return }
        pending.removeSubrange(0..<pendingHead)
        pendingHead = 0
    }

    /// Entries held for the leg, taken ones included (for tests of the bound).
    var pendingEntries: Int { pending.count }

    // MARK: - Time

    /// Releases the frames and marks due at `now` to the carrier, and feeds waiting model audio to the leg.
    public mutating func poll(now: UInt64, into out: inout [BridgeAction]) {
        guard !ended, leg != nil else { return }
        // Gathered audio whose next frame has not come in time goes as it is.
        if now >= heldDeadline { flushAppend(into: &out) }
        drain(now: now, into: &out)
        guard let due = leg!.nextDeadline, due <= now else { return }
        // The leg leaves `self` for the poll (moved out of its optional, not copied) so the closure may use the
        // codec in place: a codec made for each poll cost a 21 KB zeroed buffer per frame released.
        var leg = self.leg.take()!
        defer { self.leg = leg }
        var frames = 0
        leg.poll(now: now) { output in
            switch output {
            case .frame(let bytes, _, _):
                if let message = try? codec.mediaMessageBytes(bytes) { out.append(.toCarrier(message)) }
                frames += 1
            case .mark(let mark):
                if let message = try? codec.markMessageBytes(mark) { out.append(.toCarrier(message)) }
            }
        }
        statistics.framesOut += frames
    }
}
