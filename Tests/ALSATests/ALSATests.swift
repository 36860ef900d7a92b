import Foundation
import Testing
@_spi(Testing) @testable import ALSA

/// A scratch folder with an in-memory ALSA configuration over alsa-lib's `file` and `null` PCMs: `cap` reads
/// `capture.raw`, `play` writes `playback.raw`, both S16_LE mono at `rate`, through `plug` (`plugcap`,
/// `plugplay`) or directly (`rawcap`, `rawplay`).
struct FileDevices {
    let directory: URL
    let rate: Int

    init(rate: Int = 16000) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("alsa-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.rate = rate
    }

    var capturePath: String { directory.appendingPathComponent("capture.raw").path }
    var playbackPath: String { directory.appendingPathComponent("playback.raw").path }

    var configuration: String {
        """
        pcm.rawcap { type file; slave.pcm { type null }; file "/dev/null"; infile "\(capturePath)"; format "raw" }
        pcm.rawplay { type file; slave.pcm { type null }; file "\(playbackPath)"; format "raw" }
        pcm.plugcap { type plug; slave { pcm "rawcap"; format S16_LE; rate \(rate); channels 1 } }
        pcm.plugplay { type plug; slave { pcm "rawplay"; format S16_LE; rate \(rate); channels 1 } }
        """
    }

    func writeCapture(_ samples: [Int16]) throws {
        try samples.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: capturePath)) }
    }

    func playback() throws -> [Int16] {
        let data = try Data(contentsOf: URL(fileURLWithPath: playbackPath))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
    }
}

func tone(_ count: Int) -> [Int16] {
    (0..<count).map { Int16(8000 * sin(2 * Double.pi * 440 * Double($0) / 16000)) }
}

// Serialized: the listing test points ALSA_CONFIG_PATH at its own file for a moment.
@Suite("ALSA through alsa-lib's file PCM", .serialized)
struct ALSATests {
    @Test("capture returns the infile's samples, then reports the end instead of stale data")
    func capture() throws {
        let devices = try FileDevices()
        let input = tone(16000 + 123)
        try devices.writeCapture(input)
        let pcm = try PCMDevice(name: "plugcap", direction: .capture, configuration: devices.configuration)
        let granted = try pcm.configure(rate: 16000, channels: 1, periodMs: 20)
        #expect(granted.rate == 16000 && granted.channels == 1 && granted.format == .s16LE)
        var captured: [Int16] = []
        var buffer = [Int16](repeating: 0, count: 320)
        for _ in 0..<200 {
            let n = try buffer.withUnsafeMutableBufferPointer { try pcm.read(into: $0) }
            if n == 0 { break }
            captured += buffer[..<n]
        }
        #expect(pcm.reachedEnd)
        // The file PCM reads its infile in whole periods: everything up to the last full period comes back.
        #expect(captured.count >= 16000 && captured.count <= input.count)
        #expect(Array(input[..<captured.count]) == captured)
    }

    @Test("playback writes exactly the samples given")
    func playback() throws {
        let devices = try FileDevices()
        let output = tone(8000)
        do {
            let pcm = try PCMDevice(name: "rawplay", direction: .playback, configuration: devices.configuration)
            try pcm.configure(rate: 16000, channels: 1)
            try output.withUnsafeBufferPointer { try pcm.write($0) }
            try pcm.drain()
        }
        #expect(try devices.playback() == output)
    }

    @Test("a device asked for a rate it does not run at grants its own (ALSA's resampler stays off)")
    func grantedRate() throws {
        let devices = try FileDevices(rate: 16000)
        try devices.writeCapture(tone(1600))
        let pcm = try PCMDevice(name: "plugcap", direction: .capture, configuration: devices.configuration)
        let granted = try pcm.configure(rate: 24000, channels: 1)
        #expect(granted.rate == 16000)
        #expect(granted.periodFrames > 0 && granted.bufferFrames >= granted.periodFrames)
    }

    @Test("an overrun is recovered and counted; a hard error is thrown with ALSA's text")
    func recovery() throws {
        let devices = try FileDevices()
        let input = tone(3200)
        try devices.writeCapture(input)
        let pcm = try PCMDevice(name: "plugcap", direction: .capture, configuration: devices.configuration)
        try pcm.configure(rate: 16000)
        var buffer = [Int16](repeating: 0, count: 320)
        pcm.injectedFault = -EPIPE
        let n = try buffer.withUnsafeMutableBufferPointer { try pcm.read(into: $0) }
        #expect(n == 320 && pcm.xrunCount == 1)
        pcm.injectedFault = -EIO
        #expect(throws: ALSAError.self) { _ = try buffer.withUnsafeMutableBufferPointer { try pcm.read(into: $0) } }

        let play = try PCMDevice(name: "rawplay", direction: .playback, configuration: devices.configuration)
        try play.configure(rate: 16000)
        play.injectedFault = -EPIPE
        try input.withUnsafeBufferPointer { try play.write($0) }
        #expect(play.xrunCount == 1)
    }

    @Test("a missing device is a typed error naming it, with ALSA's text")
    func missingDevice() throws {
        let devices = try FileDevices()
        do {
            _ = try PCMDevice(name: "nosuchdevice", direction: .capture, configuration: devices.configuration)
            Issue.record("opened a device that does not exist")
        } catch {
            #expect(error.code < 0)
            #expect(error.description.contains("'nosuchdevice'"))
            #expect(!error.message.isEmpty)
        }
        #expect(throws: ALSAError.self) { try PCMDevice(name: "x", direction: .playback, configuration: "pcm.x { type") }
    }

    @Test("listing devices gives the configuration's hinted PCMs, with their descriptions, on a machine without a sound card")
    func listing() throws {
        let files = try FileDevices()
        let path = files.directory.appendingPathComponent("hints.conf").path
        try Data("""
            pcm.hintcap { type null; hint { show on; description "test capture" } }
            pcm.hintplay { type null; hint { show on; description "test playback" } }
            pcm.unlisted { type null }
            """.utf8).write(to: URL(fileURLWithPath: path))
        let previous = ProcessInfo.processInfo.environment["ALSA_CONFIG_PATH"]
        setenv("ALSA_CONFIG_PATH", path, 1)
        defer { if let previous { setenv("ALSA_CONFIG_PATH", previous, 1) } else { unsetenv("ALSA_CONFIG_PATH") } }
        let hints = try PCMDevice.devices()
        #expect(hints.map(\.name).sorted() == ["hintcap", "hintplay"])
        #expect(hints.first { $0.name == "hintcap" }?.description == "test capture")
        #expect(hints.first { $0.name == "hintplay" }?.description == "test playback")
    }
}
