import CSndFile

/// The sample encoding of a headerless (raw) file, or the subtype of a file to write.
public enum SampleEncoding: String, Sendable, CaseIterable {
    /// 16-bit signed little-endian.
    case pcm16
    /// G.711 µ-law bytes.
    case ulaw
    /// G.711 A-law bytes.
    case alaw
    /// 32-bit IEEE float, little-endian.
    case float32

    var subtype: Int32 {
        switch self {
        case .pcm16: Int32(SF_FORMAT_PCM_16)
        case .ulaw: Int32(SF_FORMAT_ULAW)
        case .alaw: Int32(SF_FORMAT_ALAW)
        case .float32: Int32(SF_FORMAT_FLOAT)
        }
    }
}

/// What a headerless file cannot say about itself.
public struct RawLayout: Sendable, Equatable {
    /// How each sample is stored.
    public var encoding: SampleEncoding
    /// Frames per second.
    public var sampleRate: Int
    /// Interleaved channels per frame.
    public var channels: Int

    /// Describes a headerless file; `sampleRate` and `channels` must be positive (checked on open).
    public init(encoding: SampleEncoding, sampleRate: Int, channels: Int = 1) {
        self.encoding = encoding
        self.sampleRate = sampleRate
        self.channels = channels
    }
}

/// What an open sound file holds.
public struct SoundFileInfo: Sendable, Equatable {
    /// Frames per second.
    public let sampleRate: Int
    /// Interleaved channels per frame.
    public let channels: Int
    /// Frames (samples per channel) in the file.
    public let frames: Int64
    /// The container's name as libsndfile gives it, such as "WAV (Microsoft)".
    public let container: String
    /// The encoding's name as libsndfile gives it, such as "Signed 16 bit PCM" or "U-Law".
    public let encoding: String
    /// libsndfile's `SF_FORMAT_*` code (container | subtype | endianness).
    public let formatCode: Int32

    /// The length in seconds.
    public var duration: Double { sampleRate > 0 ? Double(frames) / Double(sampleRate) : 0 }
}

/// Reads a sound file in chunks of `Float` samples through libsndfile.
///
/// Opens anything libsndfile reads (WAV, FLAC, Ogg, MP3, AIFF, ...), and headerless files given a ``RawLayout``.
/// Samples come interleaved, normalized to -1 ... 1 (16-bit values divided by 32768). A file whose header
/// declares more data than the file holds is refused as ``SoundFileError/Kind-swift.enum/truncated``, so a
/// conversion never silently produces a short output.
///
/// Not thread-safe: one owner at a time. The file is closed by ``close()`` or when the reader is released.
public final class SoundFileReader {
    private var handle: OpaquePointer?
    /// The file's path.
    public let path: String
    /// What the file holds.
    public let info: SoundFileInfo

    /// Opens a file whose format libsndfile recognizes from its header.
    ///
    /// - Throws: ``SoundFileError`` (operation `.open`) for a missing, unreadable, non-audio, malformed or
    ///   truncated file.
    public convenience init(path: String) throws(SoundFileError) {
        var sfInfo = SF_INFO()
        try self.init(path: path, sfInfo: &sfInfo)
    }

    /// Opens a headerless file.
    ///
    /// - Throws: ``SoundFileError`` (operation `.open`) for a missing or unreadable file or a bad layout.
    public convenience init(path: String, raw layout: RawLayout) throws(SoundFileError) {
        guard layout.sampleRate > 0, layout.channels > 0 else {
            throw SoundFileError(.open, path: path, code: 0,
                                 message: "a raw file needs a positive rate and channel count", kind: .other)
        }
        var sfInfo = SF_INFO()
        sfInfo.samplerate = Int32(clamping: layout.sampleRate)
        sfInfo.channels = Int32(clamping: layout.channels)
        sfInfo.format = Int32(SF_FORMAT_RAW) | layout.encoding.subtype | Int32(SF_ENDIAN_LITTLE)
        try self.init(path: path, sfInfo: &sfInfo)
    }

    private init(path: String, sfInfo: inout SF_INFO) throws(SoundFileError) {
        self.path = path
        guard let handle = sf_open(path, Int32(SFM_READ), &sfInfo) else {
            let failure = SoundFileError(.open, path: path, handle: nil)
            // libsndfile's words for a header with a zero rate or channel count name its own struct.
            if "\(failure)".contains("SF_INFO struct incomplete") {
                throw SoundFileError(.open, path: path, code: 0, message: "the header declares a sample rate or channel count of 0",
                                     kind: .malformedFile)
            }
            throw failure
        }
        self.handle = handle
        info = SoundFileInfo(
            sampleRate: Int(sfInfo.samplerate), channels: Int(sfInfo.channels), frames: Int64(sfInfo.frames),
            container: Self.formatName(sfInfo.format & Int32(SF_FORMAT_TYPEMASK)),
            encoding: Self.formatName(sfInfo.format & Int32(SF_FORMAT_SUBMASK)),
            formatCode: sfInfo.format)
        if let declared = Self.truncation(of: handle) {
            close()
            throw SoundFileError(.open, path: path, code: 0,
                                 message: "file is truncated (header declares \(declared.declared) data bytes, file holds \(declared.actual))",
                                 kind: .truncated)
        }
        guard info.channels > 0, info.sampleRate > 0 else {
            close()
            throw SoundFileError(.open, path: path, code: 0, message: "file declares no channels or no sample rate",
                                 kind: .malformedFile)
        }
    }

    deinit { close() }

    /// Reads up to `output.count / channels` whole frames, interleaved.
    ///
    /// - Returns: the frames read; 0 at the end of the file.
    /// - Throws: ``SoundFileError`` (operation `.read`) when libsndfile reports a read error.
    public func read(into output: UnsafeMutableBufferPointer<Float>) throws(SoundFileError) -> Int {
        guard let handle else { return 0 }
        let frames = output.count / info.channels
        guard frames > 0 else { return 0 }
        let n = sf_readf_float(handle, output.baseAddress, sf_count_t(frames))
        if n <= 0 {
            let code = sf_error(handle)
            if code != 0 { throw SoundFileError(.read, path: path, handle: handle) }
            return 0
        }
        return Int(n)
    }

    /// Closes the file; further reads return 0. Safe to call more than once.
    public func close() {
        if let handle { sf_close(handle) }
        handle = nil
    }

    private static func formatName(_ format: Int32) -> String {
        var formatInfo = SF_FORMAT_INFO()
        formatInfo.format = format
        let rc = sf_command(nil, Int32(SFC_GET_FORMAT_INFO), &formatInfo, Int32(MemoryLayout<SF_FORMAT_INFO>.size))
        guard rc == 0, let name = formatInfo.name else { return "unknown (0x\(String(format, radix: 16)))" }
        return String(cString: name)
    }

    /// libsndfile opens a truncated WAV or AIFF without an error, shortening it to what is there; its log is the
    /// only place that says so ("data : 16000 (should be 8956)"). Lengths of 0 and 0xFFFFFFFF mean "unknown"
    /// (streamed files, as ffmpeg writes to a pipe) and are not truncation; any other length past the file is, up
    /// to 0xFFFFFFFE.
    private static func truncation(of handle: OpaquePointer) -> (declared: Int, actual: Int)? {
        var log = [CChar](repeating: 0, count: 8192)
        let n = sf_command(handle, Int32(SFC_GET_LOG_INFO), &log, Int32(log.count))
        guard n > 0 else { return nil }
        let text = log.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        for line in text.split(separator: "\n") {
            let trimmed = line.drop { $0 == " " }
            guard trimmed.hasPrefix("data") || trimmed.hasPrefix("SSND"),
                  let open = trimmed.firstRange(of: "(should be ") else { continue }
            let declaredText = trimmed[trimmed.index(trimmed.startIndex, offsetBy: 4)..<open.lowerBound]
                .filter(\.isNumber)
            let actualText = trimmed[open.upperBound...].prefix { $0.isNumber }
            guard let declared = Int(declaredText), let actual = Int(actualText) else { continue }
            if declared > actual, declared != 0, declared != 0xFFFF_FFFF { return (declared, actual) }
        }
        return nil
    }
}
