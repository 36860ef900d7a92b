import ArgumentParser
import Foundation
import RealtimeAudio
import SoundFile

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a sound file's format, rate, channels, duration, and peak and RMS level in dBFS."
    )

    @Argument(help: "The file to inspect: anything libsndfile reads, or headerless .raw/.pcm/.ulaw/.alaw.")
    var file: String

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    @OptionGroup var inputOptions: InputOptions

    func run() throws {
        try Console.run(inspect)
    }

    private func inspect() throws {
        let reader = try inputOptions.open(file)
        let info = reader.info
        // Levels are over every sample of every channel: a clipped channel shows even if the mix would hide it.
        var meter = LevelMeter()
        var buffer = [Float](repeating: 0, count: 8192 * info.channels)
        var frames: Int64 = 0
        while true {
            let n = try buffer.withUnsafeMutableBufferPointer { try reader.read(into: $0) }
            if n == 0 { break }
            frames += Int64(n)
            buffer.withUnsafeBufferPointer { meter.add(UnsafeBufferPointer(rebasing: $0[..<(n * info.channels)])) }
        }
        let duration = Double(frames) / Double(info.sampleRate)
        if json {
            var line = JSONLine()
            line.add("file", file)
            line.add("container", info.container)
            line.add("encoding", info.encoding)
            line.add("sample_rate", info.sampleRate)
            line.add("channels", info.channels)
            line.add("frames", Int(frames))
            line.add("duration_s", duration, decimals: 6)
            line.add("peak_dbfs", meter.peakDBFS, decimals: 2)
            line.add("rms_dbfs", meter.rmsDBFS, decimals: 2)
            print(line.text)
        } else {
            print("""
                file:        \(file)
                container:   \(info.container)
                encoding:    \(info.encoding)
                sample rate: \(info.sampleRate) Hz
                channels:    \(info.channels)
                frames:      \(frames)
                duration:    \(format(duration, 3)) s
                peak:        \(level(meter.peakDBFS)) dBFS
                rms:         \(level(meter.rmsDBFS)) dBFS
                """)
        }
    }

    private func level(_ dB: Double) -> String { dB.isFinite ? format(dB, 2) : "-inf" }
    private func format(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }
}
