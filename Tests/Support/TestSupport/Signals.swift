// Signals and generators the test targets share: deterministic, so a failing test reproduces.
import Foundation

/// Little-endian Int16 values from raw bytes.
public func int16LE(_ bytes: [UInt8]) -> [Int16] {
    stride(from: 0, to: bytes.count, by: 2).map { Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8) }
}

/// A deterministic generator, so a failing random test reproduces.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random chunk lengths summing to `total`, from 0 (empty chunks are legal) to `maxChunk`.
public func randomChunks(total: Int, maxChunk: Int, using rng: inout SplitMix64) -> [Int] {
    var sizes: [Int] = []
    var left = total
    while left > 0 {
        let n = min(left, Int.random(in: 0...maxChunk, using: &rng))
        sizes.append(n)
        left -= n
    }
    return sizes
}

/// A voiced, speech-like burst: a 140 Hz glottal-like harmonic series (harmonics to 3.5 kHz, falling 6 dB per
/// octave) whose amplitude swings at a syllable rate of 4 Hz, with 5 ms fades. `level` is the peak in dBFS.
public func speechLike(seconds: Double, rate: Int, level: Double = -20, seed: UInt64 = 1) -> [Float] {
    let n = Int(seconds * Double(rate))
    var rng = SplitMix64(seed: seed)
    let phases = (0..<25).map { _ in Double.random(in: 0..<(2 * .pi), using: &rng) }
    var x = [Float](repeating: 0, count: n)
    var peak = 0.0
    var values = [Double](repeating: 0, count: n)
    for i in 0..<n {
        let t = Double(i) / Double(rate)
        var v = 0.0
        for k in 1...25 where Double(k) * 140 < 3500 { v += sin(2 * .pi * 140 * Double(k) * t + phases[k - 1]) / Double(k) }
        let syllable = 0.55 + 0.45 * sin(2 * .pi * 4 * t)
        let fade = min(1, t / 0.005, (seconds - t) / 0.005)
        values[i] = v * syllable * fade
        peak = max(peak, abs(values[i]))
    }
    let gain = pow(10, level / 20) / peak
    for i in 0..<n { x[i] = Float(values[i] * gain) }
    return x
}

public func silence(_ seconds: Double, rate: Int) -> [Float] { [Float](repeating: 0, count: Int(seconds * Double(rate))) }

/// White noise at an RMS level in dBFS.
public func whiteNoise(_ seconds: Double, rate: Int, level: Double, seed: UInt64 = 7) -> [Float] {
    var rng = SplitMix64(seed: seed)
    let a = Float(pow(10, level / 20) * 3.0.squareRoot())
    return (0..<Int(seconds * Double(rate))).map { _ in Float.random(in: -a...a, using: &rng) }
}

