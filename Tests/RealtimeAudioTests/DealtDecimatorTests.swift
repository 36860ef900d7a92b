import Foundation
import Testing
@testable import RealtimeAudio

@Suite("Dealt decimator")
struct DealtDecimatorTests {
    /// `y[n] = h_0 x[Mn] + Σ_d h_d (x[Mn + d] + x[Mn - d])` in double precision, zeros outside the input.
    func reference(_ x: [Float], step M: Int, centre: Double, pairs: [Double], count: Int) -> [Double] {
        func at(_ i: Int) -> Double { x.indices.contains(i) ? Double(x[i]) : 0 }
        return (0..<count).map { n in
            var sum = centre * at(M * n)
            for (j, h) in pairs.enumerated() { sum += h * (at(M * n + j + 1) + at(M * n - j - 1)) }
            return sum
        }
    }

    @Test("a ÷M decimator computes its symmetric filter, in any chunking, with NaN and infinity read as 0",
          arguments: [(2, 9), (2, 35), (3, 16), (3, 26), (4, 21), (5, 7)])
    func convolution(step: Int, pairCount: Int) throws {
        var rng = SplitMix64(seed: UInt64(step * 100 + pairCount))
        let pairs = (0..<pairCount).map { _ in Double.random(in: -0.2...0.2, using: &rng) }
        let bank = DealtDecimatorBank(step: step, centre: 0.4, pairs: pairs, method: "test")
        var x = (0..<3000).map { _ in Float.random(in: -1...1, using: &rng) }
        var cleaned = x
        for i in [5, 1001, 1002, 2999] { x[i] = [Float.nan, .infinity, -.infinity, .nan][i % 4]; cleaned[i] = 0 }
        let owed = (2 * x.count + step) / (2 * step)
        let expected = reference(cleaned, step: step, centre: 0.4, pairs: pairs, count: owed)
        for maxChunk in [1, 7, 100, 3000] {
            var stage = DealtDecimator(bank: bank)
            var y: [Float] = [], offset = 0
            var out = [Float](repeating: 0, count: 4000)
            while offset < x.count {
                let n = min(x.count - offset, Int.random(in: 0...maxChunk, using: &rng))
                let room = maxChunk == 7 ? Int.random(in: 0...3, using: &rng) : stage.readyCount(forInput: n)
                let (used, made) = x[offset..<(offset + n)].withUnsafeBufferPointer { src in
                    out.withUnsafeMutableBufferPointer { stage.process(src, into: UnsafeMutableBufferPointer(rebasing: $0[..<room])) }
                }
                y += out[..<made]
                offset += used
            }
            let tail = out.withUnsafeMutableBufferPointer { stage.finish(into: $0, count: stage.pendingOutputCount) }
            y += out[..<tail]
            #expect(y.count == owed)
            let worst = zip(y, expected).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(worst < 2e-6, "÷\(step), \(pairCount) pairs, chunks up to \(maxChunk): \(worst)")
        }
    }

    @Test("finite input whose sums overflow passes through as infinity, and the stream goes on")
    func overflow() throws {
        // Every group's check fires and finds nothing to clean: each group is computed again, unchecked, once.
        let bank = DealtDecimatorBank(step: 3, centre: 0.6, pairs: [0.5, 0.4, 0.3, 0.2], method: "test")
        var stage = DealtDecimator(bank: bank)
        var x = [Float](repeating: 3e38, count: 900) + [Float](repeating: 0.25, count: 900)
        x[1] = -3e38
        var out = [Float](repeating: 0, count: 700)
        let (used, made) = x.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { stage.process(src, into: $0) } }
        #expect(used == x.count && made == stage.produced && made == (x.count - 1 - 4) / 3 + 1)
        #expect(out[100].isInfinite)
        // Past the huge samples' reach, plain arithmetic again: 0.25 × (0.6 + 2 × 1.4).
        #expect(abs(out[made - 1] - 0.25 * 3.4) < 1e-6)
    }

    @Test("the ÷3 prestage keeps its passband and rejects what would fold onto the kept band")
    func thirdPrestage() throws {
        // 48 kHz -> 16 kHz ahead of 16 kHz -> 8 kHz voice: keep 3.6 kHz, reject from 16 - 4.4 kHz on.
        let quality = ResamplerQuality.voice
        let pass = 3600.0 / 48000, keep = 4400.0 / 48000
        let bank = try #require(DealtDecimatorBank(step: 3, pass: pass, keep: keep, attenuation: quality.designAttenuation,
                                                   ripple: quality.designPassRipple / 32))
        let filter = try ResamplerFilter(from: .hz48000, to: .hz8000, quality: quality)
        #expect(filter.designMethod.hasPrefix("equiripple ÷3"), "\(filter.designMethod)")
        // The response from the bank's own taps: run r's pair t sits at distance r + M (t0 + t).
        func response(_ f: Double) -> Double {
            var h = Double(bank.centre)
            for run in bank.runs {
                let r = run.forward / bank.segment, t0 = run.forward % bank.segment
                for t in 0..<run.count {
                    let d = r + bank.step * (t0 + t)
                    h += 2 * Double(bank.weights[run.firstWeight + t][0]) * cos(2 * Double.pi * f * Double(d))
                }
            }
            return h
        }
        for f in stride(from: 0.0, through: pass, by: pass / 50) {
            #expect(abs(20 * log10(abs(response(f)))) < 0.01, "passband \(f)")
        }
        for f in stride(from: 1.0 / 3 - keep, through: 0.5, by: 0.001) {
            #expect(20 * log10(abs(response(f))) < -quality.stopbandAttenuation, "stopband \(f)")
        }
    }
}
