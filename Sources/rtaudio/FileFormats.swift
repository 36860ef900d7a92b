import RealtimeAudio
import SoundFile

/// The sample formats the CLI writes: the three wire formats plus float32.
enum OutputFormat: String, CaseIterable {
    case pcm16, g711_ulaw, g711_alaw, float

    init(parsing name: String) throws {
        guard let format = OutputFormat(rawValue: name) else {
            let valid = OutputFormat.allCases.map(\.rawValue).joined(separator: ", ")
            throw UserError("unknown format '\(name)' (valid: \(valid))")
        }
        self = format
    }

    var encoding: SampleEncoding {
        switch self {
        case .pcm16: .pcm16
        case .g711_ulaw: .ulaw
        case .g711_alaw: .alaw
        case .float: .float32
        }
    }

    var g711: G711? {
        switch self {
        case .g711_ulaw: .muLaw
        case .g711_alaw: .aLaw
        case .pcm16, .float: nil
        }
    }

    /// The rate a headerless input of this format is assumed to have without `--input-rate`.
    var defaultRate: Int {
        switch self {
        case .pcm16: AudioFormat.pcm16.defaultSampleRate.hertz
        case .g711_ulaw, .g711_alaw: AudioFormat.g711_ulaw.defaultSampleRate.hertz
        case .float: AudioFormat.pcm16.defaultSampleRate.hertz
        }
    }
}

/// What a file name's extension says.
struct FileKind {
    let container: Container
    /// The format the extension implies (`.ulaw`, `.alaw`), if any.
    let impliedFormat: OutputFormat?

    static let extensions = ["wav", "flac", "raw", "pcm", "ulaw", "alaw"]

    init?(path: String) {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        switch name[name.index(after: dot)...].lowercased() {
        case "wav": self.init(container: .wav, impliedFormat: nil)
        case "flac": self.init(container: .flac, impliedFormat: nil)
        case "raw", "pcm": self.init(container: .raw, impliedFormat: nil)
        case "ulaw": self.init(container: .raw, impliedFormat: .g711_ulaw)
        case "alaw": self.init(container: .raw, impliedFormat: .g711_alaw)
        default: return nil
        }
    }

    /// The container and format of an output path and an optional `--format`, checked against each other.
    static func resolveOutput(_ path: String, format: String?) throws -> (FileKind, OutputFormat) {
        guard let kind = FileKind(path: path) else {
            let valid = FileKind.extensions.map { ".\($0)" }.joined(separator: ", ")
            throw UserError("cannot tell the container of '\(path)' from its extension (valid: \(valid))")
        }
        let outputFormat = try format.map(OutputFormat.init(parsing:)) ?? kind.impliedFormat ?? .pcm16
        if let implied = kind.impliedFormat, implied != outputFormat {
            throw UserError("'\(path)' is a \(implied.rawValue) file by its extension, but --format is \(outputFormat.rawValue)")
        }
        if kind.container == .flac, outputFormat != .pcm16 {
            throw UserError("FLAC output is 16-bit: use --format pcm16 (or a .wav output for \(outputFormat.rawValue))")
        }
        return (kind, outputFormat)
    }

    private init(container: Container, impliedFormat: OutputFormat?) {
        self.container = container
        self.impliedFormat = impliedFormat
    }
}

/// Options naming a headerless input's layout, shared by `convert` and `info`.
struct InputOptions: ParsableArguments {
    @Option(name: .customLong("input-format"),
            help: "Format of a headerless input: pcm16, g711_ulaw, g711_alaw or float (default: from the extension).")
    var format: String?

    @Option(name: .customLong("input-rate"),
            help: "Sample rate of a headerless input in Hz (default: 24000 for pcm16 and float, 8000 for G.711).")
    var rate: Int?

    @Option(name: .customLong("input-channels"), help: "Channels of a headerless input (default: 1).")
    var channels: Int = 1

    /// Opens `path`, as headerless when its extension or `--input-format` says so.
    func open(_ path: String) throws -> SoundFileReader {
        let kind = FileKind(path: path)
        let headerless = format != nil || kind?.container == .raw
        guard headerless else {
            if rate != nil { throw UserError("--input-rate applies to headerless inputs only (.raw, .pcm, .ulaw, .alaw or --input-format)") }
            return try SoundFileReader(path: path)
        }
        let rawFormat = try format.map(OutputFormat.init(parsing:)) ?? kind?.impliedFormat ?? .pcm16
        let rate = self.rate ?? rawFormat.defaultRate
        guard (1...SampleRate.maximumHertz).contains(rate) else {
            throw UserError(SampleRateError.outOfRange(rate))
        }
        guard (1...64).contains(channels) else { throw UserError("--input-channels must be 1...64, not \(channels)") }
        return try SoundFileReader(path: path, raw: RawLayout(encoding: rawFormat.encoding, sampleRate: rate, channels: channels))
    }
}

import ArgumentParser

/// The server VAD's knobs, shared by `vad` and `listen`.
struct TurnDetectionOptions: ParsableArguments {
    @Option(help: "Speech probability that starts a turn, 0...1; higher needs louder speech above the noise.")
    var threshold: Double = 0.5

    @Option(name: .customLong("prefix-padding-ms"), help: "Audio before the detected onset that belongs to the turn, in ms.")
    var prefixPaddingMs: Int = 300

    @Option(name: .customLong("silence-duration-ms"), help: "Silence that ends a turn, in ms.")
    var silenceDurationMs: Int = 500

    func configuration() throws -> ServerVADConfiguration {
        try ServerVADConfiguration(threshold: threshold, prefixPaddingMs: prefixPaddingMs, silenceDurationMs: silenceDurationMs)
    }
}
