import Foundation
// The signal helpers shared by the test targets (SplitMix64, speechLike, whiteNoise, ...).
@_exported import TestSupport

/// Reads a file under `Tests/RealtimeAudioTests/Fixtures`.
func fixture(_ relativePath: String) throws -> [UInt8] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent(relativePath)
    return [UInt8](try Data(contentsOf: url))
}

