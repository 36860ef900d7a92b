import ArgumentParser
import Foundation
import Synchronization

/// A user error: printed as one line on stderr, exit code 1.
struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
    init(_ error: some Error) { description = "\(error)" }
}

enum Console {
    static let standardErrorIsTerminal = isatty(STDERR_FILENO) == 1

    static func warn(_ message: String) {
        FileHandle.standardError.write(Data("rtaudio: warning: \(message)\n".utf8))
    }

    /// Runs a command body, turning any error into one line on stderr and exit code 1.
    static func run(_ body: () throws -> Void) throws {
        // Past a file-size limit (`ulimit -f`) the kernel would kill us with SIGXFSZ mid-write; ignored, the write
        // fails with EFBIG instead and the output is discarded with one clear line.
        signal(SIGXFSZ, SIG_IGN)
        do {
            try body()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("rtaudio: error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// Writes a transient status line on stderr when it is a terminal.
    static func progress(_ text: String) {
        guard standardErrorIsTerminal else { return }
        FileHandle.standardError.write(Data("\r\(text)\u{1B}[K".utf8))
    }

    static func clearProgress() {
        guard standardErrorIsTerminal else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// SIGINT / SIGTERM set a flag that long loops poll, so they can remove their partial output before exiting.
enum Interruption {
    private static let flag = Atomic<Int32>(0)

    static func install() {
        let handler: @convention(c) (Int32) -> Void = { signal in Interruption.flag.store(signal, ordering: .relaxed) }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        // A parent may start us with these blocked (the mask is inherited); unblock them so they arrive.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// The signal received, or nil.
    static var received: Int32? {
        let value = flag.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }
}
