import Foundation
import Testing
@testable import RealtimeAudio

/// Coloured noise at an RMS level in dBFS: white, pink (Kellet's filter), brown (leaky integrator) or mains hum
/// (50 Hz and its harmonics to 1 kHz, the harmonics that reach the speech bands).
func colouredNoise(_ kind: String, seconds: Double, rate: Int, level: Double, seed: UInt64 = 3) -> [Float] {
    var rng = SplitMix64(seed: seed)
    let n = Int(seconds * Double(rate))
    var x = [Double](repeating: 0, count: n)
    var b = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    var y = 0.0
    for i in 0..<n {
        let w = Double.random(in: -1...1, using: &rng)
        switch kind {
        case "pink":
            b.0 = 0.99886 * b.0 + w * 0.0555179; b.1 = 0.99332 * b.1 + w * 0.0750759
            b.2 = 0.96900 * b.2 + w * 0.1538520; b.3 = 0.86650 * b.3 + w * 0.3104856
            b.4 = 0.55000 * b.4 + w * 0.5329522; b.5 = -0.7616 * b.5 - w * 0.0168980
            x[i] = b.0 + b.1 + b.2 + b.3 + b.4 + b.5 + b.6 + w * 0.5362
            b.6 = w * 0.115926
        case "brown":
            y = 0.995 * y + w
            x[i] = y
        case "hum":
            let t = Double(i) / Double(rate)
            x[i] = (1...20).reduce(0.0) { $0 + sin(2 * .pi * 50 * Double($1) * t + Double($1)) / Double($1) } + 0.01 * w
        default:
            x[i] = w
        }
    }
    let rms = (x.reduce(0) { $0 + $1 * $1 } / Double(n)).squareRoot()
    let gain = pow(10, level / 20) / rms
    return x.map { Float($0 * gain) }
}

/// Noise that starts abruptly (a line connecting, a fan switching on) or steps up: at most one false turn, over
/// within 1.5 s, and the caller's turns in it found as if the noise had always been there.
@Suite("Noise that starts or steps up")
struct NoiseOnsetTests {
    static let kinds = ["white", "pink", "brown", "hum"]

    @Test(arguments: kinds, [-50.0, -35, -20])
    func digitalSilenceThenNoise(kind: String, level: Double) throws {
        let rate = 16000
        let x = silence(1, rate: rate) + colouredNoise(kind, seconds: 8, rate: rate, level: level)
        let events = try vadEvents(x, rate: rate)
        let starts = events.filter { if case .speechStarted = $0 { true } else { false } }
        #expect(starts.count <= 1, "\(kind) at \(level) dBFS: \(events)")
        for case .speechStopped(_, let at) in events {
            #expect(at <= 1000 + 1500, "\(kind) at \(level) dBFS: the false turn lasts until \(at) ms")
        }
    }

    @Test(arguments: kinds)
    func turnsInNoiseThatJustStarted(kind: String) throws {
        let rate = 16000
        // Speech 15 dB over the noise's RMS (by peak), at 3 s and 6.5 s.
        let noise = colouredNoise(kind, seconds: 10, rate: rate, level: -40)
        func withSpeech(_ base: [Float]) -> [Float] {
            var x = base
            for (at, seed) in [(3.0, UInt64(1)), (6.5, 2)] {
                let s = speechLike(seconds: 1.4, rate: rate, level: -25, seed: seed)
                for (k, v) in s.enumerated() { x[Int(at * Double(rate)) + k] += v }
            }
            return x
        }
        // The noise starts at 1 s after digital silence, or is there from the start.
        var late = noise
        for i in 0..<rate { late[i] = 0 }
        let sudden = try vadEvents(withSpeech(late), rate: rate)
        let always = try vadEvents(withSpeech(noise), rate: rate)
        func turns(_ events: [TurnEvent], after ms: Int) -> [(Int, Int)] {
            var out: [(Int, Int)] = []
            var start: Int?
            for e in events {
                switch e {
                case .speechStarted(let s, _): start = s
                case .speechStopped(let end, _): if let s = start, s + 300 >= ms { out.append((s, end)) }; start = nil
                }
            }
            return out
        }
        let a = turns(sudden, after: 2500), b = turns(always, after: 2500)
        #expect(a.count == 2 && b.count == 2, "\(kind): \(sudden) vs \(always)")
        for (x, y) in zip(a, b) { #expect(abs(x.1 - y.1) <= 100 && abs(x.0 - y.0) <= 100, "\(kind): \(a) vs \(b)") }
    }

    @Test(arguments: kinds, [10.0, 20])
    func noiseSteppingUp(kind: String, step: Double) throws {
        let rate = 16000
        let quiet = colouredNoise(kind, seconds: 4, rate: rate, level: -55, seed: 5)
        let loud = colouredNoise(kind, seconds: 6, rate: rate, level: -55 + step, seed: 6)
        let events = try vadEvents(quiet + loud, rate: rate)
        let starts = events.filter { if case .speechStarted = $0 { true } else { false } }
        #expect(starts.count <= 1, "\(kind) +\(step) dB: \(events)")
        for case .speechStopped(_, let at) in events {
            #expect(at <= 4000 + 1500, "\(kind) +\(step) dB: the false turn lasts until \(at) ms")
        }
    }
}
