import Testing
import TestSupport
import RealtimeAudio
@testable import RealtimeCarrier

/// A frame's bytes that say which frame it is.
func frameBytes(_ index: Int, count: Int = 160) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: index &* 31 &+ $0) }
}

/// Runs frames 0..<frames through a buffer, sent every 20 ms, delayed by `delay(k)` ms (in arrival order), polled
/// every millisecond; returns what came out (index, received?, when, the frame's arrival) and the depths seen.
struct JitterRun {
    var outputs: [(index: Int, received: Bool, at: Int64)] = []
    var arrivals: [Int: Int64] = [:]
    var depths: [(at: Int64, depthMs: Int)] = []
    var buffer: JitterBuffer

    init(configuration: JitterBufferConfiguration = JitterBufferConfiguration(), frames: Int, delay: (Int) -> Double) throws {
        buffer = try JitterBuffer(format: .muLaw8k, configuration: configuration)
        var schedule: [(time: Int64, index: Int)] = []
        for k in 0..<frames { schedule.append((Int64((Double(k) * 20 + delay(k)) * 1e6), k)) }
        schedule.sort { $0.time < $1.time || ($0.time == $1.time && $0.index < $1.index) }
        var next = 0
        var t: Int64 = 0
        let end = (schedule.last?.time ?? 0) + 3_000_000_000
        while t <= end {
            while next < schedule.count, schedule[next].time <= t {
                let k = schedule[next].index
                arrivals[k] = t
                frameBytes(k).withUnsafeBufferPointer { _ = buffer.insert($0, sequence: k, now: UInt64(t)) }
                next += 1
            }
            let now = t
            buffer.poll(now: UInt64(t)) { out in
                switch out {
                case .received(let bytes, let index):
                    #expect(Array(bytes) == frameBytes(index))
                    outputs.append((index, true, now))
                case .lost(let index): outputs.append((index, false, now))
                case .gap(let from, let count): for k in from..<(from + count) { outputs.append((k, false, now)) }
                }
            }
            if t % 100_000_000 == 0 { depths.append((t, buffer.depthMs)) }
            t += 1_000_000
        }
        buffer.finish { out in
            if case .lost(let index) = out { outputs.append((index, false, end)) }
        }
    }
}

@Suite("Jitter buffer")
struct JitterBufferTests {
    /// 0-120 ms of jitter, 0-20 % of frames swapped with the next: the stream comes out whole, in order; no frame
    /// that arrived before its wait ended is lost; the added delay stays within 20 ms of the depth.
    @Test(arguments: [0.0, 40, 80, 120], [0.0, 0.1, 0.2])
    func reordersAndKeepsEveryFrameInTime(jitterMs: Double, swaps: Double) throws {
        var rng = SplitMix64(seed: UInt64(jitterMs) * 7 + UInt64(swaps * 100))
        let n = 1500
        // Reordering: a frame held back 25-65 ms more, so the next one to three frames overtake it.
        let delays = (0..<n).map { _ -> Double in
            let held = Double(rng.next() % 1000) / 1000 < swaps ? 25 + Double(rng.next() % 40) : 0
            return 40 + Double(rng.next() % 1000) / 1000 * jitterMs + held
        }
        let run = try JitterRun(configuration: JitterBufferConfiguration(firstSequence: 0), frames: n, delay: { delays[$0] })
        #expect(run.outputs.map(\.index) == Array(0..<n), "not one continuous stream in order")
        var lateLost = 0, maxAdded: Int64 = 0
        for o in run.outputs {
            let arrival = run.arrivals[o.index]!
            if !o.received { lateLost += 1; continue }
            #expect(o.at >= arrival)
            maxAdded = max(maxAdded, o.at - arrival)
        }
        // Lost only if it came after its wait ended (the depth is the 99th percentile: about 1 % may).
        #expect(lateLost <= n / 50, "jitter \(jitterMs) ms, swaps \(swaps): \(lateLost) frames lost")
        let depth = Int64(run.depths.map(\.depthMs).max() ?? 0)
        #expect(maxAdded / 1_000_000 <= depth + 20 + Int64(jitterMs), "added delay \(maxAdded / 1_000_000) ms, depth \(depth) ms")
        print("jitter 0-\(Int(jitterMs)) ms, \(Int(swaps * 100)) % swapped: \(lateLost) of \(n) lost late, depth \(run.buffer.depthMs) ms, max added delay \(maxAdded / 1_000_000) ms")
    }

    /// Jitter rising from 0-10 to 0-100 ms at 10 s and falling back at 30 s: the depth follows up within 1 s and
    /// back down within 10 s.
    @Test func depthAdapts() throws {
        var rng = SplitMix64(seed: 5)
        let n = 3000   // 60 s
        let delays = (0..<n).map { k -> Double in
            let j = (500..<1500).contains(k) ? 100.0 : 10
            return 30 + Double(rng.next() % 1000) / 1000 * j
        }
        let run = try JitterRun(frames: n, delay: { delays[$0] })
        func depth(at seconds: Double) -> Int { run.depths.last { Double($0.at) / 1e9 <= seconds }!.depthMs }
        #expect(depth(at: 9.9) <= 30)
        #expect(depth(at: 11) >= 90, "depth 1 s after the jitter rose: \(depth(at: 11)) ms")
        #expect(depth(at: 29.9) >= 90)
        #expect(depth(at: 40.0) <= 30, "depth 10 s after the jitter fell: \(depth(at: 40.0)) ms")
        let lost = run.outputs.filter { !$0.received }.count
        #expect(lost <= 40, "\(lost) lost late")
    }

    @Test func fixedDepthWaitsExactlyThatLong() throws {
        let run = try JitterRun(configuration: JitterBufferConfiguration(fixedDepthMs: 60), frames: 100, delay: { $0 == 50 ? 1000 : 30 })
        let lost = run.outputs.first { $0.index == 50 }!
        #expect(!lost.received)
        // Frame 50 was expected at 50 x 20 + 30 ms: reported lost 60 ms later.
        let reportedMs: Double = Double(lost.at) / 1e6
        #expect(abs(reportedMs - 1090) <= 2)
        #expect(run.buffer.statistics.late == 1)
    }

    @Test func duplicatesWrongSizesAndLateFramesAreCountedNotPlayed() throws {
        var buffer = try JitterBuffer(format: .muLaw8k)
        var out: [Int] = []
        func poll(_ t: UInt64) { buffer.poll(now: t) { if case .received(_, let i) = $0 { out.append(i) } else if case .lost(let i) = $0 { out.append(-i) } } }
        frameBytes(0).withUnsafeBufferPointer { #expect(buffer.insert($0, sequence: 0, now: 0) == .accepted) }
        frameBytes(0).withUnsafeBufferPointer { #expect(buffer.insert($0, sequence: 0, now: 1) == .duplicate) }   // queued
        poll(2)
        frameBytes(0).withUnsafeBufferPointer { #expect(buffer.insert($0, sequence: 0, now: 3) == .late) }   // handed on
        frameBytes(2).withUnsafeBufferPointer { #expect(buffer.insert($0, sequence: 2, now: 40_000_000) == .accepted) }
        frameBytes(2).withUnsafeBufferPointer { #expect(buffer.insert($0, sequence: 2, now: 41_000_000) == .duplicate) }
        [UInt8](repeating: 0, count: 159).withUnsafeBufferPointer { #expect(buffer.insert($0, sequence: 3, now: 42_000_000) == .wrongSize(159)) }
        poll(1_000_000_000)
        frameBytes(1).withUnsafeBufferPointer { #expect(buffer.insert($0, sequence: 1, now: 1_000_000_001) == .late) }
        #expect(out == [0, -1, 2])
        #expect(buffer.statistics == JitterStatistics(received: 2, duplicates: 2, late: 2, wrongSize: 1, reordered: 0, lost: 1, skipped: 0))
    }

    /// 16-bit RTP sequence numbers wrap: the stream goes on across the wrap.
    @Test func sequenceNumbersWrap() throws {
        let configuration = JitterBufferConfiguration(sequenceModulus: 65536)
        var buffer = try JitterBuffer(format: .muLaw8k, configuration: configuration)
        var out: [Int] = []
        for k in 0..<200 {
            let seq = (65436 + k) % 65536
            frameBytes(k).withUnsafeBufferPointer { _ = buffer.insert($0, sequence: seq, now: UInt64(k) * 20_000_000) }
            buffer.poll(now: UInt64(k) * 20_000_000) { if case .received(let b, let i) = $0 { #expect(Array(b) == frameBytes(i - 65436)); out.append(i) } }
        }
        #expect(out == Array(65436..<(65436 + 200)))
    }

    /// A stream that jumps far ahead: the first frames of the hole are reported lost one by one, the rest as one
    /// gap, and memory stays what it was; a jump back far is late.
    @Test func farJumpsAndLongLosses() throws {
        var buffer = try JitterBuffer(format: .muLaw8k, configuration: JitterBufferConfiguration(maximumLostFrames: 10))
        var lost = 0, gap = 0, received: [Int] = []
        func poll(_ t: UInt64) {
            buffer.poll(now: t) { o in
                switch o {
                case .received(_, let i): received.append(i)
                case .lost: lost += 1
                case .gap(_, let c): gap += c
                }
            }
        }
        frameBytes(0).withUnsafeBufferPointer { _ = buffer.insert($0, sequence: 0, now: 0) }
        poll(0)
        frameBytes(1_000_000).withUnsafeBufferPointer { _ = buffer.insert($0, sequence: 1_000_000, now: 20_000_000) }
        poll(20_000_000)
        poll(30_000_000_000)
        #expect(received == [0, 1_000_000])
        #expect(lost == 10 && lost + gap == 999_999)
        frameBytes(5).withUnsafeBufferPointer { #expect(buffer.insert($0, sequence: 5, now: 30_000_000_001) == .late) }
        // A stream that ends inside a loss: finish reports nothing past the last frame received.
        var after = 0
        buffer.finish { _ in after += 1 }
        #expect(after == 0)
    }

    /// Every arrival order of the same frames gives the same output (streaming exactness).
    @Test func anyArrivalOrderSameStream() throws {
        var rng = SplitMix64(seed: 9)
        for _ in 0..<20 {
            var buffer = try JitterBuffer(format: .muLaw8k, configuration: JitterBufferConfiguration(fixedDepthMs: 200, firstSequence: 0))
            var order = Array(0..<50)
            // Shuffle within windows of 5 (a reordering network).
            for w in stride(from: 0, to: 50, by: 5) { order[w..<(w + 5)].shuffle(using: &rng) }
            var out: [Int] = []
            for (k, i) in order.enumerated() {
                frameBytes(i).withUnsafeBufferPointer { _ = buffer.insert($0, sequence: i, now: UInt64(k) * 20_000_000) }
                buffer.poll(now: UInt64(k) * 20_000_000) { if case .received(_, let i) = $0 { out.append(i) } }
            }
            buffer.finish { if case .received(_, let i) = $0 { out.append(i) } }
            #expect(out == Array(0..<50))
        }
    }
}
