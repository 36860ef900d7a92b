import CSndFile

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file container to write.
public enum Container: String, Sendable, CaseIterable {
    /// RIFF WAVE; any ``SampleEncoding``.
    case wav
    /// FLAC; 16-bit only (``SampleEncoding/pcm16``).
    case flac
    /// Headerless samples, little-endian.
    case raw

    var major: Int32 {
        switch self {
        case .wav: Int32(SF_FORMAT_WAV)
        case .flac: Int32(SF_FORMAT_FLAC)
        case .raw: Int32(SF_FORMAT_RAW)
        }
    }
}

/// Writes a sound file through libsndfile, atomically: samples go to a temporary file beside the target, which
/// ``commit()`` renames onto it. Until then the target is untouched; ``discard()`` (or releasing the writer
/// without committing) removes the temporary file, so a failed or interrupted run leaves nothing half-written.
///
/// Samples are written as given: `Int16` for pcm16 (and FLAC), `Float` for float32, and encoded bytes for the
/// G.711 encodings, so the caller's codec decides every bit (libsndfile's own G.711 encoder is not bit-exact with
/// ITU-T G.191).
///
/// Not thread-safe: one owner at a time.
public final class SoundFileWriter {
    private var handle: OpaquePointer?
    /// The target path: what exists after ``commit()``.
    public let path: String
    /// Where the samples go until ``commit()``.
    public let temporaryPath: String
    /// The file type written.
    public let container: Container
    /// How samples are stored.
    public let encoding: SampleEncoding
    /// Frames per second.
    public let sampleRate: Int
    /// Interleaved channels per frame.
    public let channels: Int
    /// Frames written so far.
    public private(set) var framesWritten: Int64 = 0

    /// Creates the temporary file for `path`.
    ///
    /// - Throws: ``SoundFileError`` (operation `.open`): the folder is missing or not writable, or libsndfile
    ///   cannot write `encoding` in `container` at this rate (FLAC takes pcm16 only, up to 655350 Hz).
    public init(path: String, container: Container, encoding: SampleEncoding,
                sampleRate: Int, channels: Int = 1) throws(SoundFileError) {
        self.path = path
        self.container = container
        self.encoding = encoding
        self.sampleRate = sampleRate
        self.channels = channels
        temporaryPath = Self.temporaryName(for: path)
        Self.removeStaleTemporaries(for: path)

        var sfInfo = SF_INFO()
        sfInfo.samplerate = Int32(clamping: sampleRate)
        sfInfo.channels = Int32(clamping: channels)
        sfInfo.format = container.major | encoding.subtype | (container == .raw ? Int32(SF_ENDIAN_LITTLE) : 0)
        guard sampleRate > 0, channels > 0, sf_format_check(&sfInfo) != 0 else {
            throw SoundFileError(.open, path: path, code: Int32(SF_ERR_UNSUPPORTED_ENCODING),
                                 message: "\(container.rawValue) cannot hold \(encoding.rawValue) at \(sampleRate) Hz, \(channels) channel(s)",
                                 kind: .unsupportedEncoding)
        }
        guard let handle = sf_open(temporaryPath, Int32(SFM_WRITE), &sfInfo) else {
            let failure = SoundFileError(.open, path: path, handle: nil)
            unlink(temporaryPath)
            throw failure
        }
        self.handle = handle
    }

    deinit { discard() }

    /// Writes interleaved `Int16` frames (pcm16 or FLAC).
    ///
    /// - Throws: ``SoundFileError`` (operation `.write`) on a short write (a full disk, a file-size limit).
    public func write(_ samples: UnsafeBufferPointer<Int16>) throws(SoundFileError) {
        precondition(encoding == .pcm16, "SoundFileWriter: Int16 samples need the pcm16 encoding")
        let frames = samples.count / channels
        try check(sf_writef_short(handle, samples.baseAddress, sf_count_t(frames)), expected: frames, unit: frames)
    }

    /// Writes interleaved `Float` frames (float32).
    ///
    /// - Throws: ``SoundFileError`` (operation `.write`) on a short write.
    public func write(_ samples: UnsafeBufferPointer<Float>) throws(SoundFileError) {
        precondition(encoding == .float32, "SoundFileWriter: Float samples need the float32 encoding")
        let frames = samples.count / channels
        try check(sf_writef_float(handle, samples.baseAddress, sf_count_t(frames)), expected: frames, unit: frames)
    }

    /// Writes bytes already in the file's encoding (G.711 codes; for pcm16, little-endian sample bytes).
    ///
    /// - Throws: ``SoundFileError`` (operation `.write`) on a short write.
    public func write(encoded bytes: UnsafeBufferPointer<UInt8>) throws(SoundFileError) {
        precondition(encoding == .ulaw || encoding == .alaw || encoding == .pcm16,
                     "SoundFileWriter: encoded bytes need a G.711 or pcm16 encoding")
        let bytesPerFrame = (encoding == .pcm16 ? 2 : 1) * channels
        try check(sf_write_raw(handle, bytes.baseAddress, sf_count_t(bytes.count)), expected: bytes.count,
                  unit: bytes.count / bytesPerFrame)
    }

    private func check(_ written: sf_count_t, expected: Int, unit frames: Int) throws(SoundFileError) {
        guard handle != nil else { preconditionFailure("SoundFileWriter: write after commit or discard") }
        guard written == expected else {
            let code = sf_error(handle)
            let failure = code != 0
                ? SoundFileError(.write, path: path, handle: handle)
                : SoundFileError(.write, path: path, code: 0, message: "short write (disk full or file size limit?)",
                                 kind: .system)
            discard()
            throw failure
        }
        framesWritten += Int64(frames)
    }

    /// Finishes the header and renames the temporary file onto the target.
    ///
    /// - Throws: ``SoundFileError`` (operation `.close` or `.rename`); the temporary file is removed and the
    ///   target left as it was.
    public func commit() throws(SoundFileError) {
        guard let handle else { preconditionFailure("SoundFileWriter: commit after commit or discard") }
        self.handle = nil
        let rc = sf_close(handle)
        guard rc == 0 else {
            unlink(temporaryPath)
            throw SoundFileError(.close, path: path, code: rc)
        }
        guard rename(temporaryPath, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw SoundFileError(.rename, path: path, code: 0, message: message, kind: .system)
        }
    }

    /// Drops what was written: closes and removes the temporary file. Safe to call more than once.
    public func discard() {
        guard let handle else { return }
        self.handle = nil
        sf_close(handle)
        unlink(temporaryPath)
    }

    /// Removes the temporary files of earlier writers to the same target whose process is gone (killed with
    /// SIGKILL, or by a power cut: nothing could clean up then). Files of live processes are left alone.
    public static func removeStaleTemporaries(for path: String) {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let prefix = ".\(name)."
        guard let dir = opendir(folder.isEmpty ? "." : folder) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard entryName.hasPrefix(prefix), entryName.hasSuffix(".partial") else { continue }
            let middle = entryName.dropFirst(prefix.count).dropLast(".partial".count)
            guard let dash = middle.firstIndex(of: "-"), let pid = Int32(middle[..<dash]), pid > 0 else { continue }
            if kill(pid, 0) == -1, errno == ESRCH { unlink(folder + entryName) }
        }
    }

    /// A hidden name beside the target, unique per process and writer (`.name.PID-TAG.partial`): what
    /// ``removeStaleTemporaries(for:)`` recognizes. Other atomic writers of the CLI use it too.
    public static func temporaryName(for path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let tag = UInt32.random(in: 0...UInt32.max)
        return "\(folder).\(name).\(getpid())-\(String(tag, radix: 36)).partial"
    }
}
