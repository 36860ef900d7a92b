import Testing
import Foundation
@testable import RealtimeAudio

@Suite("Downmix and LevelMeter")
struct SignalTests {
    @Test func downmixAverages() {
        let stereo: [Float] = [1, 0, 0.5, 0.5, -1, 1, 0.25, -0.75]
        var mono = [Float](repeating: 9, count: 4)
        let n = stereo.withUnsafeBufferPointer { s in mono.withUnsafeMutableBufferPointer { Downmix.mono(s, channels: 2, into: $0) } }
        #expect(n == 4)
        #expect(mono == [0.5, 0.5, 0, -0.25])
        let three: [Float] = [0.3, 0.3, 0.3, 1, -1, 0.5, 7]   // the trailing partial frame is ignored
        let m = three.withUnsafeBufferPointer { s in mono.withUnsafeMutableBufferPointer { Downmix.mono(s, channels: 3, into: $0) } }
        #expect(m == 2)
        #expect(abs(mono[0] - 0.3) < 1e-6 && abs(mono[1] - 0.5 / 3) < 1e-6)
    }

    @Test("a full-scale sine reads 0 dBFS peak and -3.01 dBFS RMS; a -20 dBFS one reads -20")
    func sineLevels() {
        for amplitude in [1.0, 0.1] {
            let sine = (0..<48000).map { Float(amplitude * sin(2 * .pi * 1000 * Double($0) / 48000 + 0.3)) }
            var meter = LevelMeter()
            sine.withUnsafeBufferPointer { meter.add(UnsafeBufferPointer(rebasing: $0[..<1001])); meter.add(UnsafeBufferPointer(rebasing: $0[1001...])) }
            let expectedPeak = 20 * log10(amplitude)
            #expect(abs(meter.peakDBFS - expectedPeak) < 0.01)
            #expect(abs(meter.rmsDBFS - (expectedPeak - 3.0103)) < 0.01)
            #expect(meter.sampleCount == 48000)
        }
    }

    @Test func silenceIsMinusInfinity() {
        var meter = LevelMeter()
        [Float](repeating: 0, count: 100).withUnsafeBufferPointer { meter.add($0) }
        #expect(meter.peakDBFS == -.infinity && meter.rmsDBFS == -.infinity)
    }
}
