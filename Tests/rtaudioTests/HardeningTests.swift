import Foundation
import RealtimeAudio
import SoundFile
import Testing

/// The hardening issue's classes, end to end: each test fed today's main the input that broke it.
/// `/usr/bin/time` reporting the peak RSS, where the machine has it (the RSS checks are skipped without it).
let peakRSS = FileManager.default.isExecutableFile(atPath: "/usr/bin/time") ? "/usr/bin/time -f 'rss %M' " : ""

/// Checks the peak RSS `/usr/bin/time` wrote on `stderr` against `limit` KB (nothing to check without it).
func expectPeakRSS(_ stderr: String, below limit: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let rss = stderr.split(separator: "\n").first(where: { $0.hasPrefix("rss ") }).flatMap({ Int($0.dropFirst(4)) }) else { return }
    #expect(rss < limit, "peak RSS \(rss) KB", sourceLocation: sourceLocation)
}

@Suite("Hardening: hostile and careless command lines")
struct HardeningTests {
    /// One readable line on stderr, exit 1.
    func expectUserError(_ r: CLI.Result, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 1, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("rtaudio: error: ") && r.stderr.contains(fragment), "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.filter { $0 == "\n" }.count == 1, "\(r.stderr)", sourceLocation: sourceLocation)
    }

    @Test("1: 96 kHz to 8 kHz at high quality converts (it spun forever), and so do 192 kHz to 8, 12 and 16 kHz")
    func highRatioHang() throws {
        let scratch = try Scratch()
        for (rate, target) in [(96000, 8000), (192000, 8000), (192000, 12000), (192000, 16000)] {
            try writeWAV(scratch.file("in-\(rate).wav"), voiceLike(seconds: 0.5, rate: rate), rate: rate)
            let r = try CLI.run("convert", scratch.file("in-\(rate).wav"), scratch.file("out.wav"), "--rate", "\(target)", "--quality", "high")
            #expect(r.status == 0, "\(rate)->\(target): \(r.stderr)")
            let reader = try SoundFileReader(path: scratch.file("out.wav"))
            #expect(reader.info.frames == Int64((0.5 * Double(target)).rounded()))
        }
    }

    @Test("4, 12: numbers out of range, negative or not finite are one line and exit 1, never a trap or usage dump")
    func numbers() throws {
        let scratch = try Scratch()
        try writeWAV(scratch.file("a.wav"), voiceLike(seconds: 0.3, rate: 16000), rate: 16000)
        let a = scratch.file("a.wav"), o = scratch.file("o.wav")
        expectUserError(try CLI.run("convert", a, o, "--rate", "-1"), "-1")
        expectUserError(try CLI.run("convert", a, o, "--rate", "99999999999999999999"), "--rate")
        expectUserError(try CLI.run("convert", a, o, "--speed", "-1"), "speed")
        expectUserError(try CLI.run("convert", a, o, "--speed", "nan"), "speed")
        expectUserError(try CLI.run("vad", a, "--threshold", "-1"), "threshold")
        expectUserError(try CLI.run("vad", a, "--silence-duration-ms", "-5"), "silence")
        expectUserError(try CLI.run("vad", a, "--tuning", "confirmationFrames=1e30"), "confirmationFrames")
        expectUserError(try CLI.run("vad", a, "--tuning", "centreDB=inf"), "centreDB")
        expectUserError(try CLI.run("record", o, "--device", "null", "--duration", "1e15"), "--duration")
        expectUserError(try CLI.run("record", o, "--device", "null", "--rate", "-8000"), "-8000")
        expectUserError(try CLI.run("soak", "--hours", "1e300"), "--hours")
        expectUserError(try CLI.run("convert", a, o, "--no-such-option"), "no-such-option")
        #expect(scratch.contents == ["a.wav"])
        let help = try CLI.run("convert", "--help")
        #expect(help.status == 0 && help.stdout.contains("USAGE"))
    }

    @Test("5: session validate reads at most 15 MiB: /dev/zero and a 20 MB document are refused in bounded memory")
    func boundedDocuments() throws {
        let r = try shell("'\(CLI.binary.path)' session validate - < /dev/zero")
        expectUserError(r, "larger than 15 MiB")
        let scratch = try Scratch()
        var big = "[" + String(repeating: "1,", count: 10_000_000) + "1]"
        try Data(big.utf8).write(to: URL(fileURLWithPath: scratch.file("big.json")))
        big = ""
        let t = try shell("\(peakRSS)'\(CLI.binary.path)' session validate '\(scratch.file("big.json"))'")
        #expect(t.status == 1 && t.stderr.contains("larger than 15 MiB"), "\(t.stderr)")
        expectPeakRSS(t.stderr, below: 200_000)
    }

    @Test("6: every command that writes refuses an output that is one of its inputs, by any path")
    func outputIsInput() throws {
        let scratch = try Scratch()
        try writeWAV(scratch.file("a.wav"), voiceLike(seconds: 0.5, rate: 24000), rate: 24000)
        let a = scratch.file("a.wav")
        let before = try Data(contentsOf: URL(fileURLWithPath: a))
        try FileManager.default.createSymbolicLink(atPath: scratch.file("link.wav"), withDestinationPath: a)
        try Data(#"{"input_audio_format":"pcm16"}"#.utf8).write(to: URL(fileURLWithPath: scratch.file("s.json")))
        let dotted = scratch.path + "/./a.wav"
        for r in [
            try CLI.run("convert", a, a, "--rate", "16000"),
            try CLI.run("convert", a, dotted),
            try CLI.run("convert", a, scratch.file("link.wav")),
            try CLI.run("vad", a, "--plot", a),
            try CLI.run("vad", a, "--plot", scratch.file("link.wav")),
            try CLI.run("session", "run", scratch.file("s.json"), "--input", a, "--reply", a, "--output", dotted),
            try CLI.run("session", "run", scratch.file("s.json"), "--input", a, "--reply", scratch.file("link.wav"), "--output", a),
        ] {
            expectUserError(r, "same file")
            #expect(r.stdout.isEmpty, "nothing printed before the refusal: \(r.stdout)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: a)) == before)
        #expect(scratch.contents == ["a.wav", "link.wav", "s.json"])
    }

    @Test("7: a read-only target owned by another user is not replaced (unless --force); a folder is never replaced")
    func readOnlyTarget() throws {
        let scratch = try Scratch()
        try writeWAV(scratch.file("a.wav"), voiceLike(seconds: 0.3, rate: 16000), rate: 16000)
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: scratch.path)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: scratch.file("target.wav")))
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: scratch.file("target.wav"))
        try FileManager.default.createDirectory(atPath: scratch.file("dir.wav"), withIntermediateDirectories: false)
        expectUserError(try CLI.run("convert", scratch.file("a.wav"), scratch.file("dir.wav")), "not a regular file")
        // As another user (nobody), the way `cp` and `sox` refuse; root may write anything, so this needs a switch.
        let asNobody = try shell("command -v setpriv >/dev/null && setpriv --reuid=nobody --regid=nogroup --clear-groups true && echo ok")
        guard getuid() == 0, asNobody.stdout.contains("ok") else { return }
        let command = "setpriv --reuid=nobody --regid=nogroup --clear-groups '\(CLI.binary.path)' convert '\(scratch.file("a.wav"))' '\(scratch.file("target.wav"))'"
        let r = try shell(command)
        expectUserError(r, "not writable")
        #expect(try String(contentsOfFile: scratch.file("target.wav"), encoding: .utf8) == "keep")
        let forced = try shell(command + " --force")
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try SoundFileReader(path: scratch.file("target.wav")).info.frames == 4800)
    }

    @Test("8: JSON with a repeated key or invalid UTF-8 is a violation with its byte offset")
    func strictJSON() throws {
        let scratch = try Scratch()
        try Data(#"{"voice":"alloy","voice":"echo"}"#.utf8).write(to: URL(fileURLWithPath: scratch.file("dup.json")))
        let dup = try CLI.run("session", "validate", scratch.file("dup.json"))
        #expect(dup.status == 1 && dup.stderr.contains("at byte 17") && dup.stderr.contains("'voice' is repeated"), "\(dup.stderr)")
        try Data([0x7B, 0x22, 0x76, 0x6F, 0x69, 0x63, 0x65, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]).write(to: URL(fileURLWithPath: scratch.file("utf8.json")))
        let bad = try CLI.run("session", "validate", scratch.file("utf8.json"))
        #expect(bad.status == 1 && bad.stderr.contains("at byte 10") && bad.stderr.contains("UTF-8"), "\(bad.stderr)")
    }

    @Test("9: a device file is refused with a reason; a source that delivers nothing is an error, not an empty file")
    func emptySources() throws {
        let scratch = try Scratch()
        expectUserError(try CLI.run("convert", "/dev/zero", scratch.file("o.wav"), "--input-format", "pcm16"), "device")
        expectUserError(try CLI.run("record", scratch.file("r.wav"), "--device", "null", "--duration", "2"), "delivered no audio")
        #expect(scratch.contents.isEmpty)
    }

    @Test("10: a WAV named .ulaw is read as WAV (with a warning); a data size past the file is truncation")
    func sniffing() throws {
        let scratch = try Scratch()
        try writeWAV(scratch.file("a.wav"), voiceLike(seconds: 0.25, rate: 8000), rate: 8000)
        _ = try CLI.run("convert", scratch.file("a.wav"), scratch.file("u.wav"), "--format", "g711_ulaw")
        try FileManager.default.moveItem(atPath: scratch.file("u.wav"), toPath: scratch.file("u.ulaw"))
        let r = try CLI.run("convert", scratch.file("u.ulaw"), scratch.file("o.wav"))
        #expect(r.status == 0 && r.stderr.contains("holds a WAV header"), "\(r.stderr)")
        #expect(try SoundFileReader(path: scratch.file("o.wav")).info.frames == 2000)
        // A WAV whose data chunk claims 0xFFFFFFF0 bytes.
        var wav = try Data(contentsOf: URL(fileURLWithPath: scratch.file("a.wav")))
        if let range = wav.range(of: Data("data".utf8)) {
            wav.replaceSubrange((range.upperBound)..<(range.upperBound + 4), with: [0xF0, 0xFF, 0xFF, 0xFF])
        }
        try wav.write(to: URL(fileURLWithPath: scratch.file("huge.wav")))
        expectUserError(try CLI.run("info", scratch.file("huge.wav")), "truncated")
    }

    @Test("11: vad --plot keeps a fixed number of points whatever the length (2 h of audio: a bounded SVG)")
    func boundedPlot() throws {
        let scratch = try Scratch()
        // Two hours of 8 kHz µ-law, headerless: 57.6 MB.
        let hour = scratch.file("long.ulaw")
        let r0 = try shell("head -c 57600000 /dev/urandom > '\(hour)'")
        #expect(r0.status == 0)
        let r = try shell("\(peakRSS)'\(CLI.binary.path)' vad '\(hour)' --plot '\(scratch.file("p.svg"))' > /dev/null")
        #expect(r.status == 0, "\(r.stderr)")
        let size = (try FileManager.default.attributesOfItem(atPath: scratch.file("p.svg"))[.size] as? Int) ?? 0
        #expect(size < 1_000_000, "SVG of \(size) bytes")
        expectPeakRSS(r.stderr, below: 100_000)
    }

    @Test("11: session run streams its input: 20 MB of µ-law (42 min) in bounded memory", .enabled(if: !peakRSS.isEmpty))
    func sessionRunStreams() throws {
        let scratch = try Scratch()
        let input = scratch.file("call.ulaw")
        #expect(try shell("head -c 20000000 /dev/urandom > '\(input)'").status == 0)
        try Data(#"{"input_audio_format":"g711_ulaw"}"#.utf8).write(to: URL(fileURLWithPath: scratch.file("s.json")))
        let r = try shell("\(peakRSS)'\(CLI.binary.path)' session run '\(scratch.file("s.json"))' --input '\(input)' > /dev/null")
        #expect(r.status == 0, "\(r.stderr)")
        // The whole input held as Float and resampled took about 5.5 bytes per input byte (110 MB here).
        expectPeakRSS(r.stderr, below: 80_000)
    }

    @Test("13: clear messages: a plot into a folder, a folder as a document, a WAV with rate 0, session run inputs")
    func messages() throws {
        let scratch = try Scratch()
        try writeWAV(scratch.file("a.wav"), voiceLike(seconds: 0.3, rate: 8000), rate: 8000)
        try FileManager.default.createDirectory(atPath: scratch.file("adir"), withIntermediateDirectories: false)
        expectUserError(try CLI.run("vad", scratch.file("a.wav"), "--plot", scratch.file("adir")), "not a regular file")
        expectUserError(try CLI.run("session", "validate", scratch.file("adir")), "is a directory")
        let fifo = try shell("echo '{\"voice\":\"alloy\"}' | '\(CLI.binary.path)' session validate /dev/stdin")
        #expect(fifo.status == 0, "\(fifo.stderr)")
        var wav = try Data(contentsOf: URL(fileURLWithPath: scratch.file("a.wav")))
        wav.replaceSubrange(24..<28, with: [0, 0, 0, 0])
        try wav.write(to: URL(fileURLWithPath: scratch.file("rate0.wav")))
        expectUserError(try CLI.run("info", scratch.file("rate0.wav")), "sample rate or channel count of 0")
        // session run: headerless inputs, --output checked before any event, a negative idle timer refused.
        _ = try CLI.run("convert", scratch.file("a.wav"), scratch.file("a.ulaw"))
        try Data(#"{"input_audio_format":"g711_ulaw","output_audio_format":"g711_ulaw","turn_detection":{"type":"server_vad","idle_timeout_ms":5000}}"#.utf8)
            .write(to: URL(fileURLWithPath: scratch.file("s.json")))
        let run = try CLI.run("session", "run", scratch.file("s.json"), "--input", scratch.file("a.ulaw"))
        #expect(run.status == 0 && run.stdout.contains("committed"), "\(run.stderr)")
        let late = try CLI.run("session", "run", scratch.file("s.json"), "--input", scratch.file("a.ulaw"), "--reply", scratch.file("a.wav"),
                               "--output", scratch.file("nowhere/x.ulaw"))
        expectUserError(late, "does not exist")
        #expect(late.stdout.isEmpty)
        expectUserError(try CLI.run("session", "run", scratch.file("s.json"), "--input", scratch.file("a.ulaw"), "--idle-timer-at-ms", "-1"), "idle-timer")
        // The resampler's supported pairs, said exactly.
        expectUserError(try CLI.run("convert", scratch.file("a.wav"), scratch.file("o.wav"), "--rate", "7999"), "7999 filter phases")
    }
}
