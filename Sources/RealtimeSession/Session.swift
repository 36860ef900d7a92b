import RealtimeAudio

/// A Realtime session's configuration, in either of the API's two shapes, validated by its documented rules.
///
/// - The **GA shape** (`session.update` of the released API): `type: "realtime"`, `output_modalities`, `audio.input`
///   (`format` as an object such as `{"type":"audio/pcm","rate":24000}`, `transcription`, `noise_reduction`,
///   `turn_detection`), `audio.output` (`format`, `voice`, `speed`), `max_output_tokens`, `tracing`, `truncation`,
///   `prompt`, `include`.
/// - The **beta shape** (the "create realtime session" body of the beta API): flat `modalities`,
///   `input_audio_format` (`pcm16`, `g711_ulaw`, `g711_alaw`), `input_audio_transcription`,
///   `input_audio_noise_reduction`, `turn_detection`, `voice`, `speed`, `temperature`, `max_response_output_tokens`.
///
/// Both decode into this one model, so a gateway builds the same pipelines from either; ``shape`` remembers which
/// one a document came in, ``json`` writes it back in that shape and ``json(shape:)`` in the other one
/// (``conversionWarnings(to:)`` names what the other shape cannot say). Decode with `validate(json:shape:)` or
/// ``init(json:shape:)`` (every violation at once, each with its JSON path) or through `Codable` (either shape,
/// detected); ``json`` is the normalized document: defaults filled in, unknown fields kept, at the end of the object
/// they came in. Values are plain data: `Sendable`, safe to share between threads.
public struct Session: Sendable, Equatable {
    /// Which of the API's two session shapes a document follows.
    public enum Shape: String, Sendable, Equatable, CaseIterable {
        /// The beta API's flat session (`input_audio_format`, `modalities`, ...).
        case beta
        /// The released API's session (`type: "realtime"`, `audio.input`, `audio.output`, `output_modalities`).
        case ga
    }

    /// What the model answers with: beta `["text"]` / `["audio", "text"]`, GA `["text"]` / `["audio"]` (a GA audio
    /// answer carries its transcript, which is what beta's pair says).
    public enum Modalities: String, Sendable, Equatable {
        /// Text only: no audio goes out.
        case text
        /// Audio with its transcript.
        case audioAndText
    }

    /// `input_audio_transcription` (beta) / `audio.input.transcription` (GA).
    public struct Transcription: Sendable, Equatable {
        /// The transcription model's name (required, at least one character; not checked against a list).
        public var model: String
        /// The input's language as an ISO-639-1 code (`en`), when the caller states it.
        public var language: String?
        /// Text that guides the transcription (vocabulary, style), as given.
        public var prompt: String?
        /// Members this model does not know, kept as they came (each also a warning).
        public var unknownFields: [JSONValue.Member] = []
    }

    /// `semantic_vad`'s `eagerness`.
    public enum Eagerness: String, Sendable, Equatable, CaseIterable {
        /// Waits longest for the caller to go on: fewer interruptions, slower answers.
        case low
        /// Between `low` and `high`.
        case medium
        /// Answers soonest.
        case high
        /// The model's default (as `medium`).
        case auto
    }

    /// `turn_detection`: the server's energy detector, or the model's semantic one.
    public enum TurnDetection: Sendable, Equatable {
        /// `{"type": "server_vad", ...}`: an energy detector with the API's knobs (``ServerVADSettings``); the
        /// library's own is `ServerVAD`.
        case serverVAD(ServerVADSettings)
        /// `{"type": "semantic_vad", ...}`: the model judges from the words whether the caller has finished;
        /// `createResponse` and `interruptResponse` as for ``ServerVADSettings``; unknown members kept.
        case semanticVAD(eagerness: Eagerness, createResponse: Bool, interruptResponse: Bool, unknownFields: [JSONValue.Member])
    }

    /// `server_vad`'s settings; defaults and ranges are the detector's own (`ServerVADConfiguration`).
    public struct ServerVADSettings: Sendable, Equatable {
        /// 0...1 (`ServerVADConfiguration/thresholdRange`), default 0.5.
        public var threshold = ServerVADConfiguration.default.threshold
        /// Milliseconds, 0...5000, default 300.
        public var prefixPaddingMs = ServerVADConfiguration.default.prefixPaddingMs
        /// Milliseconds, 0...60000, default 500.
        public var silenceDurationMs = ServerVADConfiguration.default.silenceDurationMs
        /// Whether the end of a turn asks for a response at once (default true).
        public var createResponse = true
        /// Whether the caller's speech starting cancels the response in progress (default true).
        public var interruptResponse = true
        /// Milliseconds, at least 1; nil: no idle timeout.
        public var idleTimeoutMs: Int?
        /// Members this model does not know, kept as they came (each also a warning).
        public var unknownFields: [JSONValue.Member] = []
        /// The API's defaults: threshold 0.5, 300 ms of prefix padding, 500 ms of silence, responses created
        /// and interrupted, no idle timeout.
        public init() {}
    }

    /// A function the model may call.
    public struct Tool: Sendable, Equatable {
        /// Always `function` (the only type the API defines for session tools).
        public var type: String
        /// 1 to 64 characters, unique in the session.
        public var name: String
        /// One readable line (what error messages, logs and the CLI show).
        public var description: String?
        /// The JSON Schema of the arguments, as given.
        public var parameters: JSONValue?
        /// Members this model does not know, kept as they came (each also a warning).
        public var unknownFields: [JSONValue.Member] = []
    }

    /// `tool_choice`: whether and which tool the model calls.
    public enum ToolChoice: Sendable, Equatable {
        /// The model decides (the default).
        case auto
        /// No tool calls.
        case none
        /// At least one tool call.
        case required
        /// This function, by ``Tool/name``: `{"type": "function", "name": ...}`.
        case function(name: String)
    }

    /// `max_response_output_tokens` (beta) / `max_output_tokens` (GA): 1...4096 or `"inf"`.
    public enum MaxTokens: Sendable, Equatable {
        /// At most this many output tokens per response, 1...4096.
        case limit(Int)
        /// `"inf"`: the model's own limit (the default).
        case infinite
    }

    /// GA `tracing`: whether and how the session's traces are recorded (a nil `tracing`: off).
    public enum Tracing: Sendable, Equatable {
        /// `"auto"`: traced with the defaults.
        case auto
        /// An object naming the trace's workflow and group, with free metadata (as given).
        case configuration(workflowName: String?, groupID: String?, metadata: JSONValue?)
    }

    /// GA `truncation`: how the conversation is cut when it outgrows the model's context.
    public enum Truncation: Sendable, Equatable {
        /// The server drops the oldest turns as needed (the default).
        case auto
        /// Never cut: a conversation that outgrows the context fails instead.
        case disabled
        /// `{"type": "retention_ratio", "retention_ratio": 0...1}`; other members kept as they came.
        case retentionRatio(Double, unknownFields: [JSONValue.Member])
    }

    /// The ephemeral key a session-creation response carries, for a browser or phone to connect with.
    public struct ClientSecret: Sendable, Equatable {
        /// The key itself: a secret, never logged.
        public var value: String
        /// Unix seconds.
        public var expiresAt: Int
    }

    /// The shape the document came in, and the one ``json`` writes.
    public var shape: Shape = .beta
    /// `model`, when the document names one.
    public var model: String?
    /// What the model answers with (default audio with its transcript).
    public var modalities: Modalities = .audioAndText
    /// The system instructions, as given; nil: the server's default.
    public var instructions: String?
    /// The voice's name (`alloy`, `marin`, ...; not checked against a list, as voices are added); nil: the
    /// server's default.
    public var voice: String?
    /// What the model takes: `input_audio_format` (beta) / `audio.input.format.type` (GA).
    public var inputAudioFormat: AudioFormat = .pcm16
    /// The rate of pcm16 input, 16 kHz or 24 kHz (GA `audio.input.format.rate`; beta pcm16 is always 24 kHz).
    /// G.711 is 8 kHz whatever this says.
    public var inputAudioRate: SampleRate = .hz24000
    /// What the model speaks: `output_audio_format` (beta) / `audio.output.format.type` (GA).
    public var outputAudioFormat: AudioFormat = .pcm16
    /// The rate of pcm16 output, 16 kHz or 24 kHz, as ``inputAudioRate``.
    public var outputAudioRate: SampleRate = .hz24000
    /// Transcription of the caller's audio; nil: none.
    public var inputAudioTranscription: Transcription?
    /// `input_audio_noise_reduction` (beta) / `audio.input.noise_reduction` (GA); nil: none.
    public var inputAudioNoiseReduction: InboundAudio.NoiseReduction?
    /// nil: `turn_detection: null` (the client commits turns itself).
    public var turnDetection: TurnDetection? = .serverVAD(ServerVADSettings())
    /// The functions the model may call, names unique.
    public var tools: [Tool] = []
    /// Whether and which tool the model calls (default `auto`).
    public var toolChoice: ToolChoice = .auto
    /// Beta only: 0.6...1.2, default 0.8 (the GA session has no temperature).
    public var temperature = 0.8
    /// The output-token limit per response (default `inf`).
    public var maxResponseOutputTokens: MaxTokens = .infinite
    /// 0.25...1.5, default 1.0.
    public var speed = 1.0
    /// GA only; nil: not traced.
    public var tracing: Tracing?
    /// GA only; default `auto`.
    public var truncation: Truncation = .auto
    /// GA only: a stored prompt reference (`id`, optional `version`, `variables`), as given.
    public var prompt: JSONValue?
    /// GA only: extra output to include (`item.input_audio_transcription.logprobs`).
    public var include: [String] = []
    /// Present on the response side.
    public var clientSecret: ClientSecret?
    /// Top-level fields this model does not know, kept as they came.
    public var unknownFields: [JSONValue.Member] = []
    /// Fields this model does not know inside the GA shape's nested objects, by path (`audio`, `audio.input`,
    /// `audio.output`, `audio.input.format`, `audio.output.format`, `audio.input.noise_reduction`; the last also in
    /// the beta shape as `input_audio_noise_reduction`).
    public var nestedUnknownFields: [String: [JSONValue.Member]] = [:]

    /// A session with the API's defaults, written in `shape`.
    public init(shape: Shape = .beta) { self.shape = shape }

    /// Decodes and validates a session document.
    ///
    /// - Parameters:
    ///   - json: the session object as JSON text (UTF-8).
    ///   - shape: the shape the document must follow; nil: detected (GA when it has any GA-only member, such as
    ///     `type` or `audio`, beta otherwise).
    /// - Throws: ``ValidationError`` with every violation; warnings (unknown fields) are in `validate(json:shape:)`'s report.
    public init(json: String, shape: Shape? = nil) throws(ValidationError) {
        let value: JSONValue
        do { value = try JSONValue(parsing: json) } catch { throw .syntax(error) }
        var report = ValidationReport()
        self.init(value, shape: shape, report: &report)
        guard report.isValid else { throw .invalid(report) }
    }

    /// Validates a document: the session when valid, and the report (violations and warnings) either way.
    ///
    /// - Parameters:
    ///   - json: the session object as JSON text.
    ///   - shape: as for ``init(json:shape:)``.
    public static func validate(json: String, shape: Shape? = nil) -> (Session?, ValidationReport) {
        validateDocument(json) { Session($0, shape: shape, report: &$1) }
    }

    /// Validates a document from its bytes: invalid UTF-8 and repeated member names are violations with their byte
    /// offset (see ``JSONValue/init(parsing:)-([UInt8])``).
    public static func validate(json: [UInt8], shape: Shape? = nil) -> (Session?, ValidationReport) {
        validateDocument(json) { Session($0, shape: shape, report: &$1) }
    }

    /// The shape a parsed document follows: GA when it has a member only the GA shape has.
    public static func detectShape(of value: JSONValue) -> Shape {
        guard case .object(let members) = value else { return .beta }
        return members.contains { Self.gaOnlyMembers.contains($0.key) } ? .ga : .beta
    }

    /// Reads a session from a parsed document, recording violations in `report`.
    init(_ value: JSONValue, shape: Shape?, report: inout ValidationReport) {
        self.shape = shape ?? Self.detectShape(of: value)
        guard var f = Fields(value, path: "", &report) else { return }
        switch self.shape {
        case .beta: readBeta(&f, &report)
        case .ga: readGA(&f, &report)
        }
        // Read in both shapes.
        model = f.string("model", &report, nullable: false, length: 1...Int.max)
        instructions = f.string("instructions", &report)
        readTools(&f, &report)
        readToolChoice(&f, &report)
        readTracing(&f, &report)
        if let raw = f.raw("client_secret"), raw != .null, var c = Fields(raw, path: "client_secret", &report) {
            let value = c.string("value", &report, required: true, nullable: false, length: 1...Int.max)
            let expires = c.integer("expires_at", &report, range: 0...Int.max, required: true)
            _ = c.unknown(&report)
            if let value, let expires { clientSecret = ClientSecret(value: value, expiresAt: expires) }
        }
        unknownFields = f.unknown(&report)
    }

    /// The normalized document in its own ``shape``: every field, defaults filled in, unknown fields at the end of
    /// their object as they came.
    public var json: JSONValue { json(shape: shape) }

    /// The normalized document in `shape`; what that shape cannot say is left out (``conversionWarnings(to:)``
    /// names it).
    public func json(shape: Shape) -> JSONValue {
        switch shape {
        case .beta: betaJSON
        case .ga: gaJSON
        }
    }

    /// This session as a document of the other shape (or the same one), and what that shape cannot say: each
    /// warning names the field and what is lost.
    public func converted(to shape: Shape) -> (json: JSONValue, warnings: [Violation]) {
        (json(shape: shape), conversionWarnings(to: shape))
    }

    /// What writing this session in `shape` loses, one warning per field; empty when the conversion is lossless.
    public func conversionWarnings(to shape: Shape) -> [Violation] {
        var lost: [Violation] = []
        switch shape {
        case .ga:
            if temperature != Session().temperature {
                lost.append(Violation(path: "temperature", rule: "the GA session has no temperature: \(JSONValue(temperature)) is dropped"))
            }
        case .beta:
            for (path, format, rate) in [("audio.input.format.rate", inputAudioFormat, inputAudioRate),
                                         ("audio.output.format.rate", outputAudioFormat, outputAudioRate)]
            where format == .pcm16 && rate != .hz24000 {
                lost.append(Violation(path: path, rule: "the beta shape's pcm16 is 24000 Hz: \(rate.hertz) cannot be written"))
            }
            if truncation != .auto { lost.append(Violation(path: "truncation", rule: "the beta shape has no truncation: dropped")) }
            if prompt != nil { lost.append(Violation(path: "prompt", rule: "the beta shape has no prompt: dropped")) }
            if !include.isEmpty { lost.append(Violation(path: "include", rule: "the beta shape has no include: dropped")) }
            for path in nestedUnknownFields.keys.sorted() where path != Self.noiseReductionKey {
                for member in nestedUnknownFields[path]! {
                    lost.append(Violation(path: "\(path).\(member.key)", rule: "unknown field with no place in the beta shape: dropped"))
                }
            }
        }
        return lost
    }

    /// Members only the GA shape has.
    static let gaOnlyMembers: Set<String> = ["type", "audio", "output_modalities", "max_output_tokens", "truncation", "prompt", "include"]
    /// The beta shape's members that the GA shape puts elsewhere, and where.
    static let betaToGA: [(beta: String, ga: String?)] = [
        ("modalities", "output_modalities"), ("input_audio_format", "audio.input.format"),
        ("output_audio_format", "audio.output.format"), ("input_audio_transcription", "audio.input.transcription"),
        ("input_audio_noise_reduction", "audio.input.noise_reduction"), ("turn_detection", "audio.input.turn_detection"),
        ("voice", "audio.output.voice"), ("speed", "audio.output.speed"),
        ("max_response_output_tokens", "max_output_tokens"), ("temperature", nil),
    ]
    /// The key of the noise-reduction object's unknown members in ``nestedUnknownFields`` (both shapes have it).
    static let noiseReductionKey = "audio.input.noise_reduction"
}
