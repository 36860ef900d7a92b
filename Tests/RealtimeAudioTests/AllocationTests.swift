import MallocCounter
import Testing
@testable import RealtimeAudio

/// Heap allocations `body` makes on this thread (-1 where counting is unavailable).
func allocations(_ body: () throws -> Void) rethrows -> Int {
    malloc_counter_start()
    try body()
    return malloc_counter_stop()
}

/// Whether this build can count allocations: sanitizer builds interpose malloc themselves, and the suite is then
/// reported skipped, not passed.
let allocationCounting: Bool = {
    malloc_counter_start()
    return malloc_counter_stop() >= 0
}()

/// The per-chunk path allocates nothing in steady state: every stream processor, after a warm-up, over 100 chunks
/// of 20 ms, and through the rest of its life (finish, reset, speed changes). (The benchmarks count the same with
/// package-benchmark; this is the check CI runs.)
@Suite("Allocations per chunk", .enabled(if: allocationCounting, "the allocation counter is unavailable in this build (a sanitizer owns malloc)"))
struct AllocationTests {
    @Test("the counter sees an allocation when there is one")
    func counterWorks() throws {
        let count = allocations { _ = [Int](repeating: 1, count: 1000 + Int.random(in: 0...1)) }
        #expect(count >= 1)
    }

    /// Runs `chunk` 20 times to warm up, then counts 100 more.
    func steady(_ name: String, _ chunk: () throws -> Void) rethrows {
        for _ in 0..<20 { try chunk() }
        let count = try allocations { for _ in 0..<100 { try chunk() } }
        #expect(count == 0, "\(name): \(count) allocations in 100 chunks")
    }

    /// Counts what `body` allocates once (after the stream has been warmed by the caller).
    func once(_ name: String, _ body: () throws -> Void) rethrows {
        let count = try allocations(body)
        #expect(count == 0, "\(name): \(count) allocations")
    }

    @Test("the rest of a stream's life allocates nothing: finish, reset, a new response, speed changes")
    func lifecycle() throws {
        let voice = speechLike(seconds: 1, rate: 24000)
        var floats = [Float](repeating: 0, count: 16384)
        // Resampler: finish, reset, and chunks after them.
        var resampler = try Resampler(from: .hz24000, to: .hz8000)
        func resample() {
            _ = voice[0..<480].withUnsafeBufferPointer { src in floats.withUnsafeMutableBufferPointer { resampler.process(src, into: $0) } }
        }
        for _ in 0..<10 { resample() }
        try once("resampler finish, reset, 10 chunks") {
            _ = floats.withUnsafeMutableBufferPointer { resampler.finish(into: $0) }
            resampler.reset()
            for _ in 0..<10 { resample() }
        }
        // Speed scaler: speed changes mid-stream, finish, reset.
        var scaler = try SpeedScaler(sampleRate: .hz24000, speed: 1.25)
        func stretch() {
            voice[0..<480].withUnsafeBufferPointer { src in
                var rest = src
                while !rest.isEmpty {
                    rest = UnsafeBufferPointer(rebasing: rest[floats.withUnsafeMutableBufferPointer { scaler.process(rest, into: $0) }.consumed...])
                }
            }
        }
        for _ in 0..<10 { stretch() }
        try once("speed scaler: 0.5, 1.5, finish, reset") {
            try scaler.setSpeed(0.5)
            for _ in 0..<10 { stretch() }
            try scaler.setSpeed(1.5)
            for _ in 0..<10 { stretch() }
            _ = floats.withUnsafeMutableBufferPointer { scaler.finish(into: $0) }
            scaler.reset()
            for _ in 0..<10 { stretch() }
        }
        // Detector: a turn, its end at finish, reset.
        var vad = try ServerVAD(sampleRate: .hz24000)
        let turn = silence(0.5, rate: 24000) + voice + silence(1, rate: 24000)
        func detect() {
            turn.withUnsafeBufferPointer { src in
                var rest = src
                while !rest.isEmpty { rest = UnsafeBufferPointer(rebasing: rest[vad.process(rest).consumed...]) }
            }
        }
        detect()
        try once("server VAD: a whole turn, finish, reset, another turn") {
            detect()
            _ = vad.finish()
            vad.reset()
            detect()
        }
        // Pipelines: a response finished, a speed change, an interruption; the inbound stream finished and cleared.
        var inbound = try InboundAudio(format: .g711_ulaw)
        var outbound = try OutboundAudio(format: .g711_ulaw)
        var events = InboundEvents()
        let caller = G711.muLaw.encode(speechLike(seconds: 1, rate: 8000))
        let model = PCM16.encode(voice)
        var toModel = [UInt8](repeating: 0, count: inbound.maximumOutputBytes)
        var toCaller = [UInt8](repeating: 0, count: outbound.maximumOutputBytes)
        func chunk(_ c: Int) throws {
            let i = c % 50 * 160, o = c % 25 * 960
            _ = try caller[i..<(i + 160)].withUnsafeBufferPointer { src in
                try toModel.withUnsafeMutableBufferPointer { try inbound.append(src, into: $0, events: &events) }
            }
            _ = try model[o..<(o + 960)].withUnsafeBufferPointer { src in
                try toCaller.withUnsafeMutableBufferPointer { try outbound.append(src, into: $0) }
            }
        }
        for c in 0..<20 { try chunk(c) }
        try once("pipelines: finish, setSpeed, interrupt, finish, reset") {
            _ = try toCaller.withUnsafeMutableBufferPointer { try outbound.finish(into: $0) }
            try outbound.setSpeed(0.75)
            for c in 0..<10 { try chunk(c) }
            _ = outbound.interrupt(playedSamples: 800)
            for c in 0..<10 { try chunk(c) }
            _ = try toModel.withUnsafeMutableBufferPointer { try inbound.finish(into: $0, events: &events) }
            inbound.reset()
            for c in 0..<10 { try chunk(c) }
        }
        // The stream-shaped calls: the inbound pipeline's events kept in the pipeline, the outbound's chain.
        try once("pipelines through AudioStream: process, finish, reset") {
            for c in 0..<60 {
                let i = c % 50 * 160, o = c % 25 * 960
                _ = try caller[i..<(i + 160)].withUnsafeBufferPointer { src in
                    try toModel.withUnsafeMutableBufferPointer { try inbound.process(src, into: $0) }
                }
                _ = try model[o..<(o + 960)].withUnsafeBufferPointer { src in
                    try toCaller.withUnsafeMutableBufferPointer { try outbound.process(src, into: $0) }
                }
            }
            _ = try toModel.withUnsafeMutableBufferPointer { try inbound.finish(into: $0) }
            _ = try toCaller.withUnsafeMutableBufferPointer { try outbound.finish(into: $0) }
            outbound.reset()
            inbound.reset()
        }
    }

    @Test("codecs, resampler, VAD, speed scaler and both pipelines: 0 allocations per chunk")
    func zeroAllocations() throws {
        let voice = speechLike(seconds: 1, rate: 24000) + silence(1, rate: 24000)
        var codes = [UInt8](repeating: 0, count: 160), floats = [Float](repeating: 0, count: 4096)
        var bytes = [UInt8](repeating: 0, count: 8192), text = [UInt8](repeating: 0, count: 8192)
        var index = 0
        func next(_ n: Int) -> ArraySlice<Float> {
            let start = (index * n) % (voice.count - n)
            index += 1
            return voice[start..<(start + n)]
        }
        try steady("µ-law") {
            next(160).withUnsafeBufferPointer { src in codes.withUnsafeMutableBufferPointer { G711.muLaw.encode(src, into: $0) } }
            codes.withUnsafeBufferPointer { src in floats.withUnsafeMutableBufferPointer { G711.muLaw.decode(src, into: UnsafeMutableBufferPointer(rebasing: $0[..<160])) } }
        }
        try steady("pcm16 + base64") {
            let n = next(480).withUnsafeBufferPointer { src in bytes.withUnsafeMutableBufferPointer { PCM16.encode(src, into: $0) } }
            let t = bytes.withUnsafeBufferPointer { src in text.withUnsafeMutableBufferPointer { Base64.encode(UnsafeBufferPointer(rebasing: src[..<n]), into: $0) } }
            _ = try text.withUnsafeBufferPointer { src in try bytes.withUnsafeMutableBufferPointer { try Base64.decode(UnsafeBufferPointer(rebasing: src[..<t]), into: $0) } }
        }
        for (input, output, quality) in [(8000, 24000, ResamplerQuality.voice), (24000, 8000, .voice),
                                         (44100, 24000, .voice), (48000, 24000, .voice),
                                         (8000, 24000, .high), (24000, 8000, .high), (48000, 24000, .high),
                                         (44100, 8000, .voice)] {
            var resampler = try Resampler(from: SampleRate(hertz: input), to: SampleRate(hertz: output), quality: quality)
            let signal = speechLike(seconds: 0.5, rate: input)
            var position = 0
            try steady("resampler \(input)->\(output) \(quality)") {
                let n = input / 50
                if position + n > signal.count { position = 0 }
                _ = signal[position..<(position + n)].withUnsafeBufferPointer { src in floats.withUnsafeMutableBufferPointer { resampler.process(src, into: $0) } }
                position += n
            }
        }
        var vad = try ServerVAD(sampleRate: .hz24000)
        try steady("server VAD") {
            next(480).withUnsafeBufferPointer { src in
                var rest = src
                while !rest.isEmpty { rest = UnsafeBufferPointer(rebasing: rest[vad.process(rest).consumed...]) }
            }
        }
        for speed in [0.5, 1.25] {
            var scaler = try SpeedScaler(sampleRate: .hz24000, speed: speed)
            try steady("speed \(speed)") {
                next(480).withUnsafeBufferPointer { src in
                    var rest = src
                    while !rest.isEmpty {
                        rest = UnsafeBufferPointer(rebasing: rest[floats.withUnsafeMutableBufferPointer { scaler.process(rest, into: $0) }.consumed...])
                    }
                }
            }
        }
        var events = InboundEvents()
        let caller = G711.muLaw.encode(speechLike(seconds: 1, rate: 8000) + silence(1, rate: 8000))
        let model = PCM16.encode(speechLike(seconds: 1, rate: 24000))
        // Both model rates a session may name: 24 kHz, and 16 kHz for the models that take it.
        for (modelRate, label) in [(SampleRate.hz24000, "full-duplex session"), (.hz16000, "full-duplex session, 16 kHz model")] {
            var inbound = try InboundAudio(format: .g711_ulaw, modelRate: modelRate)
            var outbound = try OutboundAudio(format: .g711_ulaw, speed: 1.25, modelRate: modelRate)
            let reply = modelRate == .hz24000 ? model : PCM16.encode(speechLike(seconds: 1, rate: modelRate.hertz))
            let delta = 2 * modelRate.hertz / 50
            var toModel = [UInt8](repeating: 0, count: inbound.maximumOutputBytes)
            var toCaller = [UInt8](repeating: 0, count: outbound.maximumOutputBytes)
            var c = 0
            try steady(label) {
                let i = c % 50 * 160, o = c % 25 * delta
                c += 1
                _ = try caller[i..<(i + 160)].withUnsafeBufferPointer { src in
                    try toModel.withUnsafeMutableBufferPointer { try inbound.append(src, into: $0, events: &events) }
                }
                _ = try reply[o..<(o + delta)].withUnsafeBufferPointer { src in
                    try toCaller.withUnsafeMutableBufferPointer { try outbound.append(src, into: $0) }
                }
            }
        }
        // The safe entry points: arrays and base64 strings in, an array out kept between chunks.
        var inbound2 = try InboundAudio(format: .g711_ulaw)
        var outbound2 = try OutboundAudio(format: .g711_ulaw, speed: 1.25)
        let packets = (0..<50).map { Array(caller[($0 * 160)..<($0 * 160 + 160)]) }
        let deltas = (0..<25).map { Base64.encode(Array(model[($0 * 960)..<($0 * 960 + 960)])) }
        var modelBytes: [UInt8] = [], callerBytes: [UInt8] = []
        var d = 0
        try steady("full-duplex session, safe entry points") {
            modelBytes.removeAll(keepingCapacity: true)
            callerBytes.removeAll(keepingCapacity: true)
            try inbound2.append(packets[d % 50], to: &modelBytes, events: &events)
            try outbound2.append(base64: deltas[d % 25], to: &callerBytes)
            d += 1
        }
    }
}
