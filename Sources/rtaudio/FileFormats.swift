import Foundation
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

    @Option(name: .customLong("input-rate"), parsing: .unconditional,
            help: "Sample rate of a headerless input in Hz (default: 24000 for pcm16 and float, 8000 for G.711).")
    var rate: Int?

    @Option(name: .customLong("input-channels"), parsing: .unconditional, help: "Channels of a headerless input (default: 1).")
    var channels: Int = 1

    /// Opens `path`, as headerless when its extension or `--input-format` says so.
    func open(_ path: String) throws -> SoundFileReader {
        try Self.openAudio(path, format: format, rate: rate, channels: channels)
    }

    /// Opens an input file: headerless when its extension or `format` says so, unless its content starts with a
    /// container's header (a WAV named `.ulaw` is read as the WAV it is, with a warning, not its header as audio).
    ///
    /// Refused with a reason, never read as an empty file: a directory, a character or block device (`/dev/zero`
    /// has no end and no size), anything libsndfile cannot open.
    static func openAudio(_ path: String, format: String? = nil, rate: Int? = nil, channels: Int = 1) throws -> SoundFileReader {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw UserError("cannot open '\(path)': \(String(cString: strerror(errno)))")
        }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: throw UserError("cannot read '\(path)': it is a directory")
        case S_IFCHR, S_IFBLK: throw UserError("cannot read '\(path)': it is a device, not a file or a pipe (to read a device, pipe it: cat \(path) | ...)")
        default: break
        }
        let kind = FileKind(path: path)
        let headerless = format != nil || kind?.container == .raw
        guard headerless else {
            if rate != nil { throw UserError("--input-rate applies to headerless inputs only (.raw, .pcm, .ulaw, .alaw or --input-format)") }
            return try SoundFileReader(path: path)
        }
        if (st.st_mode & S_IFMT) == S_IFREG, let container = sniffContainer(path) {
            let said = format.map { "--input-format \($0)" } ?? "its extension"
            Console.warn("'\(path)' holds a \(container) header although \(said) says headerless audio: reading it as \(container)")
            return try SoundFileReader(path: path)
        }
        let rawFormat = try format.map(OutputFormat.init(parsing:)) ?? kind?.impliedFormat ?? .pcm16
        let rate = try Numbers.check(rate ?? rawFormat.defaultRate, "--input-rate", in: 1...SampleRate.maximumHertz)
        _ = try Numbers.check(channels, "--input-channels", in: 1...64)
        return try SoundFileReader(path: path, raw: RawLayout(encoding: rawFormat.encoding, sampleRate: rate, channels: channels))
    }

    /// The container whose header `path` starts with, if any: WAV (RIFF/RIFX/RF64 ... WAVE), AIFF, FLAC, Ogg,
    /// Sun/NeXT au, CAF.
    static func sniffContainer(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 12)) ?? Data())
        guard head.count >= 4 else { return nil }
        let tag = String(decoding: head[0..<4], as: UTF8.self)
        if ["RIFF", "RIFX", "RF64"].contains(tag), head.count >= 12, String(decoding: head[8..<12], as: UTF8.self) == "WAVE" { return "WAV" }
        if tag == "FORM", head.count >= 12, ["AIFF", "AIFC"].contains(String(decoding: head[8..<12], as: UTF8.self)) { return "AIFF" }
        switch tag {
        case "fLaC": return "FLAC"
        case "OggS": return "Ogg"
        case ".snd": return "Sun au"
        case "caff": return "CAF"
        default: return nil
        }
    }
}

import ArgumentParser

/// The server VAD's knobs, shared by `vad` and `listen`.
struct TurnDetectionOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Speech probability that starts a turn, 0...1; higher needs louder speech above the noise.")
    var threshold: Double = 0.5

    @Option(name: .customLong("prefix-padding-ms"), parsing: .unconditional, help: "Audio before the detected onset that belongs to the turn, in ms.")
    var prefixPaddingMs: Int = 300

    @Option(name: .customLong("silence-duration-ms"), parsing: .unconditional, help: "Silence that ends a turn, in ms.")
    var silenceDurationMs: Int = 500

    func configuration() throws -> ServerVADConfiguration {
        try ServerVADConfiguration(threshold: threshold, prefixPaddingMs: prefixPaddingMs, silenceDurationMs: silenceDurationMs)
    }
}
