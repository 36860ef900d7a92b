import Foundation

/// Reads a file under `Tests/RealtimeAudioTests/Fixtures`.
func fixture(_ relativePath: String) throws -> [UInt8] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent(relativePath)
    return [UInt8](try Data(contentsOf: url))
}

/// Little-endian Int16 values from raw bytes.
func int16LE(_ bytes: [UInt8]) -> [Int16] {
    stride(from: 0, to: bytes.count, by: 2).map { Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8) }
}

/// A deterministic generator, so a failing random test reproduces.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random chunk lengths summing to `total`, from 0 (empty chunks are legal) to `maxChunk`.
func randomChunks(total: Int, maxChunk: Int, using rng: inout SplitMix64) -> [Int] {
    var sizes: [Int] = []
    var left = total
    while left > 0 {
        let n = min(left, Int.random(in: 0...maxChunk, using: &rng))
        sizes.append(n)
        left -= n
    }
    return sizes
}
