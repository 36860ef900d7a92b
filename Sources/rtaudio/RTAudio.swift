import ArgumentParser

@main
struct RTAudio: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rtaudio",
        abstract: "Convert, inspect, record, play and detect turns in audio in the Realtime API's wire formats (pcm16, g711_ulaw, g711_alaw).",
        subcommands: [Convert.self, Info.self, Vad.self, Devices.self, Record.self, Play.self, Listen.self, SessionCommand.self, Soak.self]
    )
}
