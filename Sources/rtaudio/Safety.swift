import Foundation
import SoundFile
import RealtimeAudio

// The guards every command shares: numbers from the command line checked before any conversion, outputs that
// would destroy an input (or a file the user could not write) refused, and documents read with a size limit.

/// Numeric options: finite and in range, checked before any conversion to `Int` (a `Double` past `Int`'s range
/// traps on conversion).
enum Numbers {
    /// `value`, when finite and in `range`; else a user error naming the option.
    static func check(_ value: Double, _ name: String, in range: ClosedRange<Double>) throws -> Double {
        guard value.isFinite, range.contains(value) else {
            throw UserError("\(name) \(format(value)) is out of range (\(format(range.lowerBound))...\(format(range.upperBound)))")
        }
        return value
    }

    /// `value`, when in `range`; else a user error naming the option.
    static func check(_ value: Int, _ name: String, in range: ClosedRange<Int>) throws -> Int {
        guard range.contains(value) else { throw UserError("\(name) \(value) is out of range (\(range.lowerBound)...\(range.upperBound))") }
        return value
    }

    /// A whole number given as text that may be written as a float (`1e3`): finite, integral, in range.
    static func integer(_ value: Double, _ name: String, in range: ClosedRange<Int>) throws -> Int {
        guard value.isFinite, value.rounded() == value, value >= Double(range.lowerBound), value <= Double(range.upperBound) else {
            throw UserError("\(name) \(format(value)) is out of range (a whole number in \(range.lowerBound)...\(range.upperBound))")
        }
        return Int(value)
    }

    private static func format(_ value: Double) -> String {
        value.isFinite ? JSONLine.number(value) : "\(value)"
    }
}

/// A file's identity (device and inode), whatever path names it: `./a.wav`, `a.wav` and a symlink to it are one.
struct FileIdentity: Equatable {
    let device: UInt64
    let inode: UInt64
    let isRegular: Bool

    /// The identity of what `path` names (symlinks followed), or nil when nothing is there.
    init?(_ path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        isRegular = (st.st_mode & S_IFMT) == S_IFREG
    }

    static func == (a: FileIdentity, b: FileIdentity) -> Bool { a.device == b.device && a.inode == b.inode }
}

enum Outputs {
    /// Refuses an output that would destroy something: one of the command's inputs (the same file by any path), a
    /// target that is not a regular file, or one the user could not write (unless `force`, as `cp -f`).
    ///
    /// Why before any work: the output is written to a temporary file and renamed over the target, and a rename
    /// replaces whatever is there, the input being read or a read-only file included.
    static func check(_ output: String, inputs: [(option: String, path: String)], force: Bool = false) throws {
        if let target = FileIdentity(output) {
            for input in inputs where input.path != "-" {
                if let source = FileIdentity(input.path), source == target {
                    throw UserError("'\(output)' is the same file as the \(input.option) '\(input.path)': refusing to overwrite an input")
                }
            }
            guard target.isRegular else {
                throw UserError("'\(output)' exists and is not a regular file: refusing to replace it")
            }
            if !force, access(output, W_OK) != 0 {
                throw UserError("'\(output)' is not writable by you: refusing to replace it (use --force to replace it anyway)")
            }
        } else if isTaken(output) {
            // A dangling symlink: the rename would replace the link, not create its target.
            throw UserError("'\(output)' is a broken symbolic link: refusing to replace it")
        }
        let folder = (output as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        if !folder.isEmpty, !FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) || !isDirectory.boolValue {
            throw UserError("cannot write '\(output)': the folder '\(folder)' does not exist (No such file or directory)")
        }
    }

    /// Whether anything is at `path`, a dangling symbolic link included (a rename would replace it).
    static func isTaken(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Writes `text` to `path` atomically (a temporary file beside it, renamed when complete), with one readable
    /// line for a failure.
    static func writeText(_ text: String, to path: String) throws {
        // The sound writers' naming, so a killed run's leftover is cleaned by the next one as theirs are.
        let temporary = SoundFileWriter.temporaryName(for: path)
        SoundFileWriter.removeStaleTemporaries(for: path)
        let data = Array(text.utf8)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw UserError("cannot write '\(path)': \(String(cString: strerror(errno)))") }
        var written = 0
        while written < data.count {
            let n = data.withUnsafeBytes { write(fd, $0.baseAddress! + written, data.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                throw UserError("cannot write '\(path)': \(reason)")
            }
            written += n
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw UserError("cannot write '\(path)': \(reason)")
        }
    }
}

enum Documents {
    /// The largest JSON document read: the Realtime API's own limit on a client event (15 MiB).
    static let limit = 15 * 1024 * 1024

    /// The bytes of a document file, or standard input for "-", read up to ``limit`` (a stream that goes on,
    /// such as `/dev/zero`, is cut off there with an error, never read into memory whole).
    static func read(_ path: String) throws -> [UInt8] {
        let fd: Int32
        if path == "-" {
            fd = STDIN_FILENO
        } else {
            fd = open(path, O_RDONLY)
            guard fd >= 0 else { throw UserError("cannot read '\(path)': \(String(cString: strerror(errno)))") }
            var st = stat()
            if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
                close(fd)
                throw UserError("cannot read '\(path)': it is a directory")
            }
        }
        defer { if fd != STDIN_FILENO { close(fd) } }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw UserError("cannot read '\(path == "-" ? "standard input" : path)': \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += chunk[..<n]
            if bytes.count > limit {
                throw UserError("'\(path == "-" ? "standard input" : path)' is larger than \(limit / 1024 / 1024) MiB, the largest document this reads (the Realtime API's event limit)")
            }
        }
        return bytes
    }
}
