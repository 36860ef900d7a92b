import Foundation
import RealtimeAudio
import SoundFile
import Testing

/// Runs the built `rtaudio` binary.
struct CLI {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static let binary: URL = {
        // The test runner sits in the build products folder, beside the executable it depends on.
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = runner.deletingLastPathComponent()
        while folder.path != "/" {
            let candidate = folder.appendingPathComponent("rtaudio")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/rtaudio")
    }()

    static func run(_ arguments: String...) throws -> Result { try run(arguments) }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }
}

final class Scratch {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "rtaudio-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted() ?? [] }
}

/// A speech-like test signal: a 140 Hz harmonic series with a slow amplitude envelope and a little noise.
func voiceLike(seconds: Double, rate: Int, amplitude: Float = 0.5) -> [Float] {
    let n = Int(seconds * Double(rate))
    var seed: UInt32 = 12345
    return (0..<n).map { i in
        let t = Double(i) / Double(rate)
        var x = 0.0
        for h in 1...12 { x += sin(2 * .pi * 140 * Double(h) * t) / Double(h) }
        seed = seed &* 1_103_515_245 &+ 12345
        let noise = Double(Int32(bitPattern: seed) >> 8) / Double(1 << 23) * 0.01
        let envelope = 0.6 + 0.4 * sin(2 * .pi * 3 * t)
        return Float(x * 0.35 * envelope + noise) * amplitude
    }
}

func writeWAV(_ path: String, _ samples: [Float], rate: Int, channels: Int = 1, encoding: SampleEncoding = .float32) throws {
    let writer = try SoundFileWriter(path: path, container: .wav, encoding: .float32, sampleRate: rate, channels: channels)
    try samples.withUnsafeBufferPointer { try writer.write($0) }
    try writer.commit()
}

func readSamples(_ path: String, raw: RawLayout? = nil) throws -> (info: SoundFileInfo, samples: [Float]) {
    let reader = try raw.map { try SoundFileReader(path: path, raw: $0) } ?? SoundFileReader(path: path)
    var all: [Float] = []
    var buffer = [Float](repeating: 0, count: 4096 * reader.info.channels)
    while true {
        let n = try buffer.withUnsafeMutableBufferPointer { try reader.read(into: $0) }
        if n == 0 { break }
        all += buffer[..<(n * reader.info.channels)]
    }
    return (reader.info, all)
}

func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

@Suite("rtaudio convert and info, end to end")
struct RTAudioTests {
    @Test("convert to µ-law and A-law WAV: every code is our G.191 encoding of the input", arguments: [
        ("g711_ulaw", G711.muLaw), ("g711_alaw", G711.aLaw),
    ])
    func convertG711(format: String, codec: G711) throws {
        let scratch = try Scratch()
        let input = voiceLike(seconds: 2.5, rate: 8000)
        try writeWAV(scratch.file("in.wav"), input, rate: 8000)
        let result = try CLI.run("convert", scratch.file("in.wav"), scratch.file("out.wav"), "--format", format)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty)
        let file = try bytes(scratch.file("out.wav"))
        #expect(Array(file.suffix(input.count)) == codec.encode(input))
        let (info, _) = try readSamples(scratch.file("out.wav"))
        #expect(info.sampleRate == 8000 && info.frames == Int64(input.count))
        #expect(scratch.contents == ["in.wav", "out.wav"])
    }

    @Test("headerless .ulaw/.alaw/.raw outputs hold exactly the codec's bytes")
    func headerlessOutputs() throws {
        let scratch = try Scratch()
        let input = voiceLike(seconds: 1, rate: 8000)
        try writeWAV(scratch.file("in.wav"), input, rate: 8000)
        #expect(try CLI.run("convert", scratch.file("in.wav"), scratch.file("o.ulaw")).status == 0)
        #expect(try bytes(scratch.file("o.ulaw")) == G711.muLaw.encode(input))
        #expect(try CLI.run("convert", scratch.file("in.wav"), scratch.file("o.alaw")).status == 0)
        #expect(try bytes(scratch.file("o.alaw")) == G711.aLaw.encode(input))
        #expect(try CLI.run("convert", scratch.file("in.wav"), scratch.file("o.raw"), "--format", "pcm16").status == 0)
        #expect(try bytes(scratch.file("o.raw")) == PCM16.encode(input))
        #expect(try CLI.run("convert", scratch.file("in.wav"), scratch.file("f.raw"), "--format", "float").status == 0)
        #expect(try bytes(scratch.file("f.raw")).count == input.count * 4)
    }

    @Test("a headerless input is read by its extension or --input-format/--input-rate")
    func headerlessInputs() throws {
        let scratch = try Scratch()
        let input = voiceLike(seconds: 1, rate: 16000)
        try Data(G711.aLaw.encode(input)).write(to: URL(fileURLWithPath: scratch.file("in.alaw")))
        let r1 = try CLI.run("convert", scratch.file("in.alaw"), scratch.file("a.wav"), "--input-rate", "16000")
        #expect(r1.status == 0, "\(r1.stderr)")
        let (info, samples) = try readSamples(scratch.file("a.wav"))
        #expect(info.sampleRate == 16000)
        #expect(samples == G711.aLaw.decodeFloat(G711.aLaw.encode(input)))

        try Data(PCM16.encode(input)).write(to: URL(fileURLWithPath: scratch.file("in.bin")))
        let r2 = try CLI.run("convert", scratch.file("in.bin"), scratch.file("b.wav"), "--input-format", "pcm16")
        #expect(r2.status == 0, "\(r2.stderr)")
        let (info2, samples2) = try readSamples(scratch.file("b.wav"))
        #expect(info2.sampleRate == 24000)              // pcm16's default rate
        #expect(samples2 == PCM16.toFloat(PCM16.toInt16(input)))
    }

    @Test("stereo input is mixed down to mono; FLAC output is 16-bit and lossless")
    func stereoToFlac() throws {
        let scratch = try Scratch()
        let left = voiceLike(seconds: 1, rate: 24000, amplitude: 0.6)
        let right = left.map { -$0 * 0.5 }
        var interleaved: [Float] = []
        for i in left.indices { interleaved += [left[i], right[i]] }
        try writeWAV(scratch.file("st.wav"), interleaved, rate: 24000, channels: 2)
        let result = try CLI.run("convert", scratch.file("st.wav"), scratch.file("m.flac"))
        #expect(result.status == 0, "\(result.stderr)")
        let (info, samples) = try readSamples(scratch.file("m.flac"))
        #expect(info.channels == 1 && info.sampleRate == 24000)
        let expected = PCM16.toFloat(PCM16.toInt16(left.indices.map { (left[$0] + right[$0]) * 0.5 }))
        #expect(samples == expected)
    }

    @Test("--rate resamples: exact length, the same samples as the library, and telephony needs no warning")
    func rateConversion() throws {
        let scratch = try Scratch()
        let input = voiceLike(seconds: 1.37, rate: 24000)
        try writeWAV(scratch.file("model.wav"), input, rate: 24000)
        let r = try CLI.run("convert", scratch.file("model.wav"), scratch.file("call.wav"), "--rate", "8000",
                            "--format", "g711_ulaw")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty)
        var resampler = try Resampler(from: .hz24000, to: .hz8000)
        let expected = G711.muLaw.encode(resampler.convert(input))
        #expect(expected.count == Int((Double(input.count) / 3).rounded()))
        #expect(Array(try bytes(scratch.file("call.wav")).suffix(expected.count)) == expected)

        let h = try CLI.run("convert", scratch.file("model.wav"), scratch.file("up.wav"), "--rate", "44100",
                            "--quality", "high", "--format", "float")
        #expect(h.status == 0, "\(h.stderr)")
        let (info, samples) = try readSamples(scratch.file("up.wav"))
        #expect(info.sampleRate == 44100)
        var high = try Resampler(from: .hz24000, to: .hz44100, quality: .high)
        #expect(samples == high.convert(input))
    }

    @Test("--speed stretches at the input rate before --rate: the library's samples, exact length")
    func speedConversion() throws {
        let scratch = try Scratch()
        let input = voiceLike(seconds: 1.21, rate: 24000)
        try writeWAV(scratch.file("reply.wav"), input, rate: 24000)
        let r = try CLI.run("convert", scratch.file("reply.wav"), scratch.file("slow.wav"), "--speed", "0.8", "--format", "float")
        #expect(r.status == 0, "\(r.stderr)")
        var scaler = try SpeedScaler(sampleRate: .hz24000, speed: 0.8)
        let expected = scaler.stretch(input)
        #expect(expected.count == Int((Double(input.count) / 0.8).rounded()))
        #expect(try readSamples(scratch.file("slow.wav")).1 == expected)

        let t = try CLI.run("convert", scratch.file("reply.wav"), scratch.file("fast8k.wav"), "--speed", "1.5", "--rate", "8000",
                            "--format", "float")
        #expect(t.status == 0, "\(t.stderr)")
        var fast = try SpeedScaler(sampleRate: .hz24000, speed: 1.5)
        var resampler = try Resampler(from: .hz24000, to: .hz8000)
        #expect(try readSamples(scratch.file("fast8k.wav")).1 == resampler.convert(fast.stretch(input)))
    }

    @Test("G.711 at a rate other than 8000 Hz is written, with one warning line")
    func g711RateWarning() throws {
        let scratch = try Scratch()
        try writeWAV(scratch.file("in.wav"), voiceLike(seconds: 0.5, rate: 24000), rate: 24000)
        let result = try CLI.run("convert", scratch.file("in.wav"), scratch.file("o.wav"), "--format", "g711_ulaw")
        #expect(result.status == 0)
        #expect(result.stderr == "rtaudio: warning: writing g711_ulaw at 24000 Hz; G.711 is 8000 Hz on the wire\n")
    }

    @Test("vad prints the Realtime API's events as JSON lines and draws a timeline")
    func vad() throws {
        let scratch = try Scratch()
        let rate = 16000
        let quiet = [Float](repeating: 0, count: rate)
        let speech = voiceLike(seconds: 1.5, rate: rate, amplitude: 0.3)
        try writeWAV(scratch.file("turn.wav"), quiet + speech + quiet + quiet, rate: rate)
        let result = try CLI.run("vad", scratch.file("turn.wav"), "--plot", scratch.file("t.svg"))
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        let events = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
        #expect(events.first?["type"] as? String == "input_audio_buffer.speech_started")
        #expect(abs((events.first?["audio_start_ms"] as? Int ?? 0) - 700) <= 20)
        #expect(events.last?["type"] as? String == "input_audio_buffer.speech_stopped")
        #expect(abs((events.last?["audio_end_ms"] as? Int ?? 0) - 3000) <= 20)
        let svg = try String(contentsOfFile: scratch.file("t.svg"), encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("time (s)") && svg.contains("noise floor"))
        // Quieter settings: no prefix and a long silence move the times as the API defines them.
        let tuned = try CLI.run("vad", scratch.file("turn.wav"), "--prefix-padding-ms", "0", "--silence-duration-ms", "1000")
        #expect(tuned.stdout.contains("\"audio_start_ms\":10") || tuned.stdout.contains("\"audio_start_ms\":9"))
        #expect(tuned.stdout.contains("\"audio_end_ms\":35"))
    }

    @Test("info prints format, rate, channels, duration and levels")
    func info() throws {
        let scratch = try Scratch()
        // A 1 kHz sine at -6 dBFS whose samples hit the peak: peak -6.02, RMS -9.03.
        let sine = (0..<16000).map { Float(0.5 * sin(2 * .pi * 1000 * Double($0) / 16000)) }
        try writeWAV(scratch.file("s.wav"), sine, rate: 16000)
        let json = try CLI.run("info", scratch.file("s.wav"), "--json")
        #expect(json.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["sample_rate"] as? Int == 16000)
        #expect(object?["channels"] as? Int == 1)
        #expect(object?["frames"] as? Int == 16000)
        #expect(object?["duration_s"] as? Double == 1.0)
        #expect(abs((object?["peak_dbfs"] as? Double ?? 0) - -6.02) < 0.02)
        #expect(abs((object?["rms_dbfs"] as? Double ?? 0) - -9.03) < 0.02)
        #expect(object?["encoding"] as? String == "32 bit float")
        let text = try CLI.run("info", scratch.file("s.wav"))
        #expect(text.stdout.contains("sample rate: 16000 Hz"))
        #expect(text.stdout.contains("duration:    1.000 s"))
    }

    @Test("bad input: one error line, exit 1, and no output file", arguments: [
        (["convert", "{dir}/missing.wav", "{dir}/o.wav"], "No such file or directory"),
        (["convert", "{dir}/text.wav", "{dir}/o.wav"], "Format not recognised"),
        (["convert", "{dir}/cut.wav", "{dir}/o.wav"], "truncated"),
        (["convert", "{dir}/good.wav", "{dir}/no/such/dir/o.wav"], "No such file or directory"),
        (["convert", "{dir}/good.wav", "{dir}/o.wav", "--format", "opus"], "unknown format 'opus' (valid: pcm16, g711_ulaw, g711_alaw, float)"),
        (["convert", "{dir}/good.wav", "{dir}/o.mp4"], "cannot tell the container"),
        (["convert", "{dir}/good.wav", "{dir}/o.ulaw", "--format", "pcm16"], "by its extension"),
        (["convert", "{dir}/good.wav", "{dir}/o.flac", "--format", "g711_alaw"], "FLAC output is 16-bit"),
        (["convert", "{dir}/odd.raw", "{dir}/o.wav", "--input-rate", "0"], "out of range"),
        (["convert", "{dir}/good.wav", "{dir}/o.wav", "--input-rate", "8000"], "headerless inputs only"),
        (["convert", "{dir}/good.wav", "{dir}/o.wav", "--rate", "0"], "out of range"),
        (["convert", "{dir}/good.wav", "{dir}/o.wav", "--rate", "99999999"], "out of range"),
        (["convert", "{dir}/good.wav", "{dir}/o.wav", "--rate", "16000", "--quality", "best"], "unknown resampler quality 'best' (valid: fast, voice, high)"),
        (["convert", "{dir}/good.wav", "{dir}/o.wav", "--speed", "2"], "--speed 2 is out of range (0.25...1.5)"),
        (["convert", "{dir}/good.wav", "{dir}/o.wav", "--speed", "nan"], "out of range"),
        (["info", "{dir}/text.wav"], "Format not recognised"),
        (["vad", "{dir}/good.wav", "--threshold", "1.5"], "VAD threshold 1.5 is outside 0...1"),
        (["vad", "{dir}/good.wav", "--silence-duration-ms=-1"], "silence_duration_ms -1 is outside"),
        (["vad", "{dir}/cut.wav"], "truncated"),
        (["vad", "{dir}/good.wav", "--plot", "{dir}/no/such/dir/t.svg"], "does not exist"),
        (["info", "{dir}/cut.wav"], "truncated"),
    ])
    func badInput(arguments: [String], message: String) throws {
        let scratch = try Scratch()
        try Data("definitely not a sound file, only text".utf8).write(to: URL(fileURLWithPath: scratch.file("text.wav")))
        try writeWAV(scratch.file("good.wav"), voiceLike(seconds: 0.5, rate: 8000), rate: 8000)
        let good = try bytes(scratch.file("good.wav"))
        try Data(good.prefix(good.count - 999)).write(to: URL(fileURLWithPath: scratch.file("cut.wav")))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: scratch.file("odd.raw")))
        let before = scratch.contents
        let result = try CLI.run(arguments.map { $0.replacingOccurrences(of: "{dir}", with: scratch.path) })
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("rtaudio: error: "))
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stderr.filter { $0 == "\n" }.count == 1)
        #expect(scratch.contents == before)                // nothing written, not even a temporary file
    }

    @Test("SIGTERM mid-conversion leaves neither the target nor a temporary file")
    func interrupted() throws {
        let scratch = try Scratch()
        // The input is a FIFO this test feeds, so the signal lands while the conversion is surely mid-stream.
        let fifo = scratch.file("live.ulaw")
        #expect(mkfifo(fifo, 0o600) == 0)
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["convert", fifo, scratch.file("out.wav"), "--format", "float"]
        let err = Pipe()
        process.standardError = err
        try process.run()
        let second = Data(G711.muLaw.encode(voiceLike(seconds: 1, rate: 8000)))
        // The converter may exit while we still write: that must be an error here, not a SIGPIPE that kills
        // the test runner.
        signal(SIGPIPE, SIG_IGN)
        let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: fifo))
        try writer.write(contentsOf: second)
        for _ in 0..<5000 {
            if scratch.contents.contains(where: { $0.hasSuffix(".partial") }) { break }
            usleep(1000)
        }
        #expect(scratch.contents.contains { $0.hasSuffix(".partial") })
        process.terminate()
        usleep(50_000)
        // More audio after the signal: the converter must stop at its next chunk, not finish the file.
        for _ in 0..<5 { try? writer.write(contentsOf: second) }
        try? writer.close()
        process.waitUntilExit()
        #expect(process.terminationStatus == 1)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(stderr.contains("interrupted by signal 15"))
        #expect(scratch.contents == ["live.ulaw"])
    }
}
