import ArgumentParser
import Foundation

@main
struct RTAudio: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rtaudio",
        abstract: "Convert, inspect, record, play and detect turns in audio in the Realtime API's wire formats (pcm16, g711_ulaw, g711_alaw).",
        subcommands: [Convert.self, Info.self, Vad.self, Devices.self, Record.self, Play.self, Listen.self, SessionCommand.self, StreamCommand.self, Soak.self]
    )

    /// Parses and runs a command. A usage error (unknown option, missing or malformed value) is one line on stderr
    /// and exit code 1, like every other user error: ArgumentParser's own report (message, usage, exit 64) is kept
    /// for `--help` and `--version` only.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }   // --help, --version
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            FileHandle.standardError.write(Data("rtaudio: error: \(message) (see --help)\n".utf8))
            Foundation.exit(1)
        }
    }
}
