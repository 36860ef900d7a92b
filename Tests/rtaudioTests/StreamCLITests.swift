import Foundation
import RealtimeAudio
import SoundFile
import Testing

/// `rtaudio stream encode` and `stream decode`, end to end: a file through a carrier's messages and back, as a
/// gateway's capture, with the bad lines and frames a careless peer sends.
@Suite("rtaudio stream, end to end")
struct StreamCLITests {
    /// µ-law codes of the audio, as `convert` would make them at 8 kHz: the reference for the round trip.
    static func muLawReference(_ scratch: Scratch, _ input: String) throws -> [UInt8] {
        let path = scratch.file("reference.ulaw")
        let result = try CLI.run("convert", input, path, "--rate", "8000")
        #expect(result.status == 0, "\(result.stderr)")
        return try bytes(path)
    }

    @Test func twilioRoundTripIsBitExactAndReportsBadLines() throws {
        let scratch = try Scratch()
        let input = scratch.file("voice.wav")
        try writeWAV(input, voiceLike(seconds: 1.234, rate: 24000), rate: 24000)
        let messages = scratch.file("out.jsonl")
        let encoded = try CLI.run("stream", "encode", input, messages, "--stream-sid", "MZ42")
        #expect(encoded.status == 0, "\(encoded.stderr)")
        var lines = try String(contentsOfFile: messages, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.first == #"{"event":"mark","streamSid":"MZ42","mark":{"name":"rtaudio:1:0"}}"#)
        #expect(lines.last == #"{"event":"mark","streamSid":"MZ42","mark":{"name":"rtaudio:1:9872"}}"#)
        #expect(lines.count == 2 + (9872 + 159) / 160)
        // As the carrier would send it back: a start, our media as the inbound track, a bad line, bad base64, a
        // media message for another stream, an unknown event, a blank line, then the stop.
        lines = lines.filter { $0.contains(#""event":"media""#) }
        var capture = [#"{"event":"start","start":{"streamSid":"MZ42","mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ42"}"#]
        capture += lines[..<10]
        capture += ["{not json", #"{"event":"media","streamSid":"MZ42","media":{"payload":"AA-A"}}"#,
                    #"{"event":"media","streamSid":"MZ9","media":{"payload":"AAAA"}}"#, #"{"event":"transcript","streamSid":"MZ42"}"#, ""]
        capture += lines[10...]
        capture += [#"{"event":"dtmf","streamSid":"MZ42","dtmf":{"track":"inbound_track","digit":"5"}}"#, #"{"event":"stop","streamSid":"MZ42"}"#]
        let capturePath = scratch.file("capture.jsonl")
        try (capture.joined(separator: "\n") + "\n").write(toFile: capturePath, atomically: true, encoding: .utf8)
        let audio = scratch.file("decoded.ulaw")
        let decoded = try CLI.run("stream", "decode", capturePath, audio)
        #expect(decoded.status == 1)
        let errors = decoded.stderr.split(separator: "\n")
        #expect(errors.count == 4, "\(decoded.stderr)")
        #expect(errors[0].hasPrefix("rtaudio: line 12: malformed JSON at byte 1"))
        #expect(errors[1].contains("line 13: media.payload (at byte 56): invalid base64"))
        #expect(errors[2].contains("line 14: media for an unknown stream 'MZ9'"))
        #expect(errors[3] == "rtaudio: error: 3 of \(capture.count - 1) lines were bad and skipped; the rest is in '\(audio)'")
        #expect(decoded.stdout.contains(#"{"type":"unknown","line":15,"event":"transcript"}"#))
        #expect(decoded.stdout.contains(#"{"type":"dtmf","line":\#(capture.count - 1),"digit":"5","track":"inbound_track"}"#))
        #expect(decoded.stdout.contains(#""type":"summary","media":\#(lines.count),"samples":9872,"rate":8000"#))
        // Every sample the pipeline made comes back, in order (as values: µ-law's two zero codes, 0x7F and 0xFF,
        // are one sample, written back as 0xFF).
        #expect(G711.muLaw.decodeInt16(try bytes(audio)) == G711.muLaw.decodeInt16(try Self.muLawReference(scratch, input)))
    }

    @Test func audioSocketRoundTripAnyRate() throws {
        let scratch = try Scratch()
        let input = scratch.file("voice.wav")
        let voice = voiceLike(seconds: 0.5, rate: 16000)
        try writeWAV(input, voice, rate: 16000)
        let stream = scratch.file("call.bin")
        #expect(try CLI.run("stream", "encode", input, stream, "--carrier", "audiosocket", "--rate", "16000").status == 0)
        let wire = try bytes(stream)
        #expect(wire.first == 0x12 && wire.count == 8000 * 2 + 25 * 3)
        let audio = scratch.file("decoded.wav")
        let decoded = try CLI.run("stream", "decode", stream, audio, "--carrier", "audiosocket")
        #expect(decoded.status == 0, "\(decoded.stderr)")
        let (info, samples) = try readSamples(audio)
        #expect(info.sampleRate == 16000)
        #expect(samples.count == voice.count)
        #expect(zip(samples, voice).allSatisfy { abs($0 - $1) <= 1.0 / 32768 + 1e-6 })
        // A stream cut mid-frame: the whole frames decode, the cut one is reported, exit 1.
        let cut = scratch.file("cut.bin")
        try Data(wire[..<1000]).write(to: URL(fileURLWithPath: cut))
        let partial = try CLI.run("stream", "decode", cut, scratch.file("cut.wav"), "--carrier", "audiosocket")
        #expect(partial.status == 1)
        #expect(partial.stderr.contains("the stream ends inside a frame (357 of 643 bytes)"))
        #expect(try readSamples(scratch.file("cut.wav")).samples.count == 320)
    }

    @Test func userErrorsAreOneLine() throws {
        let scratch = try Scratch()
        let input = scratch.file("voice.wav")
        try writeWAV(input, voiceLike(seconds: 0.1, rate: 8000), rate: 8000)
        for (arguments, message) in [
            (["stream", "encode", input, "--frame-ms", "5"], "--frame-ms 5 is out of range (10...60)"),
            (["stream", "encode", input, "--carrier", "audiosocket"], "AudioSocket frames are binary: name an OUTPUT file"),
            (["stream", "encode", input, "--carrier", "twilio", "--rate", "16000"], "Twilio media streams are 8000 Hz µ-law"),
            (["stream", "encode", input, "--carrier", "telnyx", "--encoding", "opus"], "--encoding 'opus' is not PCMU, PCMA or L16"),
            (["stream", "decode", "/dev/zero", scratch.file("x.wav")], "it is a device"),
            (["stream", "decode", scratch.path, scratch.file("x.wav")], "it is a directory"),
            (["stream", "decode", input, input], "refusing to overwrite an input"),
            (["stream", "decode", input, scratch.file("x.wav"), "--track", "both"], "--track 'both' is not inbound or outbound"),
        ] {
            let result = try CLI.run(arguments)
            #expect(result.status == 1, "\(arguments)")
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        #expect(!scratch.contents.contains("x.wav"))
    }

    /// Binary garbage as JSON lines and as AudioSocket, and an overlong line: reported, never a crash.
    @Test func garbageCapturesAreReportedNotFatal() throws {
        let scratch = try Scratch()
        var rng = SystemRandomNumberGenerator()
        let garbage = (0..<200_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let path = scratch.file("garbage.bin")
        try Data(garbage).write(to: URL(fileURLWithPath: path))
        for carrier in ["twilio", "telnyx", "audiosocket"] {
            let result = try CLI.run("stream", "decode", path, scratch.file("g-\(carrier).wav"), "--carrier", carrier)
            #expect(result.status == 0 || result.status == 1, "\(carrier): \(result.status) \(result.stderr.suffix(300))")
            #expect(result.stdout.contains(#""type":"summary""#), "\(carrier)")
        }
        let long = scratch.file("long.jsonl")
        try (String(repeating: "x", count: 3 << 20) + "\n" + #"{"event":"stop"}"# + "\n").write(toFile: long, atomically: true, encoding: .utf8)
        let result = try CLI.run("stream", "decode", long, scratch.file("long.wav"))
        #expect(result.status == 1)
        #expect(result.stderr.contains("line 1: longer than 1048576 bytes"))
        #expect(result.stdout.contains(#"{"type":"stop","line":2}"#))
    }

    /// Frames missing from the chunk numbers: reported, and filled by concealment or silence, or left out; a
    /// late frame is reported and left out.
    @Test func lossesAreReportedAndConcealed() throws {
        let scratch = try Scratch()
        let input = scratch.file("voice.wav")
        try writeWAV(input, voiceLike(seconds: 1, rate: 8000), rate: 8000)
        let messages = scratch.file("out.jsonl")
        #expect(try CLI.run("stream", "encode", input, messages, "--stream-sid", "MZ7").status == 0)
        let media = try String(contentsOfFile: messages, encoding: .utf8).split(separator: "\n").filter { $0.contains(#""event":"media""#) }
        #expect(media.count == 50)
        var capture = [#"{"event":"start","start":{"streamSid":"MZ7"},"streamSid":"MZ7"}"#]
        for (k, line) in media.enumerated() where ![10, 11, 30].contains(k) {
            capture.append(line.replacingOccurrences(of: #""media":{"#, with: #""media":{"chunk":"\#(k + 1)","#))
        }
        capture.append(capture[5])   // chunk 5 again, late
        let path = scratch.file("lossy.jsonl")
        try (capture.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        var lengths: [String: Int] = [:]
        for conceal in ["plc", "zero", "none"] {
            let out = scratch.file("\(conceal).wav")
            let result = try CLI.run("stream", "decode", path, out, "--conceal", conceal)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains(#"{"type":"loss","line":12,"chunk":11,"frames":2,"filled":\#(conceal == "none" ? 0 : 2),"conceal":"\#(conceal)"}"#), "\(result.stdout)")
            #expect(result.stdout.contains(#""type":"late","line":49,"chunk":5"#))
            #expect(result.stdout.contains(#""lost_frames":3"#))
            lengths[conceal] = try readSamples(out).samples.count
        }
        #expect(lengths["plc"] == 8000 && lengths["zero"] == 8000 && lengths["none"] == 8000 - 3 * 160)
        let bad = try CLI.run("stream", "decode", path, scratch.file("x.wav"), "--conceal", "magic")
        #expect(bad.status == 1 && bad.stderr.contains("--conceal 'magic' is not plc, zero or none"))
    }

    /// AudioSocket's highest rate from a telephone-rate file: the stage hands over 24x the samples it reads, and
    /// every one arrives, in frames the decoder takes back.
    @Test func audioSocketAt192kHzFromAn8kHzFile() throws {
        let scratch = try Scratch()
        let input = scratch.file("voice.wav")
        try writeWAV(input, voiceLike(seconds: 1, rate: 8000), rate: 8000)
        let stream = scratch.file("call.bin")
        let encoded = try CLI.run("stream", "encode", input, stream, "--carrier", "audiosocket", "--rate", "192000")
        #expect(encoded.status == 0, "\(encoded.stderr)")
        let decoded = try CLI.run("stream", "decode", stream, scratch.file("back.wav"), "--carrier", "audiosocket")
        #expect(decoded.status == 0, "\(decoded.stderr)")
        let (info, samples) = try readSamples(scratch.file("back.wav"))
        #expect(info.sampleRate == 192000 && abs(samples.count - 192000) <= 192)
    }
}
