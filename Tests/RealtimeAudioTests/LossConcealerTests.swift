import Foundation
import Testing
@testable import RealtimeAudio

/// Runs `x` through a concealer in frames of `frame` samples, the frames in `lost` replaced by concealment (or
/// zeros); returns the output aligned with `x` (the delay removed).
func concealed(_ x: [Float], rate: Int, frame: Int, lost: Set<Int>, zeros: Bool = false, chunk: Int? = nil) throws -> [Float] {
    var plc = try LossConcealer(sampleRate: SampleRate(hertz: rate))
    var out: [Float] = []
    var buffer = [Float](repeating: 0, count: max(frame, plc.delay))
    for f in 0..<(x.count / frame) {
        let slice = Array(x[(f * frame)..<((f + 1) * frame)])
        // Optionally split each frame into smaller calls: the output must not change.
        let step = chunk ?? frame
        var at = 0
        while at < frame {
            let n = min(step, frame - at)
            if lost.contains(f) {
                if zeros {
                    let z = [Float](repeating: 0, count: n)
                    z.withUnsafeBufferPointer { src in buffer.withUnsafeMutableBufferPointer { _ = plc.process(src, into: $0) } }
                } else {
                    buffer.withUnsafeMutableBufferPointer { _ = plc.conceal(count: n, into: $0) }
                }
            } else {
                slice[at..<(at + n)].withUnsafeBufferPointer { src in buffer.withUnsafeMutableBufferPointer { _ = plc.process(src, into: $0) } }
            }
            out += buffer[..<n]
            at += n
        }
    }
    buffer.withUnsafeMutableBufferPointer { _ = plc.finish(into: $0) }
    out += buffer[..<plc.delay]
    return Array(out[plc.delay...])
}

/// Segmental SNR (dB) over the lost frames only, against the loss-free signal.
func lostFrameSNR(_ reference: [Float], _ test: [Float], frame: Int, lost: Set<Int>) -> Double {
    var total = 0.0
    for f in lost.sorted() {
        var s = 0.0, e = 0.0
        for i in (f * frame)..<((f + 1) * frame) {
            s += Double(reference[i] * reference[i])
            e += Double((reference[i] - test[i]) * (reference[i] - test[i]))
        }
        total += min(35, max(-10, 10 * log10((s + 1e-12) / (e + 1e-12))))
    }
    return total / Double(lost.count)
}

@Suite("Loss concealment (G.711 Appendix I method)")
struct LossConcealerTests {
    @Test func withoutLossTheOutputIsTheInputDelayed() throws {
        let x = speechLike(seconds: 0.5, rate: 8000)
        let y = try concealed(x, rate: 8000, frame: 160, lost: [])
        #expect(y == x)
    }

    @Test(arguments: [8000, 16000, 48000])
    func anyChunkingGivesTheSameOutput(rate: Int) throws {
        let x = speechLike(seconds: 1, rate: rate)
        let frame = rate / 50
        var rng = SplitMix64(seed: UInt64(rate))
        let lost = Set((0..<50).filter { _ in rng.next() % 5 == 0 })
        let whole = try concealed(x, rate: rate, frame: frame, lost: lost)
        for chunk in [1, 7, frame / 3] {
            #expect(try concealed(x, rate: rate, frame: frame, lost: lost, chunk: chunk) == whole, "chunks of \(chunk)")
        }
    }

    /// A voiced sound lost for 20 ms is continued, far closer to what was lost than silence; from 60 ms on the
    /// concealment is silent; the audio that resumes is blended in without a jump.
    @Test func concealsVoicedSpeechAndFadesOut() throws {
        let rate = 8000
        let x = speechLike(seconds: 2, rate: rate, level: -12)
        var rng = SplitMix64(seed: 1)
        let lost = Set((5..<95).filter { _ in rng.next() % 10 == 0 })   // 10 % of 20 ms frames
        let plc = try concealed(x, rate: rate, frame: 160, lost: lost)
        let zero = try concealed(x, rate: rate, frame: 160, lost: lost, zeros: true)
        let ours = lostFrameSNR(x, plc, frame: 160, lost: lost), zeros = lostFrameSNR(x, zero, frame: 160, lost: lost)
        print("segmental SNR on lost frames, 10 % loss: concealment \(ours) dB, zero fill \(zeros) dB")
        #expect(ours > zeros + 3)
        // A 100 ms loss: silent from 60 ms.
        let long = try concealed(x, rate: rate, frame: 160, lost: [40, 41, 42, 43, 44])
        #expect(long[(40 * 160 + 480)..<(45 * 160)].allSatisfy { $0 == 0 })
        #expect(long[(40 * 160)..<(40 * 160 + 80)].contains { $0 != 0 })
        // No jump where the concealment starts: the step is no larger than the signal's own largest step.
        let largestStep = zip(x.dropFirst(), x).map { abs($0 - $1) }.max()!
        for f in lost {
            let i = f * 160
            #expect(abs(plc[i] - plc[i - 1]) <= largestStep * 1.5)
        }
    }

    @Test func refusesRatesItCannotConceal() {
        #expect(throws: SampleRateError.self) { try LossConcealer(sampleRate: SampleRate(hertz: 7000)) }
        #expect(throws: SampleRateError.self) { try LossConcealer(sampleRate: SampleRate(hertz: 96000)) }
    }
}

@Suite("Loss concealment allocations", .enabled(if: allocationCounting, "the allocation counter is unavailable in this build (a sanitizer owns malloc)"))
struct LossConcealerAllocationTests {
    @Test func nothingAllocatedPerFrame() throws {
        var plc = try LossConcealer(sampleRate: .hz16000)
        let x = speechLike(seconds: 0.02, rate: 16000)
        var out = [Float](repeating: 0, count: 320)
        func round(_ k: Int) {
            x.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { _ = plc.process(src, into: $0) } }
            if k % 3 == 0 { out.withUnsafeMutableBufferPointer { _ = plc.conceal(count: 320, into: $0) } }
        }
        for k in 0..<20 { round(k) }
        let count = allocations { for k in 0..<100 { round(k) } }
        #expect(count == 0)
    }
}
