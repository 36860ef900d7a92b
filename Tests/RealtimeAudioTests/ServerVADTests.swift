import Foundation
import Testing
@testable import RealtimeAudio

func vadEvents(_ x: [Float], rate: Int, configuration: ServerVADConfiguration = .default) throws -> [TurnEvent] {
    var vad = try ServerVAD(sampleRate: SampleRate(hertz: rate), configuration: configuration)
    return vad.events(in: x)
}

@Suite("ServerVAD")
struct ServerVADTests {
    @Test("event arithmetic: audio_start_ms = onset - prefix padding, audio_end_ms = end + silence duration")
    func eventArithmetic() throws {
        let rate = 16000
        let x = silence(1, rate: rate) + speechLike(seconds: 1.2, rate: rate) + silence(1.5, rate: rate)
        for (prefix, silenceMs) in [(300, 500), (0, 200), (500, 800)] {
            let config = try ServerVADConfiguration(prefixPaddingMs: prefix, silenceDurationMs: silenceMs)
            let events = try vadEvents(x, rate: rate, configuration: config)
            #expect(events.count == 2)
            guard case .speechStarted(let start, let startedAt)? = events.first,
                  case .speechStopped(let end, let stoppedAt)? = events.last else {
                Issue.record("expected start then stop, got \(events)")
                continue
            }
            #expect(abs(start - (1000 - prefix)) <= 20, "audio_start_ms \(start) for prefix \(prefix)")
            #expect(abs(end - (2200 + silenceMs)) <= 20, "audio_end_ms \(end) for silence \(silenceMs)")
            #expect(stoppedAt == end)
            #expect(startedAt - (start + prefix) <= 100, "detection delay \(startedAt - start - prefix) ms")
        }
    }

    @Test("audio_start_ms is clamped at 0 when speech starts within the prefix padding")
    func clampsAtZero() throws {
        let x = silence(0.1, rate: 8000) + speechLike(seconds: 1, rate: 8000) + silence(1, rate: 8000)
        let events = try vadEvents(x, rate: 8000)
        guard case .speechStarted(let start, _)? = events.first else { Issue.record("no start: \(events)"); return }
        #expect(start == 0)
    }

    @Test("a 300 ms pause does not end a turn; a 700 ms one does")
    func pauses() throws {
        let rate = 24000
        let speech = speechLike(seconds: 0.8, rate: rate)
        let short = silence(0.5, rate: rate) + speech + silence(0.3, rate: rate) + speech + silence(1, rate: rate)
        #expect(try vadEvents(short, rate: rate).count == 2)
        let long = silence(0.5, rate: rate) + speech + silence(0.7, rate: rate) + speech + silence(1, rate: rate)
        #expect(try vadEvents(long, rate: rate).count == 4)
    }

    @Test("a click does not start a turn, in silence or in noise")
    func clicks() throws {
        let rate = 16000
        for floor in [[Float](), whiteNoise(3, rate: rate, level: -60)] {
            var x = floor.isEmpty ? silence(3, rate: rate) : floor
            for i in 0..<40 { x[rate + i] += i % 2 == 0 ? 0.9 : -0.9 }   // 2.5 ms full-scale click
            x[2 * rate] = 1
            #expect(try vadEvents(x, rate: rate).isEmpty)
        }
    }

    @Test("noise rising by 20 dB over 20 s starts no turn, and speech over it is still found")
    func risingNoise() throws {
        let rate = 16000
        var noise = whiteNoise(20, rate: rate, level: -50)
        for i in noise.indices { noise[i] *= Float(pow(10, 20 * Double(i) / Double(noise.count) / 20)) }
        #expect(try vadEvents(noise, rate: rate).isEmpty)
        // Speech 15 dB above the final noise level, near the end.
        var withSpeech = noise
        let burst = speechLike(seconds: 1, rate: rate, level: -12)
        for i in burst.indices { withSpeech[17 * rate + i] += burst[i] }
        let events = try vadEvents(withSpeech, rate: rate)
        #expect(events.count == 2, "\(events)")
    }

    @Test("level independence from -40 to -6 dBFS", arguments: [-40.0, -30, -20, -6])
    func levels(level: Double) throws {
        let rate = 16000
        let x = whiteNoise(1, rate: rate, level: -75) + speechLike(seconds: 1, rate: rate, level: level)
            + whiteNoise(1.5, rate: rate, level: -75, seed: 9)
        let events = try vadEvents(x, rate: rate)
        #expect(events.count == 2, "\(level) dBFS: \(events)")
        if case .speechStarted(let start, _)? = events.first { #expect(abs(start - 700) <= 20, "\(level) dBFS: start \(start)") }
        if case .speechStopped(let end, _)? = events.last { #expect(abs(end - 2500) <= 30, "\(level) dBFS: end \(end)") }
    }

    @Test("any chunking gives the same events and frames")
    func chunking() throws {
        let rate = 24000
        let x = silence(0.7, rate: rate) + speechLike(seconds: 0.9, rate: rate) + silence(0.9, rate: rate)
            + speechLike(seconds: 0.6, rate: rate, level: -30, seed: 3) + silence(1, rate: rate)
        let whole = try vadEvents(x, rate: rate)
        #expect(whole.count == 4)
        var rng = SplitMix64(seed: 42)
        for maxChunk in [1, 7, 160, 479, 4000] {
            var vad = try ServerVAD(sampleRate: .hz24000)
            var events: [TurnEvent] = []
            var offset = 0
            x.withUnsafeBufferPointer { all in
                for n in randomChunks(total: x.count, maxChunk: maxChunk, using: &rng) {
                    var chunk = UnsafeBufferPointer(rebasing: all[offset..<(offset + n)])
                    while !chunk.isEmpty {
                        let (used, event) = vad.process(chunk)
                        if let event { events.append(event) }
                        chunk = UnsafeBufferPointer(rebasing: chunk[used...])
                    }
                    offset += n
                }
            }
            if let last = vad.finish() { events.append(last) }
            #expect(events == whole, "max chunk \(maxChunk)")
        }
    }

    @Test("every supported rate gives the same turns", arguments: [8000, 16000, 24000, 32000, 44100, 48000])
    func rates(rate: Int) throws {
        let x = silence(0.8, rate: rate) + speechLike(seconds: 1, rate: rate) + silence(1.2, rate: rate)
        let events = try vadEvents(x, rate: rate)
        #expect(events.count == 2)
        if case .speechStarted(let start, _)? = events.first { #expect(abs(start - 500) <= 20, "\(rate): \(start)") }
        if case .speechStopped(let end, _)? = events.last { #expect(abs(end - 2300) <= 30, "\(rate): \(end)") }
    }

    @Test("the pre-roll at speech_started is the input from audio_start_ms on")
    func preroll() throws {
        let rate = 16000
        let x = whiteNoise(1, rate: rate, level: -70) + speechLike(seconds: 1, rate: rate) + silence(1, rate: rate)
        var vad = try ServerVAD(sampleRate: .hz16000)
        var checked = false
        x.withUnsafeBufferPointer { all in
            var offset = 0
            while offset < all.count {
                let (used, event) = vad.process(UnsafeBufferPointer(rebasing: all[offset...]))
                offset += used
                if case .speechStarted(let start, let at)? = event {
                    var audio = [Float](repeating: 0, count: vad.turnAudioCount)
                    let n = audio.withUnsafeMutableBufferPointer { vad.copyTurnAudio(into: $0) }
                    #expect(n == (at - start) * rate / 1000)
                    #expect(Array(audio[..<n]) == Array(x[(start * rate / 1000)..<offset]))
                    checked = true
                }
            }
        }
        #expect(checked)
    }

    @Test("a stream that ends inside a turn stops at the end of the audio")
    func endsInsideTurn() throws {
        let x = silence(0.5, rate: 8000) + speechLike(seconds: 1, rate: 8000)
        let events = try vadEvents(x, rate: 8000)
        #expect(events.last == .speechStopped(audioEndMs: 1500, emittedAtMs: 1500))
    }

    @Test("hard input: silence, DC, NaN and a full-scale square wave")
    func hardInput() throws {
        let rate = 16000
        #expect(try vadEvents(silence(5, rate: rate), rate: rate).isEmpty)
        #expect(try vadEvents([Float](repeating: 0.8, count: 5 * rate), rate: rate).isEmpty)
        var nan = speechLike(seconds: 1, rate: rate)
        for i in stride(from: 0, to: nan.count, by: 97) { nan[i] = .nan }
        nan[100] = .infinity
        let x = silence(0.5, rate: rate) + nan + silence(1, rate: rate)
        #expect(try vadEvents(x, rate: rate).count == 2)
        // After NaN, the detector is not stuck: a later turn is found the same as in a fresh detector.
        let square = (0..<(2 * rate)).map { Float(($0 / 40) % 2 == 0 ? 1 : -1) }
        let events = try vadEvents(silence(0.5, rate: rate) + square + silence(1, rate: rate), rate: rate)
        #expect(events.count == 2, "\(events)")
    }

    @Test("bad settings are typed errors")
    func badSettings() throws {
        #expect(throws: ServerVADError.thresholdOutOfRange(1.5)) { try ServerVADConfiguration(threshold: 1.5) }
        #expect(throws: ServerVADError.self) { try ServerVADConfiguration(threshold: .nan) }
        #expect(throws: ServerVADError.prefixPaddingOutOfRange(-1)) { try ServerVADConfiguration(prefixPaddingMs: -1) }
        #expect(throws: ServerVADError.silenceDurationOutOfRange(-5)) { try ServerVADConfiguration(silenceDurationMs: -5) }
        #expect(throws: ServerVADError.unsupportedRate(11025)) { try ServerVAD(sampleRate: SampleRate(hertz: 11025)) }
        #expect(throws: ServerVADError.unsupportedRate(4000)) { try ServerVAD(sampleRate: SampleRate(hertz: 4000)) }
    }

    @Test("a higher threshold needs louder speech above the noise")
    func thresholdMeaning() throws {
        let rate = 16000
        // Speech about 7 dB above the noise in its bands: found at 0.2, not at 0.9.
        var x = whiteNoise(4, rate: rate, level: -40)
        let burst = speechLike(seconds: 1.2, rate: rate, level: -35)
        for i in burst.indices { x[rate + i] += burst[i] }
        let low = try vadEvents(x, rate: rate, configuration: ServerVADConfiguration(threshold: 0.2))
        let high = try vadEvents(x, rate: rate, configuration: ServerVADConfiguration(threshold: 0.95))
        #expect(low.count >= 2, "\(low)")
        #expect(high.count < low.count, "\(high)")
    }
}

@Test("the detector's fast decibels agree with 10 log10 within 1e-6 dB from 1e-20 to 1e3")
func fastDecibels() {
    var x = 1e-20
    var worst = 0.0
    while x < 1e3 {
        worst = max(worst, abs(decibels(x) - 10 * log10(x)))
        x *= 1.0137
    }
    #expect(worst < 1e-6, "worst error \(worst) dB")
}
