import Testing
@testable import RealtimeAudio

/// The class "every loop in every stream terminates": every rate pair from 8 kHz to 384 kHz both ways, every
/// preset, `process` with random chunkings and random output sizes (down to one sample) and `finish`, against the
/// same signal converted in one block. A call that neither consumes nor produces while it has both input and room
/// is a stuck stream: the driver fails the test instead of spinning, so a regression cannot hang `make test`.
@Suite("Termination")
struct TerminationTests {
    static let rates = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000, 384000]
    static let pairs: [(Int, Int)] = rates.flatMap { a in rates.map { (a, $0) } }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    enum Outcome: Error, CustomStringConvertible {
        case stuck(String)
        var description: String { switch self { case .stuck(let what): "stuck: \(what)" } }
    }

    /// Drives `resampler` through `input` in chunks of `chunk()` samples with output buffers of `room()` samples,
    /// then `finish`; returns the output. Every call must make progress; every buffer of at least
    /// `maximumOutputCount(forInput:)` must take the whole chunk.
    static func drive(_ resampler: inout Resampler, _ input: [Float], chunk: () -> Int, room: () -> Int,
                      label: String) throws -> [Float] {
        var out: [Float] = []
        var scratch: [Float] = []
        var at = 0
        while at < input.count {
            let n = min(input.count - at, max(1, chunk()))
            let capacity = resampler.maximumOutputCount(forInput: n)
            if scratch.count < capacity { scratch = [Float](repeating: 0, count: capacity) }
            var rest = n
            // The first call of a chunk gets its declared capacity, the calls after it random smaller rooms.
            var roomNow = capacity
            while rest > 0 {
                let (used, made) = input.withUnsafeBufferPointer { src in
                    scratch.withUnsafeMutableBufferPointer { dst in
                        resampler.process(UnsafeBufferPointer(rebasing: src[at..<(at + rest)]),
                                          into: UnsafeMutableBufferPointer(rebasing: dst[..<roomNow]))
                    }
                }
                if roomNow == capacity, used != rest {
                    throw Outcome.stuck("\(label): maximumOutputCount(forInput: \(rest)) = \(capacity) left \(rest - used) unconsumed")
                }
                if used == 0, made == 0 {
                    throw Outcome.stuck("\(label): no progress with \(rest) inputs and room \(roomNow)")
                }
                out += scratch[..<made]
                at += used
                rest -= used
                roomNow = min(capacity, max(1, room()))
                // In every state: what `finish` would owe fits its bound.
                if resampler.pendingOutputCount > resampler.maximumOutputCount(forInput: 0) {
                    throw Outcome.stuck("\(label): \(resampler.pendingOutputCount) owed after a call, the bound at 0 \(resampler.maximumOutputCount(forInput: 0))")
                }
            }
        }
        let owed = resampler.pendingOutputCount
        if owed > resampler.maximumOutputCount(forInput: 0) {
            throw Outcome.stuck("\(label): \(owed) owed at the end, the bound at 0 \(resampler.maximumOutputCount(forInput: 0))")
        }
        var tail = [Float](repeating: 0, count: resampler.maximumOutputCount(forInput: 0))
        let n = tail.withUnsafeMutableBufferPointer { resampler.finish(into: $0) }
        return out + tail[..<n]
    }

    @Test("every pair 8 kHz to 384 kHz, every preset: random chunkings and output sizes terminate and equal one block",
          arguments: ResamplerQuality.allCases)
    func sweep(quality: ResamplerQuality) throws {
        // A fixed seed per preset (hashValue is randomized per process).
        var g = SplitMix64(seed: UInt64(ResamplerQuality.allCases.firstIndex(of: quality)!) &+ 7)
        for (a, b) in Self.pairs {
            let label = "\(a)->\(b) \(quality)"
            // 60 ms, and at least a few hundred inputs, so every stage's frames and slices are crossed.
            let n = max(600, a * 6 / 100)
            let x: [Float] = (0..<n).map { i in Float.random(in: -0.5...0.5, using: &g) * (i % 97 == 0 ? 1.9 : 1) }
            // The documented rule: a pair is refused exactly when its reduced ratio needs more than
            // `maximumPhases` phases (output rate over the greatest common divisor).
            let phases = b / Self.gcd(a, b)
            let made: Resampler
            do {
                made = try Resampler(from: SampleRate(hertz: a), to: SampleRate(hertz: b), quality: quality)
            } catch let error as ResamplerError {
                #expect(error == .ratioTooFine(input: a, output: b) && phases > ResamplerFilter.maximumPhases, "\(label): \(error)")
                continue
            }
            #expect(phases <= ResamplerFilter.maximumPhases, "\(label) accepted with \(phases) phases")
            var whole = made
            let reference = whole.convert(x)
            #expect(reference.count == Int((Double(n) * Double(b) / Double(a)).rounded()), "\(label)")
            var r = made
            let chunks = [1, 7, 160, 480, 1023]
            let y = try Self.drive(&r, x, chunk: { Bool.random(using: &g) ? chunks.randomElement(using: &g)! : Int.random(in: 1...2000, using: &g) },
                                   room: { Bool.random(using: &g) ? Int.random(in: 1...8, using: &g) : Int.random(in: 1...3000, using: &g) },
                                   label: label)
            #expect(y == reference, "\(label): chunked output differs (\(y.count) against \(reference.count))")
            // Reused after finish: a second stream gives the same output again.
            let again = try Self.drive(&r, x, chunk: { 480 }, room: { 1 }, label: label + " second stream")
            #expect(again == reference, "\(label): second stream differs")
        }
    }

    @Test("the speed scaler at every speed and rate: random chunkings and rooms terminate, equal one block, and the bounds hold")
    func speedSweep() throws {
        var g = SplitMix64(seed: 99)
        for rate in [8000, 24000, 48000] {
            for speed in [0.25, 0.5, 0.77, 1.0, 1.25, 1.5] {
                let label = "\(rate) Hz at \(speed)"
                let x: [Float] = speechLike(seconds: 0.4, rate: rate, level: -20, seed: UInt64(rate))
                var whole = try SpeedScaler(sampleRate: SampleRate(hertz: rate), speed: speed)
                let reference = whole.stretch(x)
                var s = try SpeedScaler(sampleRate: SampleRate(hertz: rate), speed: speed)
                var out: [Float] = []
                var scratch = [Float](repeating: 0, count: s.maximumOutputCount(forInput: 4000))
                var at = 0
                while at < x.count {
                    let n = min(x.count - at, Int.random(in: 1...4000, using: &g))
                    var rest = n
                    // Half the chunks start with a small room, so `process` stops and resumes.
                    var first = Bool.random(using: &g)
                    while rest > 0 {
                        let room = first ? s.maximumOutputCount(forInput: rest) : Int.random(in: 1...400, using: &g)
                        let (used, made) = x.withUnsafeBufferPointer { src in
                            scratch.withUnsafeMutableBufferPointer { dst in
                                s.process(UnsafeBufferPointer(rebasing: src[at..<(at + rest)]), into: UnsafeMutableBufferPointer(rebasing: dst[..<room]))
                            }
                        }
                        if first, used != rest { throw Outcome.stuck("\(label): maximumOutputCount left \(rest - used) unconsumed") }
                        if used == 0, made == 0 { throw Outcome.stuck("\(label): no progress") }
                        out += scratch[..<made]
                        at += used
                        rest -= used
                        first = false
                    }
                }
                #expect(s.pendingOutputCount <= s.maximumOutputCount(forInput: 0), "\(label)")
                var tail = [Float](repeating: 0, count: s.maximumOutputCount(forInput: 0))
                let n = tail.withUnsafeMutableBufferPointer { s.finish(into: $0) }
                #expect(out + tail[..<n] == reference, "\(label)")
            }
        }
    }
}


extension TerminationTests {
    @Test("README's resampler loop (a buffer sized once with maximumOutputCount, one process call per 20 ms chunk) loses nothing, in every preset",
          arguments: ResamplerQuality.allCases)
    func readmeLoopLosesNothing(quality: ResamplerQuality) throws {
        for (a, b) in [(24000, 8000), (48000, 16000), (44100, 24000), (96000, 8000), (8000, 24000)] {
            let chunk = a / 50
            let x = speechLike(seconds: 5.75, rate: a, level: -20, seed: 3)
            var whole = try Resampler(from: SampleRate(hertz: a), to: SampleRate(hertz: b), quality: quality)
            let reference = whole.convert(x)
            var r = try Resampler(from: SampleRate(hertz: a), to: SampleRate(hertz: b), quality: quality)
            var out = [Float](repeating: 0, count: r.maximumOutputCount(forInput: chunk))
            #expect(out.count > 0, "\(a)->\(b) \(quality): a capacity of 0")
            var y: [Float] = []
            var partial = 0
            for start in stride(from: 0, to: x.count, by: chunk) {
                let piece = x[start..<min(x.count, start + chunk)]
                let (consumed, produced) = piece.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { r.process(src, into: $0) } }
                if consumed != piece.count { partial += 1 }
                y += out[..<produced]
            }
            var tail = [Float](repeating: 0, count: r.maximumOutputCount(forInput: 0))
            y += tail[..<tail.withUnsafeMutableBufferPointer { r.finish(into: $0) }]
            #expect(partial == 0, "\(a)->\(b) \(quality): \(partial) chunks partly unconsumed")
            #expect(y == reference, "\(a)->\(b) \(quality)")
        }
    }
}

extension TerminationTests {
    /// LeakSanitizer, under the `resampler` fuzz target, reports the banks inside a chain's second stage as lost at
    /// exit. It cannot see pointers whose spare bits hold an enum's tag (llvm/llvm-project#56751), as the chain's
    /// `.chain(pre:next:)` payload does. Weak references settle it: once the last resampler goes, every filter and
    /// bank of a chain is freed.
    @Test("a chain's filters and banks are freed with their last resampler (no leak, whatever LeakSanitizer says)")
    func chainsAreFreed() throws {
        weak var outer: ResamplerFilter?
        weak var inner: ResamplerFilter?
        weak var prestage: DealtDecimatorBank?
        var chains = 0
        for (a, b, quality) in [(96000, 8000, ResamplerQuality.high), (192000, 12000, .voice), (44100, 8000, .voice),
                                (384000, 11025, .fast), (176400, 16000, .high)] {
            do {
                let filter = try ResamplerFilter(from: a, to: b, quality: quality, direct: false)   // uncached: only we hold it
                var r = Resampler(filter: filter)
                _ = r.convert([Float](repeating: 0.25, count: a / 10))
                outer = filter
                if case .chain(let pre, let next) = filter.stage {
                    chains += 1
                    inner = next
                    prestage = pre
                }
            }
            #expect(outer == nil && inner == nil && prestage == nil, "\(a)->\(b) \(quality): a filter outlived its resampler")
        }
        #expect(chains == 5)
    }
}
