import RealtimeAudio
import RealtimeSession

/// What the model's Realtime endpoint sends, as far as the audio loop needs it; everything else is `.other`.
public enum ModelEvent: Sendable, Equatable {
    /// `response.output_audio.delta` (GA) or `response.audio.delta` (beta): base64 pcm16 at the model's rate.
    case audioDelta(responseID: String?, itemID: String?, delta: String)
    /// `response.output_audio.done` / `response.audio.done`.
    case audioDone(itemID: String?)
    case responseCreated(responseID: String?)
    case responseDone(responseID: String?, status: String?)
    /// `input_audio_buffer.speech_started`: the model's own turn detection heard the caller.
    case speechStarted(audioStartMs: Int?, itemID: String?)
    case speechStopped(audioEndMs: Int?)
    case error(code: String?, message: String?)
    case other(type: String)

    /// Parses one text frame from the model.
    ///
    /// - Throws: ``ModelEventError`` for a frame that is not a JSON object with a string `type`, or an audio delta
    ///   without its `delta`.
    public init(parsing text: String) throws(ModelEventError) {
        let value: JSONValue
        do { value = try JSONValue(parsing: text) } catch { throw .notJSON(error.description) }
        guard case .string(let type)? = value["type"] else { throw .noType }
        func string(_ key: String) -> String? { if case .string(let s)? = value[key] { s } else { nil } }
        func int(_ key: String) -> Int? { value[key]?.doubleValue.flatMap { $0.isFinite && abs($0) < 1e15 ? Int($0) : nil } }
        switch type {
        case "response.output_audio.delta", "response.audio.delta":
            guard let delta = string("delta") else { throw .missing(type: type, field: "delta") }
            self = .audioDelta(responseID: string("response_id"), itemID: string("item_id"), delta: delta)
        case "response.output_audio.done", "response.audio.done":
            self = .audioDone(itemID: string("item_id"))
        case "response.created":
            if case .string(let id)? = value["response"]?["id"] { self = .responseCreated(responseID: id) } else { self = .responseCreated(responseID: nil) }
        case "response.done":
            let response = value["response"]
            var id: String?, status: String?
            if case .string(let s)? = response?["id"] { id = s }
            if case .string(let s)? = response?["status"] { status = s }
            self = .responseDone(responseID: id, status: status)
        case "input_audio_buffer.speech_started":
            self = .speechStarted(audioStartMs: int("audio_start_ms"), itemID: string("item_id"))
        case "input_audio_buffer.speech_stopped":
            self = .speechStopped(audioEndMs: int("audio_end_ms"))
        case "error":
            var code: String?, message: String?
            if case .string(let s)? = value["error"]?["code"] { code = s }
            if case .string(let s)? = value["error"]?["message"] { message = s }
            self = .error(code: code, message: message)
        default:
            self = .other(type: type)
        }
    }
}

/// A model frame the gateway could not read.
public enum ModelEventError: Error, Equatable, Sendable, CustomStringConvertible {
    case notJSON(String)
    case noType
    case missing(type: String, field: String)

    public var description: String {
        switch self {
        case .notJSON(let why): "model event: \(why)"
        case .noType: "model event: no string \"type\""
        case .missing(let type, let field): "model event \(type): no \"\(field)\""
        }
    }
}

/// The client events the gateway sends to the model, as JSON text.
public enum ClientEvent {
    /// `session.update` with the session in its own shape (GA sessions carry `type: "realtime"`).
    public static func sessionUpdate(_ session: Session) -> String {
        JSONValue.object([.init("type", .string("session.update")), .init("session", session.json)]).serialized()
    }

    /// `input_audio_buffer.append` with base64 audio (the characters are already valid base64).
    public static func append(base64 audio: String) -> String {
        #"{"type":"input_audio_buffer.append","audio":""# + audio + #""}"#
    }

    /// `input_audio_buffer.append` of `audio` (bytes in the session's input format), as UTF-8 bytes: the audio is
    /// encoded straight into the message, which is one array.
    public static func append(_ audio: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        let prefix = #"{"type":"input_audio_buffer.append","audio":""#, suffix = #""}"#
        let count = prefix.utf8.count + Base64.encodedCount(forByteCount: audio.count) + suffix.utf8.count
        return [UInt8](unsafeUninitializedCapacity: count) { room, written in
            var n = UnsafeMutableBufferPointer(rebasing: room[...]).initialize(fromContentsOf: prefix.utf8)
            n += Base64.encode(audio, into: UnsafeMutableBufferPointer(rebasing: room[n...]))
            n += UnsafeMutableBufferPointer(rebasing: room[n...]).initialize(fromContentsOf: suffix.utf8)
            written = n
        }
    }

    public static let commit = #"{"type":"input_audio_buffer.commit"}"#
    public static let responseCreate = #"{"type":"response.create"}"#
    public static let responseCancel = #"{"type":"response.cancel"}"#

    /// `conversation.item.truncate`: the item's audio ends at `audioEndMs` (what the caller heard).
    public static func truncate(itemID: String, audioEndMs: Int) -> String {
        JSONValue.object([.init("type", .string("conversation.item.truncate")), .init("item_id", .string(itemID)),
                          .init("content_index", JSONValue(0)), .init("audio_end_ms", JSONValue(max(0, audioEndMs)))]).serialized()
    }
}
