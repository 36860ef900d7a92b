/// A turn-detection event, with the Realtime API's meaning of its times.
///
/// Times are milliseconds of stream time from the first input sample (since the detector's creation or its last
/// ``ServerVAD/reset()``).
public enum TurnEvent: Sendable, Equatable, CustomStringConvertible {
    /// `input_audio_buffer.speech_started`: a turn began.
    ///
    /// - `audioStartMs`: the detected onset minus the prefix padding, clamped at 0: the turn's audio, pre-roll
    ///   included, starts here.
    /// - `emittedAtMs`: the stream time at which the detector was sure (onset plus its confirmation).
    case speechStarted(audioStartMs: Int, emittedAtMs: Int)
    /// `input_audio_buffer.speech_stopped`: the turn ended.
    ///
    /// - `audioEndMs`: the end of the last speech plus the silence duration (the API's definition), or the end of
    ///   the audio when a stream finishes inside a turn.
    /// - `emittedAtMs`: the stream time at which the event fired (equal to `audioEndMs` unless the stream
    ///   finished early).
    case speechStopped(audioEndMs: Int, emittedAtMs: Int)

    /// The Realtime API's event type, `input_audio_buffer.speech_started` or `..._stopped`.
    public var type: String {
        switch self {
        case .speechStarted: "input_audio_buffer.speech_started"
        case .speechStopped: "input_audio_buffer.speech_stopped"
        }
    }

    /// The stream time at which the event fired, in milliseconds.
    public var emittedAtMs: Int {
        switch self {
        case .speechStarted(_, let t), .speechStopped(_, let t): t
        }
    }

    /// The event as the Realtime API spells it, plus when it fired:
    /// `{"type":"input_audio_buffer.speech_started","audio_start_ms":1200,"emitted_at_ms":1560}`.
    public var json: String {
        var line = JSONLine(type: type)
        switch self {
        case .speechStarted(let start, _): line.add("audio_start_ms", start)
        case .speechStopped(let end, _): line.add("audio_end_ms", end)
        }
        line.add("emitted_at_ms", emittedAtMs)
        return line.text
    }

    /// The event's ``json`` line.
    public var description: String { json }
}

/// An invalid ``ServerVAD`` setting.
public enum ServerVADError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `threshold` is outside 0 ... 1 (or NaN).
    case thresholdOutOfRange(Double)
    /// `prefix_padding_ms` is outside 0 ... ``ServerVADConfiguration/maximumPrefixPaddingMs``.
    case prefixPaddingOutOfRange(Int)
    /// `silence_duration_ms` is outside 0 ... ``ServerVADConfiguration/maximumSilenceDurationMs``.
    case silenceDurationOutOfRange(Int)
    /// The sample rate is below 8000 Hz or not a whole number of samples per 10 ms frame.
    case unsupportedRate(Int)

    /// One line naming the setting and its valid range.
    public var description: String {
        switch self {
        case .thresholdOutOfRange(let t): "VAD threshold \(t) is outside 0...1"
        case .prefixPaddingOutOfRange(let ms):
            "prefix_padding_ms \(ms) is outside 0...\(ServerVADConfiguration.maximumPrefixPaddingMs)"
        case .silenceDurationOutOfRange(let ms):
            "silence_duration_ms \(ms) is outside 0...\(ServerVADConfiguration.maximumSilenceDurationMs)"
        case .unsupportedRate(let hz):
            "the VAD needs a rate of at least 8000 Hz that is a multiple of 100 Hz (got \(hz) Hz)"
        }
    }
}

/// The Realtime API's `server_vad` settings, validated.
public struct ServerVADConfiguration: Sendable, Equatable {
    /// The longest prefix padding accepted: the pre-roll buffer holds this much audio per session.
    public static let maximumPrefixPaddingMs = 5_000
    /// The longest silence duration accepted.
    public static let maximumSilenceDurationMs = 60_000
    /// The `threshold` values accepted: the one range the session layer validates with.
    public static let thresholdRange: ClosedRange<Double> = 0...1
    /// The `prefix_padding_ms` values accepted.
    public static let prefixPaddingMsRange = 0...maximumPrefixPaddingMs
    /// The `silence_duration_ms` values accepted.
    public static let silenceDurationMsRange = 0...maximumSilenceDurationMs

    /// `threshold`, 0 ... 1 (default 0.5): the speech probability a frame needs to start a turn. Higher needs
    /// louder speech relative to the noise floor, so it holds up better in noise and misses more quiet speech.
    /// The probability is a logistic function of the frame's speech-to-noise score (see ``ServerVAD``):
    /// 0.5 means 9 dB, each step of 0.1 around it about 1.5 dB.
    public let threshold: Double
    /// `prefix_padding_ms` (default 300): audio before the detected onset that belongs to the turn.
    public let prefixPaddingMs: Int
    /// `silence_duration_ms` (default 500): silence that ends a turn; shorter pauses never do.
    public let silenceDurationMs: Int

    /// The API's `server_vad` settings, checked against their ranges (``thresholdRange``,
    /// ``prefixPaddingMsRange``, ``silenceDurationMsRange``).
    ///
    /// - Throws: ``ServerVADError`` naming the setting that is out of range.
    public init(threshold: Double = 0.5, prefixPaddingMs: Int = 300, silenceDurationMs: Int = 500) throws(ServerVADError) {
        guard Self.thresholdRange.contains(threshold) else { throw .thresholdOutOfRange(threshold) }
        guard Self.prefixPaddingMsRange.contains(prefixPaddingMs) else {
            throw .prefixPaddingOutOfRange(prefixPaddingMs)
        }
        guard Self.silenceDurationMsRange.contains(silenceDurationMs) else {
            throw .silenceDurationOutOfRange(silenceDurationMs)
        }
        self.threshold = threshold
        self.prefixPaddingMs = prefixPaddingMs
        self.silenceDurationMs = silenceDurationMs
    }

    /// The Realtime API's defaults: threshold 0.5, 300 ms prefix padding, 500 ms silence.
    public static let `default` = try! ServerVADConfiguration()
}
