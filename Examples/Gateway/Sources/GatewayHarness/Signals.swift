import Foundation
import Glibc

/// Caller audio for calls: a voiced, syllabic, speech-like signal (harmonics of a gliding pitch under formant-like
/// weights, in syllables of 140-300 ms), deterministic, so a failing call reproduces.
public enum CallSignals {
    /// `seconds` of speech-like audio at `rate`, peak about `amplitude`.
    public static func speech(seconds: Double, rate: Int = 8000, amplitude: Float = 0.3, seed: UInt64 = 1) -> [Float] {
        let n = Int(seconds * Double(rate))
        var out = [Float](repeating: 0, count: n)
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func random() -> Double {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Double(state % 1_000_000) / 1_000_000
        }
        var phase = 0.0
        // Syllables of 140-300 ms, each its own length: a perfectly periodic level would look steady, like noise.
        var syllableStart = 0.0
        var syllable = 0.14 + 0.16 * random()
        for i in 0..<n {
            let t = Double(i) / Double(rate)
            let f0 = 120 + 25 * sin(2 * .pi * 0.7 * t) + 10 * sin(2 * .pi * 3.1 * t)
            phase += 2 * .pi * f0 / Double(rate)
            var x = 0.0
            for h in 1...12 {
                let f = Double(h) * f0
                guard f < Double(rate) / 2 - 200 else { break }
                let formant = exp(-pow((f - 600) / 350, 2)) + 0.6 * exp(-pow((f - 1500) / 400, 2)) + 0.3 * exp(-pow((f - 2600) / 500, 2))
                x += (0.15 + formant) * sin(Double(h) * phase) / Double(h).squareRoot()
            }
            if t - syllableStart >= syllable {
                syllableStart += syllable
                syllable = 0.14 + 0.16 * random()
            }
            let envelope = pow(max(0, sin(.pi * (t - syllableStart) / syllable)), 0.6)
            out[i] = Float(x * envelope) * amplitude / 2.2
        }
        return out
    }

    /// Silence of `seconds`.
    public static func silence(seconds: Double, rate: Int = 8000) -> [Float] { [Float](repeating: 0, count: Int(seconds * Double(rate))) }
}

/// Whether two paths name one file (the same device and inode: hard and symbolic links and `..` included); false when
/// either is missing. Harness commands that write recordings refuse an output that is one of their inputs.
public func sameFile(_ a: String, _ b: String) -> Bool {
    // stat(2) follows symbolic links (FileManager's attributes do not).
    var x = stat(), y = stat()
    guard stat(a, &x) == 0, stat(b, &y) == 0 else { return false }
    return x.st_dev == y.st_dev && x.st_ino == y.st_ino
}
