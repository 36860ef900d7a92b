import Foundation
import Testing
@testable import RealtimeAudio

@Suite("base64")
struct Base64Tests {
    /// RFC 4648 §10.
    static let rfcVectors: [(String, String)] = [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ]

    @Test func rfc4648Vectors() throws {
        for (plain, encoded) in Self.rfcVectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(try Base64.decode(encoded) == Array(plain.utf8))
        }
    }

    @Test("all 256 byte values and every length 0...100 round-trip; decode inverts encode")
    func roundTrip() throws {
        var rng = SplitMix64(seed: 1)
        for length in 0...100 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let text = Base64.encode(bytes)
            #expect(text.utf8.count == Base64.encodedCount(forByteCount: length))
            #expect(try Base64.decode(text) == bytes)
        }
        let all = (0...255).map { UInt8($0) }
        #expect(try Base64.decode(Base64.encode(all)) == all)
    }

    @Test("a 20 ms pcm16 chunk at 24 kHz round-trips as the API carries it")
    func audioChunk() throws {
        let samples = (0..<480).map { i in Float(sin(Double(i) * 0.1)) * 0.5 }
        let bytes = PCM16.encode(samples)
        let text = Base64.encode(bytes)
        #expect(text.utf8.count == 1280)
        #expect(try PCM16.decodeFloat(try Base64.decode(text)) == PCM16.toFloat(PCM16.toInt16(samples)))
    }

    @Test("bad characters are named with their offset")
    func badCharacters() {
        #expect(throws: Base64Error.invalidCharacter(UInt8(ascii: "!"), offset: 4)) { try Base64.decode("Zm9v!mFy") }
        #expect(throws: Base64Error.invalidCharacter(UInt8(ascii: " "), offset: 4)) { try Base64.decode("Zm9v Zm9v") }
        #expect(throws: Base64Error.invalidCharacter(UInt8(ascii: "-"), offset: 2)) { try Base64.decode("Zm-v") }
        #expect(throws: Base64Error.invalidCharacter(UInt8(ascii: "_"), offset: 9)) { try Base64.decode("Zm9vZm9vZ_==") }
        #expect(throws: Base64Error.invalidCharacter(0xC3, offset: 0)) { try Base64.decode("é===") }
        #expect("\(Base64Error.invalidCharacter(UInt8(ascii: "!"), offset: 4))" == "invalid base64: '!' at offset 4")
        // The first bad character wins even when several are bad.
        let long = String(repeating: "AAAA", count: 100) + "AA*A" + String(repeating: "AA?A", count: 3) + "AAAA"
        #expect(throws: Base64Error.invalidCharacter(UInt8(ascii: "*"), offset: 402)) { try Base64.decode(long) }
    }

    @Test("bad padding is named with its offset")
    func badPadding() {
        #expect(throws: Base64Error.invalidPadding(offset: 2)) { try Base64.decode("Zm=v") }    // '=' then data
        #expect(throws: Base64Error.invalidPadding(offset: 2)) { try Base64.decode("AB=C") }
        #expect(throws: Base64Error.invalidPadding(offset: 1)) { try Base64.decode("A===") }
        #expect(throws: Base64Error.invalidPadding(offset: 0)) { try Base64.decode("====") }
        #expect(throws: Base64Error.invalidPadding(offset: 2)) { try Base64.decode("Zg==Zm9v") } // padding mid-stream
        #expect(throws: Base64Error.invalidPadding(offset: 1)) { try Base64.decode("Zh==") }    // non-zero pad bits
        #expect(throws: Base64Error.invalidPadding(offset: 2)) { try Base64.decode("Zm9=") }
        #expect(throws: Base64Error.invalidLength(3)) { try Base64.decode("Zm9") }              // padding missing
        #expect(throws: Base64Error.invalidLength(5)) { try Base64.decode("Zm9vY") }
    }

    @Test("every single-character corruption of a valid text is caught at its offset")
    func everyCorruption() throws {
        var rng = SplitMix64(seed: 3)
        let bytes = (0..<61).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let text = Array(Base64.encode(bytes).utf8)
        for offset in 0..<text.count {
            for bad in [UInt8(ascii: "."), UInt8(ascii: "\n"), 0x00, 0xFF] {
                var corrupted = text
                corrupted[offset] = bad
                #expect(throws: Base64Error.invalidCharacter(bad, offset: offset)) { try Base64.decode(corrupted) }
            }
        }
    }
}
