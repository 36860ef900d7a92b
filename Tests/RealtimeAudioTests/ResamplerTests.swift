import Foundation
import Testing
@testable import RealtimeAudio

/// Least-squares fit of `a cos(wn) + b sin(wn)` at a known frequency; returns the fitted amplitude and the power
/// of everything else (distortion, noise, aliases) relative to the fitted tone, in dB.
func fitTone(_ y: ArraySlice<Float>, frequency: Double, rate: Double, firstIndex: Int) -> (amplitude: Double, residualDB: Double, phase: Double) {
    var cc = 0.0, ss = 0.0, cs = 0.0, yc = 0.0, ys = 0.0
    let w = 2 * Double.pi * frequency / rate
    for (i, v) in zip(firstIndex..., y) {
        let c = cos(w * Double(i)), s = sin(w * Double(i))
        cc += c * c; ss += s * s; cs += c * s
        yc += Double(v) * c; ys += Double(v) * s
    }
    let det = cc * ss - cs * cs
    let a = (yc * ss - ys * cs) / det, b = (ys * cc - yc * cs) / det
    var residual = 0.0
    for (i, v) in zip(firstIndex..., y) {
        let e = Double(v) - a * cos(w * Double(i)) - b * sin(w * Double(i))
        residual += e * e
    }
    let amplitude = (a * a + b * b).squareRoot()
    let residualPower = residual / Double(y.count)
    return (amplitude, 10 * log10(max(residualPower, 1e-30) / (amplitude * amplitude / 2)), atan2(-b, a))
}

func sine(_ frequency: Double, rate: Int, count: Int, amplitude: Double = 0.5, phase: Double = 0) -> [Float] {
    (0..<count).map { Float(amplitude * cos(2 * .pi * frequency * Double($0) / Double(rate) + phase)) }
}

func resampleWhole(_ x: [Float], from: Int, to: Int, quality: ResamplerQuality = .voice) throws -> [Float] {
    var r = try Resampler(from: SampleRate(hertz: from), to: SampleRate(hertz: to), quality: quality)
    return r.convert(x)
}

@Suite("Resampler")
struct ResamplerTests {
    static let rates = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000]
    static let pairs: [(Int, Int)] = rates.flatMap { a in rates.filter { $0 != a }.map { (a, $0) } }

    @Test("every rate pair: exact length, no delay, a clean in-band tone", arguments: pairs)
    func everyPair(input: Int, output: Int) throws {
        try expectCleanTone(input: input, output: output, quality: .voice, at: 0.31, phase: 0.4, thdLimit: -95)
    }

    @Test("every rate pair at high: exact length, no delay, a clean tone near the passband edge", arguments: pairs)
    func everyPairHigh(input: Int, output: Int) throws {
        // The FFT plans differ by pair (one to eight streams and phases, both packings, transforms of 32 to 512
        // points) and large downsamplings run a prestage: each must still give the filter's response.
        try expectCleanTone(input: input, output: output, quality: .high, at: 0.83, phase: 1.1, thdLimit: -125)
    }

    /// A tone at `at` of the fold through a whole conversion: `round(n × out / in)` samples, output sample k the tone
    /// at time k / outRate (the same phase as the input: no delay), its level within the ±0.1 dB passband, and
    /// nothing else above `thdLimit` dB.
    private func expectCleanTone(input: Int, output: Int, quality: ResamplerQuality, at fraction: Double,
                                 phase: Double, thdLimit: Double) throws {
        let f = fraction * Double(min(input, output)) / 2 + 13
        let n = input / 2 + 123
        let y = try resampleWhole(sine(f, rate: input, count: n, phase: phase), from: input, to: output, quality: quality)
        #expect(y.count == Int((Double(n) * Double(output) / Double(input)).rounded()))
        let margin = output / 20
        let fit = fitTone(y[margin..<(y.count - margin)], frequency: f, rate: Double(output), firstIndex: margin)
        var phaseError = fit.phase - phase
        phaseError = atan2(sin(phaseError), cos(phaseError))
        let delaySamples = phaseError / (2 * .pi * f) * Double(output)
        let gain = 20 * log10(fit.amplitude / 0.5)
        #expect(abs(delaySamples) < 0.001, "\(input)->\(output) \(quality): delay \(delaySamples) samples")
        #expect(abs(gain) <= 0.1, "\(input)->\(output) \(quality): gain \(gain) dB")
        #expect(fit.residualDB < thdLimit, "\(input)->\(output) \(quality): THD+N \(fit.residualDB) dB")
    }

    @Test("voice latency: at most 10 ms with an 8 kHz side, 5 ms when both rates are 16 kHz or more", arguments: pairs)
    func voiceLatency(input: Int, output: Int) throws {
        let r = try Resampler(from: SampleRate(hertz: input), to: SampleRate(hertz: output))
        let limit = min(input, output) >= 16000 ? 0.005 : 0.010
        #expect(r.latencySeconds <= limit, "\(input)->\(output): \(r.latencySeconds * 1000) ms")
    }

    @Test("passband: within ±0.1 dB up to the preset's edge", arguments: [
        (8000, 24000, ResamplerQuality.voice), (24000, 8000, .voice), (16000, 24000, .voice), (48000, 24000, .voice),
        (44100, 24000, .voice), (8000, 24000, .high), (24000, 8000, .high), (44100, 24000, .high), (24000, 8000, .fast),
        // Prestage chains: ÷3 (48k, 44.1k -> 8k; 48k -> 11.025k), ÷2 (32k -> 8k; 44.1k -> 11.025k), and high's ÷3.
        (48000, 8000, .voice), (44100, 8000, .voice), (48000, 11025, .voice), (32000, 8000, .voice),
        (44100, 11025, .voice), (44100, 8000, .high),
    ])
    func passbandFlatness(input: Int, output: Int, quality: ResamplerQuality) throws {
        let fold = Double(min(input, output)) / 2
        for fraction in [0.01, 0.1, 0.3, 0.5, 0.7, 0.8, quality.passbandEdge] {
            let f = fraction * fold
            let y = try resampleWhole(sine(f, rate: input, count: input / 2), from: input, to: output, quality: quality)
            let fit = fitTone(y[(output / 10)..<(y.count - output / 10)], frequency: f, rate: Double(output), firstIndex: output / 10)
            let gainDB = 20 * log10(fit.amplitude / 0.5)
            #expect(abs(gainDB) <= 0.1, "\(input)->\(output) \(quality) at \(f) Hz: \(gainDB) dB")
        }
    }

    @Test("downsampling: tones that would alias onto the passband are rejected by the preset's attenuation", arguments: [
        (24000, 8000, ResamplerQuality.voice), (48000, 24000, .voice), (44100, 24000, .voice), (44100, 16000, .voice),
        (48000, 16000, .voice), (48000, 8000, .voice), (44100, 8000, .voice), (48000, 11025, .voice), (32000, 8000, .voice),
        (24000, 8000, .high), (48000, 24000, .high), (44100, 8000, .high), (24000, 8000, .fast),
    ])
    func aliasRejection(input: Int, output: Int, quality: ResamplerQuality) throws {
        let outNyquist = Double(output) / 2
        var worst = -Double.infinity
        // Up to the input's Nyquist frequency: a prestage chain's first stage rejects the upper tones.
        for fraction in stride(from: 1.1, through: Double(input) / Double(output) - 0.05, by: 0.1) {
            let f = fraction * outNyquist
            let alias = abs(f - Double(output) * (f / Double(output)).rounded())
            guard f < 0.99 * Double(input) / 2, alias <= 0.9 * outNyquist else { continue }
            let y = try resampleWhole(sine(f, rate: input, count: input / 2), from: input, to: output, quality: quality)
            let middle = y[(output / 10)..<(y.count - output / 10)]
            let power = middle.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(middle.count)
            worst = max(worst, 10 * log10(max(power, 1e-30) / (0.25 / 2)))
        }
        #expect(worst <= -quality.stopbandAttenuation, "\(input)->\(output) \(quality): worst alias \(worst) dB")
    }

    @Test("THD+N of 997 Hz and 3001 Hz tones", arguments: [
        (8000, 24000, ResamplerQuality.voice, -105.0), (24000, 8000, .voice, -105), (44100, 24000, .voice, -105),
        (8000, 24000, .high, -130), (24000, 8000, .high, -130), (48000, 24000, .high, -130),
    ])
    func thdPlusNoise(input: Int, output: Int, quality: ResamplerQuality, limit: Double) throws {
        for f in [997.0, 3001.0] where f < 0.9 * Double(min(input, output)) / 2 {
            let y = try resampleWhole(sine(f, rate: input, count: input / 2, amplitude: 0.89), from: input, to: output, quality: quality)
            let fit = fitTone(y[(output / 10)..<(y.count - output / 10)], frequency: f, rate: Double(output), firstIndex: output / 10)
            #expect(fit.residualDB <= limit, "\(input)->\(output) \(quality) \(f) Hz: THD+N \(fit.residualDB) dB")
        }
    }

    @Test("any chunking, including 1-sample and empty chunks and tight output buffers, equals one block",
          arguments: [(8000, 24000, ResamplerQuality.voice), (24000, 8000, .voice), (44100, 24000, .voice),
                      (48000, 16000, .voice), (22050, 32000, .voice), (48000, 24000, .voice), (16000, 24000, .voice),
                      (24000, 16000, .voice),
                      // FFT convolution: one, two and three input streams, one to three output phases.
                      (8000, 24000, .high), (24000, 8000, .high), (48000, 24000, .high), (16000, 24000, .high),
                      // A ÷3 prestage ahead of the main stage (a half-band, a polyphase stage), a ÷2 prestage.
                      (48000, 8000, .voice), (44100, 8000, .voice), (32000, 8000, .voice)])
    func chunkingIsExact(input: Int, output: Int, quality: ResamplerQuality) throws {
        var rng = SplitMix64(seed: UInt64(input * 7 + output))
        let x = (0..<(input / 3)).map { _ in Float.random(in: -0.9...0.9, using: &rng) }
        let whole = try resampleWhole(x, from: input, to: output, quality: quality)
        for trial in 0..<6 {
            var r = try Resampler(from: SampleRate(hertz: input), to: SampleRate(hertz: output), quality: quality)
            var y: [Float] = []
            var offset = 0
            let maxChunk = [1, 3, 17, 160, 961, 4000][trial]
            var out = [Float](repeating: 0, count: 9000)
            while offset < x.count {
                let n = min(x.count - offset, Int.random(in: 0...maxChunk, using: &rng))
                // Odd trials give a deliberately small output buffer, so `process` must stop and resume.
                let room = trial % 2 == 1 ? Int.random(in: 0...5, using: &rng) : r.maximumOutputCount(forInput: n)
                let ready = r.readyCount(forInput: n)
                let (used, made) = x[offset..<(offset + n)].withUnsafeBufferPointer { src in
                    out.withUnsafeMutableBufferPointer { r.process(src, into: UnsafeMutableBufferPointer(rebasing: $0[..<room])) }
                }
                if trial % 2 == 0 { #expect(used == n && made == ready && made <= room) }
                y += out[..<made]
                offset += used
            }
            let tail = out.withUnsafeMutableBufferPointer { r.finish(into: $0) }
            y += out[..<tail]
            #expect(y == whole, "\(input)->\(output) \(quality) trial \(trial)")
        }
    }

    @Test("no drift: 10^8 input samples in odd chunks give exactly round(n × out / in) outputs",
          arguments: [44100, 24000, 48000])
    func noDrift(input: Int) throws {
        // 44.1k -> 24k runs the polyphase stage, 24k -> 8k the folded decimator, 48k -> 8k a ÷2 prestage first.
        let output = input == 44100 ? 24000 : 8000
        var r = try Resampler(from: SampleRate(hertz: input), to: SampleRate(hertz: output), quality: .fast)
        let chunkSizes = [881, 882, 883, 1, 4410, 127]
        let x = [Float](repeating: 0.25, count: 4410)
        var out = [Float](repeating: 0, count: 4000)
        var total = 0, fed = 0, k = 0
        let target = 100_000_000
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                while fed < target {
                    let n = min(chunkSizes[k % chunkSizes.count], target - fed)
                    k += 1
                    let expected = r.readyCount(forInput: n)
                    let (used, made) = r.process(UnsafeBufferPointer(rebasing: src[..<n]), into: dst)
                    if used != n || made != expected {
                        Issue.record("chunk \(k) after \(fed) samples: used \(used) of \(n), made \(made), expected \(expected)")
                        return
                    }
                    fed += n
                    total += made
                }
            }
        }
        // Before finish the count trails the exact ratio by the lookahead only; finish makes it exact.
        let exact = Int((Double(target) * Double(output) / Double(input)).rounded())
        #expect(exact - total == r.pendingOutputCount)
        #expect(Double(r.pendingOutputCount) <= r.latencySeconds * Double(r.outputRate.hertz) + 1)
        var tail = [Float](repeating: 0, count: r.pendingOutputCount)
        total += tail.withUnsafeMutableBufferPointer { r.finish(into: $0) }
        #expect(total == exact)
    }

    @Test("finish drains and resets; reset drops the history (barge-in)")
    func finishAndReset() throws {
        var r = try Resampler(from: .hz8000, to: .hz24000)
        let a = sine(440, rate: 8000, count: 1000), b = sine(1300, rate: 8000, count: 777)
        let first = r.convert(a)
        #expect(first.count == 3000)
        #expect(r.inputCount == 0 && r.outputCount == 0)
        let second = r.convert(b)
        #expect(second == (try resampleWhole(b, from: 8000, to: 24000)))       // nothing of `a` leaks into `b`

        var s = try Resampler(from: .hz8000, to: .hz24000)
        var out = [Float](repeating: 0, count: 5000)
        _ = a.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { s.process(src, into: $0) } }
        s.reset()
        #expect(s.convert(b) == second)
        // A finish with nothing fed writes nothing.
        var t = try Resampler(from: .hz8000, to: .hz24000)
        #expect(t.pendingOutputCount == 0)
        #expect(out.withUnsafeMutableBufferPointer { t.finish(into: $0) } == 0)
    }

    @Test("NaN and infinite samples are read as 0: they cannot poison the filter")
    func nonFiniteInput() throws {
        var x = sine(700, rate: 16000, count: 4000)
        var cleaned = x
        for i in [100, 2000, 2001, 3999] { x[i] = [Float.nan, .infinity, -.infinity, .nan][i % 4]; cleaned[i] = 0 }
        for (input, output) in [(16000, 24000), (16000, 8000), (48000, 16000), (8000, 24000), (48000, 8000)] {
            for quality in [ResamplerQuality.voice, .high] {
                let y = try resampleWhole(x, from: input, to: output, quality: quality)
                #expect(y.allSatisfy { $0.isFinite })
                #expect(y == (try resampleWhole(cleaned, from: input, to: output, quality: quality)))
            }
        }
    }

    @Test("an exact halving uses the half-band when it is shorter, and it meets the preset")
    func halfband() throws {
        let voice = try ResamplerFilter(from: .hz48000, to: .hz24000, quality: .voice)
        #expect(voice.designMethod.hasPrefix("halfband ÷2"), "\(voice.designMethod)")
        #expect(voice.multiplyAddsPerOutput < 80)
        // The design's own stopband, evaluated densely: every tap that is not zero is one of the stored odd taps.
        let design = HalfbandDesign(pass: 0.225, attenuation: ResamplerQuality.voice.designAttenuation, granule: 2)
        #expect(HalfbandDesign.stopbandLevel(design.taps, from: 0.275) <= -ResamplerQuality.voice.designAttenuation)
        #expect(design.taps.count % 2 == 0 && abs(design.taps.reduce(0, +) - 1) < 1e-12)
        // Symmetric, so linear phase: the decimator is delay compensated like the polyphase filters.
        for i in design.taps.indices { #expect(abs(design.taps[i] - design.taps[design.taps.count - 1 - i]) < 1e-12) }
    }

    @Test("the block stages compute the same convolution as the one-output polyphase stage", arguments: [
        // The dealt decimator (M = 2, 3), the folded decimator (the last one on the generic vector distance, M = 5) ...
        (24000, 8000, ResamplerQuality.voice), (48000, 16000, .high), (48000, 8000, .voice), (32000, 8000, .fast),
        (40000, 8000, .fast), (48000, 24000, .high),
        // ... and the block polyphase stage (with a copy phase for voice 8k -> 24k; L/M = 3/2, 2/3, 3/4).
        (8000, 24000, .voice), (8000, 24000, .high), (24000, 48000, .voice), (8000, 48000, .fast), (11025, 44100, .high),
        (16000, 24000, .voice), (16000, 24000, .high), (24000, 16000, .voice), (32000, 24000, .high),
    ])
    func blockStagesMatchPolyphase(input: Int, output: Int, quality: ResamplerQuality) throws {
        let filter = try ResamplerFilter(from: input, to: output, quality: quality, direct: true)
        #expect(filter.polyphase == nil && (filter.folded != nil || filter.dealt != nil) == (filter.phases == 1)
                && (filter.block != nil) == (filter.phases > 1))
        let fold = Double(min(input, output)) / 2 / Double(input)
        let bank = PolyphaseBank(inputRate: input, outputRate: output, pass: quality.passbandEdge * fold,
                                 stop: quality.stopbandEdge * fold, attenuation: quality.designAttenuation,
                                 ripple: quality.designPassRipple)
        var reference = PolyphaseStage(bank: bank)
        let x: [Float] = (0..<5000).map { i in
            let t = Double(i)
            return Float(0.5 * sin(0.37 * t) + 0.4 * sin(0.011 * t))
        }
        let room = 5000 * output / input + 64
        var expected = [Float](repeating: 0, count: room), y = [Float](repeating: 0, count: room)
        let n = x.withUnsafeBufferPointer { src in expected.withUnsafeMutableBufferPointer { reference.process(src, into: $0).produced } }
        var r = Resampler(filter: filter)
        let m = x.withUnsafeBufferPointer { src in y.withUnsafeMutableBufferPointer { r.process(src, into: $0).produced } }
        // The block stages skip the polyphase rows' trailing zero tap, so they may be ready an input sooner.
        #expect(m >= n && m <= n + max(1, 2 * output / input + 1))
        // Same taps, summed in another order: equal to float rounding.
        for k in 0..<n { #expect(abs(y[k] - expected[k]) < 2e-6, "output \(k)") }
    }

    @Test("the polyphase stage's four-output groups and its single outputs agree, around copied phases too", arguments: [
        (8000, 11025, false), (22050, 8000, false), (44100, 24000, false), (8000, 11025, true), (16000, 22050, true),
    ])
    func polyphaseGroupsAreExact(input: Int, output: Int, kaiser: Bool) throws {
        let quality = ResamplerQuality.voice
        let fold = Double(min(input, output)) / 2 / Double(input)
        let bank = PolyphaseBank(inputRate: input, outputRate: output, pass: quality.passbandEdge * fold,
                                 stop: quality.stopbandEdge * fold, attenuation: quality.designAttenuation,
                                 ripple: quality.designPassRipple, kaiserOnly: kaiser)
        // A Kaiser window cut at the input's Nyquist frequency has a phase that copies an input sample.
        #expect(bank.steps.contains { $0.impulse >= 0 } == kaiser)
        var rng = SplitMix64(seed: UInt64(input + output))
        let x = (0..<(input / 5)).map { _ in Float.random(in: -0.9...0.9, using: &rng) }
        // One block: four-output groups wherever they fit. One output per call: only single dot products.
        var whole = PolyphaseStage(bank: bank), single = PolyphaseStage(bank: bank)
        var expected = [Float](repeating: 0, count: x.count * output / input + 8)
        let n = x.withUnsafeBufferPointer { src in expected.withUnsafeMutableBufferPointer { whole.process(src, into: $0).produced } }
        var y: [Float] = [], offset = 0, one: [Float] = [0]
        // A full output still takes input, so outputs wait in the history: the calls go on until none comes.
        while true {
            let (used, made) = x[offset...].withUnsafeBufferPointer { src in one.withUnsafeMutableBufferPointer { single.process(src, into: $0) } }
            y += one[..<made]
            offset += used
            if used == 0 && made == 0 { break }
        }
        #expect(n > x.count * output / input - 64)
        #expect(y.count == n)
        let differing = y.indices.first { y[$0].bitPattern != expected[$0].bitPattern }
        #expect(differing == nil)
    }

    @Test("high's FFT convolution computes the polyphase filter's convolution, to float rounding", arguments: [
        (8000, 24000), (24000, 8000), (16000, 24000), (48000, 24000), (24000, 16000), (24000, 48000), (48000, 16000),
        (32000, 24000),
    ])
    func convolutionMatchesPolyphase(input: Int, output: Int) throws {
        let filter = try ResamplerFilter(from: input, to: output, quality: .high, direct: false)
        #expect(filter.fast != nil && filter.polyphase == nil && filter.folded == nil && filter.block == nil)
        let fold = Double(min(input, output)) / 2 / Double(input)
        let bank = PolyphaseBank(inputRate: input, outputRate: output, pass: 0.93 * fold, stop: 1.07 * fold,
                                 attenuation: ResamplerQuality.high.designAttenuation, ripple: ResamplerQuality.high.designPassRipple)
        var rng = SplitMix64(seed: UInt64(input + 3 * output))
        let x = (0..<(input / 4)).map { _ in Float.random(in: -0.9...0.9, using: &rng) }
        var reference = PolyphaseStage(bank: bank)
        var expected = [Float](repeating: 0, count: x.count * output / input + 64)
        let n = x.withUnsafeBufferPointer { src in expected.withUnsafeMutableBufferPointer { reference.process(src, into: $0).produced } }
        var r = Resampler(filter: filter)
        let y = r.convert(x)
        // Another order of float sums, through transforms: the error stays near float resolution (-140 dB of full
        // scale), far below the preset's -130 dB.
        var worst: Float = 0
        for k in 0..<n { worst = max(worst, abs(y[k] - expected[k])) }
        #expect(n > x.count * output / input / 2 && worst < 2e-6, "\(input)->\(output): worst difference \(worst)")
    }

    @Test("high's streaming latency at 20 ms pushes is within half of soxr HQ's", arguments: [
        (8000, 24000, 21.3), (24000, 8000, 21.3), (16000, 24000, 10.6), (48000, 24000, 10.6),
    ])
    func highStreamingLatency(input: Int, output: Int, soxrHalf: Double) throws {
        // The mean over pushes of how far the output trails the input it has been given (content is not delayed),
        // as the peers' RTlat was measured; the block frames make it saw-toothed.
        var r = try Resampler(from: SampleRate(hertz: input), to: SampleRate(hertz: output), quality: .high)
        let chunk = [Float](repeating: 0.1, count: input / 50)
        var out = [Float](repeating: 0, count: 2 * output / 50 + Int(r.latencySeconds * Double(r.outputRate.hertz)) + 8)
        var lags: [Double] = []
        for _ in 0..<200 {
            _ = chunk.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { r.process(src, into: $0) } }
            lags.append(Double(r.inputCount) / Double(input) - Double(r.outputCount) / Double(output))
        }
        let mean = lags.dropFirst(20).reduce(0, +) / Double(lags.count - 20) * 1000
        #expect(mean <= soxrHalf, "\(input)->\(output): mean lag \(mean) ms")
        #expect(lags.max()! <= r.latencySeconds + 1e-9)
    }

    @Test("filter banks are shared between resamplers of one configuration")
    func sharedFilters() throws {
        let a = try Resampler(from: .hz16000, to: .hz24000)
        let b = try Resampler(from: .hz16000, to: .hz24000)
        let c = try Resampler(from: .hz16000, to: .hz24000, quality: .high)
        #expect(a.filter === b.filter)
        #expect(a.filter !== c.filter)
        #expect(a.filter.phases == 3 && a.filter.step == 2)
    }

    @Test("bad configurations are typed errors")
    func errors() {
        #expect(throws: SampleRateError.outOfRange(0)) { try SampleRate(hertz: 0) }
        #expect(throws: SampleRateError.outOfRange(-1)) { try SampleRate(hertz: -1) }
        #expect(throws: SampleRateError.outOfRange(10_000_000)) { try SampleRate(hertz: 10_000_000) }
        #expect(throws: ResamplerError.ratioTooFine(input: 44100, output: 44101)) {
            try ResamplerFilter(from: .hz44100, to: SampleRate(hertz: 44101), quality: .voice)
        }
        #expect(throws: ResamplerError.unknownQuality("best")) { try ResamplerQuality(name: "best") }
        #expect("\(ResamplerError.unknownQuality("best"))" == "unknown resampler quality 'best' (valid: fast, voice, high)")
    }
}

/// The plan of every rate pair and preset (kernel, design, taps, stages) against `Fixtures/resampler-plans.txt`:
/// a change to the design rules or the kernel ladder shows here as the lines it moves. After a deliberate change,
/// regenerate the file with `RESAMPLER_PLANS_WRITE=1 swift test --filter goldenPlans` and review its diff.
@Suite("Resampler plans")
struct ResamplerPlanTests {
    static let rates = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000]

    // The shared banks: the filters other tests design are designed once in the process.
    @Test("every rate pair and preset keeps its kernel, design and length")
    func goldenPlans() throws {
        var lines: [String] = []
        for input in Self.rates {
            for output in Self.rates {
                for quality in ResamplerQuality.allCases {
                    let filter = try ResamplerFilter.shared(from: SampleRate(hertz: input), to: SampleRate(hertz: output), quality: quality)
                    lines.append("\(input) -> \(output) \(quality): \(filter.plan)")
                }
            }
        }
        let text = lines.joined(separator: "\n") + "\n"
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent("resampler-plans.txt")
        if ProcessInfo.processInfo.environment["RESAMPLER_PLANS_WRITE"] == "1" {
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(lines.count == golden.count)
        for (now, then) in zip(lines, golden) where now != then {
            Issue.record("plan changed:\n  was \(then)\n  now \(now)")
        }
    }
}
