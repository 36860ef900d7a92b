/// A sample rate in hertz (samples per second per channel).
///
/// Rates travel as this type rather than a bare `Int`, so a count at one rate is not mixed up with another.
/// Valid rates are 1 ... 768 000 Hz; the Realtime API uses 8000 (G.711) and 24000 (pcm16).
public struct SampleRate: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Samples per second.
    public let hertz: Int

    /// The highest rate accepted: enough for any audio interface, and small enough that sample arithmetic never
    /// overflows.
    public static let maximumHertz = 768_000

    /// Creates a sample rate.
    ///
    /// - Throws: ``SampleRateError/outOfRange(_:)`` when `hertz` is not in 1 ... ``maximumHertz``.
    public init(hertz: Int) throws(SampleRateError) {
        guard hertz >= 1, hertz <= Self.maximumHertz else { throw .outOfRange(hertz) }
        self.hertz = hertz
    }

    /// A rate the caller knows is valid (the named constants below); traps on a bad value.
    init(unchecked hertz: Int) {
        precondition(hertz >= 1 && hertz <= Self.maximumHertz)
        self.hertz = hertz
    }

    /// 8000 Hz: telephony, the G.711 default.
    public static let hz8000 = SampleRate(unchecked: 8000)
    /// 16000 Hz: wideband speech.
    public static let hz16000 = SampleRate(unchecked: 16000)
    /// 24000 Hz: the Realtime API's pcm16 rate.
    public static let hz24000 = SampleRate(unchecked: 24000)
    /// 44100 Hz: CD audio.
    public static let hz44100 = SampleRate(unchecked: 44100)
    /// 48000 Hz: most audio interfaces.
    public static let hz48000 = SampleRate(unchecked: 48000)

    /// Orders rates by frequency.
    public static func < (lhs: SampleRate, rhs: SampleRate) -> Bool { lhs.hertz < rhs.hertz }

    /// `"24000 Hz"`.
    public var description: String { "\(hertz) Hz" }
}

/// An invalid sample rate.
public enum SampleRateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The rate is not in 1 ... ``SampleRate/maximumHertz``.
    case outOfRange(Int)

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String {
        switch self {
        case .outOfRange(let hertz):
            "sample rate \(hertz) Hz is out of range (1...\(SampleRate.maximumHertz) Hz)"
        }
    }
}

/// A wire format of the Realtime API: how mono audio travels as bytes.
///
/// The raw values are the API's names (`input_audio_format`, `output_audio_format`).
public enum AudioFormat: String, CaseIterable, Sendable, CustomStringConvertible {
    /// 16-bit signed little-endian PCM, 24 kHz by default.
    case pcm16
    /// ITU-T G.711 µ-law, one byte per sample, 8 kHz by default.
    case g711_ulaw
    /// ITU-T G.711 A-law, one byte per sample, 8 kHz by default.
    case g711_alaw

    /// Parses a wire name (`pcm16`, `g711_ulaw`, `g711_alaw`).
    ///
    /// - Throws: ``AudioFormatError/unknownName(_:)``, whose description lists the valid names.
    public init(name: String) throws(AudioFormatError) {
        guard let format = AudioFormat(rawValue: name) else { throw .unknownName(name) }
        self = format
    }

    /// Bytes one sample takes on the wire.
    public var bytesPerSample: Int {
        switch self {
        case .pcm16: 2
        case .g711_ulaw, .g711_alaw: 1
        }
    }

    /// The rate the Realtime API uses for this format: 24000 Hz for pcm16, 8000 Hz for G.711.
    public var defaultSampleRate: SampleRate {
        switch self {
        case .pcm16: .hz24000
        case .g711_ulaw, .g711_alaw: .hz8000
        }
    }

    /// The G.711 law of this format, or `nil` for pcm16.
    public var g711: G711? {
        switch self {
        case .pcm16: nil
        case .g711_ulaw: .muLaw
        case .g711_alaw: .aLaw
        }
    }

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String { rawValue }
}

/// An unknown audio format name.
public enum AudioFormatError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The name is not one of `AudioFormat.allCases`.
    case unknownName(String)

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String {
        switch self {
        case .unknownName(let name):
            let valid = AudioFormat.allCases.map(\.rawValue).joined(separator: ", ")
            return "unknown audio format '\(name)' (valid: \(valid))"
        }
    }
}
