import Foundation
import RealtimeAudio
import SoundFile
import Testing

/// Runs the binary through `/bin/sh -c`, for shell limits such as `ulimit -f`.
func shell(_ command: String, environment: [String: String] = [:]) throws -> CLI.Result {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return CLI.Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
}

/// Whether the binary can start at all under a tiny file-size limit: ThreadSanitizer's runtime cannot (it dies
/// with SIGBUS before `main`), so under `make check-sanitizers` the limit test is skipped there.
let runsUnderFileSizeLimit: Bool = {
    (try? shell("ulimit -f 64; exec '\(CLI.binary.path)' --help >/dev/null"))?.status == 0
}()

@Suite("Reliability: soak and faults")
struct ReliabilityTests {
    @Test("soak: 15 minutes of a full-duplex call, no drift, exact responses, consistent events, flat memory")
    func soak() throws {
        let r = try CLI.run("soak", "--hours", "0.25")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("\"failures\":0") && r.stdout.contains("\"audio_hours\":0.250"), "\(r.stdout)")
    }

    @Test("a file-size limit (ulimit -f) is one clear line and exit 1, with nothing left behind",
          .enabled(if: runsUnderFileSizeLimit))
    func fileSizeLimit() throws {
        let scratch = try Scratch()
        try writeWAV(scratch.file("long.wav"), voiceLike(seconds: 4, rate: 24000), rate: 24000)
        let r = try shell("ulimit -f 64; exec '\(CLI.binary.path)' convert '\(scratch.file("long.wav"))' '\(scratch.file("out.wav"))' --format float")
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("rtaudio: error: ") && r.stderr.contains("File too large"), "\(r.stderr)")
        #expect(r.stderr.filter { $0 == "\n" }.count == 1)
        #expect(scratch.contents == ["long.wav"])
    }

    @Test("SIGINT or SIGTERM at random moments: either a complete file or none, and never a temporary file")
    func randomInterrupts() throws {
        let scratch = try Scratch()
        try writeWAV(scratch.file("in.wav"), voiceLike(seconds: 30, rate: 48000), rate: 48000)
        var rng = SystemRandomNumberGenerator()
        var outcomes: [Int32] = []
        for trial in 0..<8 {
            let target = scratch.file("out\(trial).wav")
            let process = Process()
            process.executableURL = CLI.binary
            process.arguments = ["convert", scratch.file("in.wav"), target, "--rate", "44100", "--quality", "high", "--format", "float"]
            process.standardError = Pipe()
            try process.run()
            usleep(UInt32.random(in: 0...250_000, using: &rng))
            trial % 2 == 0 ? process.interrupt() : process.terminate()
            process.waitUntilExit()
            outcomes.append(process.terminationStatus)
            if process.terminationStatus == 0 {
                #expect(try readSamples(target).samples.count == 30 * 44100)
            } else {
                #expect(process.terminationStatus == 1)
                #expect(!FileManager.default.fileExists(atPath: target))
            }
            #expect(!scratch.contents.contains { $0.hasSuffix(".partial") })
        }
        #expect(outcomes.contains(1), "no interrupt landed mid-conversion: \(outcomes)")
    }

    @Test("ALSA faults mid-stream: an xrun is recovered and counted; a dead device keeps what was recorded")
    func deviceFaults() throws {
        let devices = try FileDevices()
        let heard = try devices.capture(voiceLike(seconds: 1, rate: 16000))
        let xrun = try CLI.run(["record", devices.scratch.file("a.wav"), "--device", "testcap", "--rate", "16000", "--format", "float"],
                               environment: devices.environment.merging(["RTAUDIO_ALSA_FAULT": "3:-32"]) { $1 })
        #expect(xrun.status == 0)
        #expect(xrun.stderr == "rtaudio: warning: 1 overrun(s) while recording: the audio has gaps there\n")
        #expect(try readSamples(devices.scratch.file("a.wav")).samples == heard)   // the file PCM loses nothing

        let dead = try CLI.run(["record", devices.scratch.file("b.wav"), "--device", "testcap", "--rate", "16000", "--format", "float"],
                               environment: devices.environment.merging(["RTAUDIO_ALSA_FAULT": "4:-5"]) { $1 })
        #expect(dead.status == 1)
        #expect(dead.stderr.contains("Input/output error") && dead.stderr.contains("0.06 s recorded before it"), "\(dead.stderr)")
        #expect(try readSamples(devices.scratch.file("b.wav")).samples == Array(heard[..<960]))

        try writeWAV(devices.scratch.file("in.wav"), voiceLike(seconds: 0.5, rate: 16000), rate: 16000)
        let underrun = try CLI.run(["play", devices.scratch.file("in.wav"), "--device", "testplay"],
                                   environment: devices.environment.merging(["RTAUDIO_ALSA_FAULT": "1:-32"]) { $1 })
        #expect(underrun.status == 0 && underrun.stderr.contains("1 underrun(s)"), "\(underrun.stderr)")
        let broken = try CLI.run(["play", devices.scratch.file("in.wav"), "--device", "testplay"],
                                 environment: devices.environment.merging(["RTAUDIO_ALSA_FAULT": "1:-5"]) { $1 })
        #expect(broken.status == 1 && broken.stderr.contains("Input/output error"), "\(broken.stderr)")
    }
}
