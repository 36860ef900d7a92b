import Foundation
import RealtimeAudio
import SoundFile
import Testing

/// A scratch folder with an ALSA configuration file over alsa-lib's `file` PCM: `testcap` captures from
/// `capture.raw` and `testplay` writes `playback.raw`, both S16_LE mono at 16 kHz behind `plug`. The binary gets
/// it through `ALSA_CONFIG_PATH`.
final class FileDevices {
    let scratch: Scratch
    let rate = 16000

    init() throws {
        scratch = try Scratch()
        let config = """
            pcm.rawcap { type file; slave.pcm { type null }; file "/dev/null"; infile "\(scratch.file("capture.raw"))"; format "raw" }
            pcm.rawplay { type file; slave.pcm { type null }; file "\(scratch.file("playback.raw"))"; format "raw" }
            pcm.testcap { type plug; slave { pcm "rawcap"; format S16_LE; rate \(rate); channels 1 }; hint { show on; description "test capture" } }
            pcm.testplay { type plug; slave { pcm "rawplay"; format S16_LE; rate \(rate); channels 1 }; hint { show on; description "test playback" } }
            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: scratch.file("test.asoundrc")))
    }

    var environment: [String: String] { ["ALSA_CONFIG_PATH": scratch.file("test.asoundrc")] }

    /// Writes the capture source and returns the samples as the device delivers them (Int16 / 32768).
    @discardableResult
    func capture(_ samples: [Float]) throws -> [Float] {
        let ints = PCM16.toInt16(samples)
        try Data(PCM16.encode(ints)).write(to: URL(fileURLWithPath: scratch.file("capture.raw")))
        return ints.map { Float($0) / 32768 }
    }

    func played() throws -> [Int16] {
        let data = try Data(contentsOf: URL(fileURLWithPath: scratch.file("playback.raw")))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
    }

    func run(_ arguments: String...) throws -> CLI.Result {
        try CLI.run(arguments.map { $0.replacingOccurrences(of: "{dir}", with: scratch.path) }, environment: environment)
    }
}

/// Speech-like turns: 0.5 s of silence, 1.2 s of voice, 0.9 s of silence, 0.8 s of voice, 1 s of silence.
func turnsSignal(rate: Int) -> [Float] {
    let quiet = { (s: Double) in [Float](repeating: 0, count: Int(s * Double(rate))) }
    return quiet(0.5) + voiceLike(seconds: 1.2, rate: rate, amplitude: 0.3) + quiet(0.9)
        + voiceLike(seconds: 0.8, rate: rate, amplitude: 0.3) + quiet(1.0)
}

@Suite("rtaudio record, play, listen and devices through ALSA's file PCM")
struct LiveTests {
    @Test("record captures the device's audio exactly, and resamples when the device runs at another rate")
    func record() throws {
        let devices = try FileDevices()
        let heard = try devices.capture(voiceLike(seconds: 1.3, rate: 16000))
        let same = try devices.run("record", "{dir}/same.wav", "--device", "testcap", "--rate", "16000", "--format", "float")
        #expect(same.status == 0, "\(same.stderr)")
        #expect(try readSamples(devices.scratch.file("same.wav")).samples == heard)

        let up = try devices.run("record", "{dir}/up.wav", "--device", "testcap", "--rate", "24000", "--format", "float")
        #expect(up.status == 0, "\(up.stderr)")
        let (info, samples) = try readSamples(devices.scratch.file("up.wav"))
        #expect(info.sampleRate == 24000)
        var resampler = try Resampler(from: .hz16000, to: .hz24000)
        #expect(samples == resampler.convert(heard))

        let short = try devices.run("record", "{dir}/short.ulaw", "--device", "testcap", "--rate", "8000", "--duration", "0.5")
        #expect(short.status == 0, "\(short.stderr)")
        #expect(try bytes(devices.scratch.file("short.ulaw")).count == 4000)
    }

    @Test("play writes exactly the decoded, speed-scaled and resampled audio to the device")
    func play() throws {
        let devices = try FileDevices()
        let input = voiceLike(seconds: 1.1, rate: 24000)
        try writeWAV(devices.scratch.file("reply.wav"), input, rate: 24000)
        let plain = try devices.run("play", "{dir}/reply.wav", "--device", "testplay")
        #expect(plain.status == 0, "\(plain.stderr)")
        var resampler = try Resampler(from: .hz24000, to: .hz16000)
        #expect(try devices.played() == PCM16.toInt16(resampler.convert(input)))

        try FileManager.default.removeItem(atPath: devices.scratch.file("playback.raw"))
        let fast = try devices.run("play", "{dir}/reply.wav", "--device", "testplay", "--speed", "1.25")
        #expect(fast.status == 0, "\(fast.stderr)")
        var scaler = try SpeedScaler(sampleRate: .hz24000, speed: 1.25)
        var again = try Resampler(from: .hz24000, to: .hz16000)
        #expect(try devices.played() == PCM16.toInt16(again.convert(scaler.stretch(input))))
    }

    @Test("listen prints the same events as vad on the same audio, and saves each turn")
    func listen() throws {
        let devices = try FileDevices()
        let heard = try devices.capture(turnsSignal(rate: 16000))
        try writeWAV(devices.scratch.file("same.wav"), heard, rate: 16000)
        let offline = try CLI.run("vad", devices.scratch.file("same.wav"))
        try FileManager.default.createDirectory(atPath: devices.scratch.file("turns"), withIntermediateDirectories: true)
        let live = try devices.run("listen", "--device", "testcap", "--save-turns", "{dir}/turns")
        #expect(live.status == 0, "\(live.stderr)")
        #expect(live.stdout == offline.stdout)
        let starts = live.stdout.split(separator: "\n").filter { $0.contains("speech_started") }
        #expect(starts.count == 2)
        let turns = (try FileManager.default.contentsOfDirectory(atPath: devices.scratch.file("turns"))).sorted()
        #expect(turns == ["turn-001.wav", "turn-002.wav"])
        // A saved turn is the audio from audio_start_ms to audio_end_ms.
        let numbers = live.stdout.split(separator: "\n").prefix(2).map { line in
            Int(line.split(separator: ":")[2].split(separator: ",")[0])!
        }
        let first = try readSamples(devices.scratch.file("turns/turn-001.wav"))
        #expect(first.samples.count == (numbers[1] - numbers[0]) * 16)
        let startSample = numbers[0] * 16
        #expect(zip(first.samples, heard[startSample...]).allSatisfy { abs($0 - $1) <= 1.0 / 32768 })
        // A second run into the same folder keeps the first run's turns and numbers on.
        let before = try Data(contentsOf: URL(fileURLWithPath: devices.scratch.file("turns/turn-001.wav")))
        let second = try devices.run("listen", "--device", "testcap", "--save-turns", "{dir}/turns")
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: devices.scratch.file("turns")).sorted()
                == ["turn-001.wav", "turn-002.wav", "turn-003.wav", "turn-004.wav"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: devices.scratch.file("turns/turn-001.wav"))) == before)
    }

    @Test("listen paced in real time reports its event latency")
    func listenLatency() throws {
        let devices = try FileDevices()
        try devices.capture(turnsSignal(rate: 16000))
        let result = try devices.run("listen", "--device", "testcap", "--realtime", "--stats")
        #expect(result.status == 0, "\(result.stderr)")
        let stats = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(stats.hasPrefix("{\"type\":\"stats\",\"events\":4,"), "\(stats)")
    }

    @Test("SIGINT during record leaves a valid file with the audio captured so far")
    func interruptedRecord() throws {
        let devices = try FileDevices()
        let heard = try devices.capture(voiceLike(seconds: 4, rate: 16000))
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["record", devices.scratch.file("take.wav"), "--device", "testcap", "--rate", "16000",
                             "--format", "float", "--realtime"]
        process.environment = ProcessInfo.processInfo.environment.merging(devices.environment) { $1 }
        try process.run()
        usleep(600_000)
        process.interrupt()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let (info, samples) = try readSamples(devices.scratch.file("take.wav"))
        #expect(info.sampleRate == 16000)
        #expect(samples.count > 16000 / 4 && samples.count < heard.count, "\(samples.count) samples")
        #expect(samples == Array(heard[..<samples.count]))
        #expect(!devices.scratch.contents.contains { $0.hasSuffix(".partial") })
    }

    @Test("devices lists the configured PCMs, as a table and as JSON lines, without a sound card")
    func listDevices() throws {
        let devices = try FileDevices()
        let table = try devices.run("devices")
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.split(separator: "\n").sorted() == ["testcap\tInput/Output\ttest capture", "testplay\tInput/Output\ttest playback"])
        let json = try devices.run("devices", "--json")
        #expect(json.status == 0, "\(json.stderr)")
        let lines = json.stdout.split(separator: "\n").map(String.init).sorted()
        #expect(lines == [#"{"name":"testcap","direction":"Input/Output","description":"test capture"}"#,
                          #"{"name":"testplay","direction":"Input/Output","description":"test playback"}"#])
    }

    @Test("bad input: one error line, exit 1, and no output file", arguments: [
        (["record", "{dir}/o.wav", "--device", "nosuch"], "open capture device 'nosuch'"),
        (["play", "{dir}/in.wav", "--device", "nosuch"], "open playback device 'nosuch'"),
        (["listen", "--device", "nosuch"], "open capture device 'nosuch'"),
        (["record", "{dir}/no/such/dir/o.wav", "--device", "testcap"], "No such file or directory"),
        (["record", "{dir}/o.flac", "--device", "testcap", "--format", "float"], "FLAC output is 16-bit"),
        (["record", "{dir}/o.wav", "--device", "testcap", "--duration=-1"], "--duration -1 is out of range"),
        (["play", "{dir}/in.wav", "--device", "testplay", "--speed", "3"], "speed 3.0 is out of range"),
        (["play", "{dir}/missing.wav", "--device", "testplay"], "No such file or directory"),
        (["listen", "--device", "testcap", "--threshold", "2"], "VAD threshold 2.0 is outside 0...1"),
        (["listen", "--device", "testcap", "--save-turns", "{dir}/nowhere"], "is not an existing folder"),
    ])
    func badInput(arguments: [String], message: String) throws {
        let devices = try FileDevices()
        try devices.capture(voiceLike(seconds: 0.2, rate: 16000))
        try writeWAV(devices.scratch.file("in.wav"), voiceLike(seconds: 0.2, rate: 16000), rate: 16000)
        let before = devices.scratch.contents
        let result = try CLI.run(arguments.map { $0.replacingOccurrences(of: "{dir}", with: devices.scratch.path) },
                                 environment: devices.environment)
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("rtaudio: error: "), "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stderr.filter { $0 == "\n" }.count == 1)
        #expect(devices.scratch.contents == before)
    }
}
