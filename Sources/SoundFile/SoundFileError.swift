import CSndFile

/// A failure of libsndfile or of the file system under it, with libsndfile's own message.
///
/// `code` is libsndfile's error number (`sf_error`), 0 when the failure was found by this wrapper (a truncated
/// file, a short write). `description` is one line naming the operation, the file and the cause.
public struct SoundFileError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What was being done.
    public enum Operation: String, Sendable {
        /// `sf_open`, or checking what it opened.
        case open
        /// `sf_readf_float`.
        case read
        /// `sf_writef_short`, `sf_writef_float` or `sf_write_raw`.
        case write
        /// `sf_close`, which finishes a written file's header.
        case close
        /// `rename(2)` of a finished temporary file onto its target.
        case rename
    }

    /// The broad cause, from libsndfile's public error codes.
    public enum Kind: Sendable, Equatable {
        /// `SF_ERR_UNRECOGNISED_FORMAT`: not an audio file libsndfile knows.
        case unrecognisedFormat
        /// `SF_ERR_SYSTEM`: the operating system refused (missing file or folder, permissions, full disk).
        case system
        /// `SF_ERR_MALFORMED_FILE`: a known format with a broken header.
        case malformedFile
        /// `SF_ERR_UNSUPPORTED_ENCODING`: a known container with an encoding libsndfile cannot read or write.
        case unsupportedEncoding
        /// The file ends before the length its header declares.
        case truncated
        /// Any other libsndfile error (its message says which).
        case other
    }

    /// What was being done.
    public let operation: Operation
    /// The file the operation was on.
    public let path: String
    /// libsndfile's error number, or 0 when the wrapper found the problem itself.
    public let code: Int32
    /// libsndfile's message (`sf_error_number`), or the wrapper's.
    public let message: String
    /// The broad cause.
    public let kind: Kind

    init(_ operation: Operation, path: String, code: Int32, message: String? = nil, kind: Kind? = nil) {
        self.operation = operation
        self.path = path
        self.code = code
        self.message = message ?? String(cString: sf_error_number(code))
        self.kind = kind ?? Self.kind(of: code)
    }

    /// The error libsndfile holds for `handle` (or for the last failed `sf_open` when `handle` is nil).
    init(_ operation: Operation, path: String, handle: OpaquePointer?) {
        let code = sf_error(handle)
        self.init(operation, path: path, code: code, message: String(cString: sf_strerror(handle)))
    }

    private static func kind(of code: Int32) -> Kind {
        switch code {
        case Int32(SF_ERR_UNRECOGNISED_FORMAT): .unrecognisedFormat
        case Int32(SF_ERR_SYSTEM): .system
        case Int32(SF_ERR_MALFORMED_FILE): .malformedFile
        case Int32(SF_ERR_UNSUPPORTED_ENCODING): .unsupportedEncoding
        default: .other
        }
    }

    /// One line: `cannot <operation> '<path>': <message>`.
    public var description: String { "cannot \(operation.rawValue) '\(path)': \(message)" }
}
