import Testing
@testable import RealtimeAudio

@Suite("G.711 against the ITU-T G.191 vectors")
struct G711Tests {
    static let allInputs: [Int16] = (0..<65536).map { Int16(truncatingIfNeeded: $0 - 32768) }

    @Test("the fixture inputs are the full ramp -32768...32767 and bytes 0...255")
    func fixtureInputs() throws {
        #expect(int16LE(try fixture("g711/all_s16le.raw")) == Self.allInputs)
        #expect(try fixture("g711/all_bytes.raw") == (0...255).map { UInt8($0) })
    }

    @Test("encoding all 65536 Int16 inputs matches G.191", arguments: [
        (G711.muLaw, "g711/ulaw_enc.bin"), (G711.aLaw, "g711/alaw_enc.bin"),
    ])
    func encodeExhaustive(codec: G711, file: String) throws {
        let expected = try fixture(file)
        #expect(expected.count == 65536)
        let buffered = codec.encode(Self.allInputs)
        let mismatches = (0..<65536).filter { buffered[$0] != expected[$0] }
        #expect(mismatches.isEmpty, "first mismatches at inputs \(mismatches.prefix(5).map { $0 - 32768 })")
        // The scalar reference and the lookup table must agree entry for entry too.
        let scalar = Self.allInputs.map(codec.encode)
        #expect(scalar == expected)
    }

    @Test("encoding the Float path of every Int16 input (x / 32768) gives the same codes", arguments: [
        (G711.muLaw, "g711/ulaw_enc.bin"), (G711.aLaw, "g711/alaw_enc.bin"),
    ])
    func encodeFloatExhaustive(codec: G711, file: String) throws {
        let expected = try fixture(file)
        let floats = Self.allInputs.map { Float($0) / 32768 }
        #expect(codec.encode(floats) == expected)
    }

    @Test("decoding all 256 codes matches G.191, as Int16 and as Float", arguments: [
        (G711.muLaw, "g711/ulaw_dec.bin"), (G711.aLaw, "g711/alaw_dec.bin"),
    ])
    func decodeExhaustive(codec: G711, file: String) throws {
        let expected = int16LE(try fixture(file))
        let codes = (0...255).map { UInt8($0) }
        #expect(codec.decodeInt16(codes) == expected)
        #expect(codes.map(codec.decode) == expected)
        #expect(codec.decodeFloat(codes) == expected.map { Float($0) / 32768 })
    }

    @Test func muLawNamedValues() {
        let mu = G711.muLaw
        #expect(mu.encode(Int16(0)) == 0xFF)          // +0 is all ones
        #expect(mu.encode(Int16(-1)) == 0x7F)         // -1 folds to -0 by one's complement
        #expect(mu.encode(Int16(32767)) == 0x80)      // clips to the top code
        #expect(mu.encode(Int16(-32768)) == 0x00)
        #expect(mu.decode(0xFF) == 0)                 // the two zeros
        #expect(mu.decode(0x7F) == 0)
        #expect(mu.decode(0x80) == 32124)             // peaks: middle of the top interval
        #expect(mu.decode(0x00) == -32124)
    }

    @Test func aLawNamedValues() {
        let a = G711.aLaw
        #expect(a.encode(Int16(0)) == 0xD5)           // 0x80 | 0, with the even bits inverted
        #expect(a.encode(Int16(-1)) == 0x55)
        #expect(a.encode(Int16(32767)) == 0xAA)       // 0xFF ^ 0x55
        #expect(a.encode(Int16(-32768)) == 0x2A)      // 0x7F ^ 0x55
        #expect(a.decode(0xAA) == 32256)
        #expect(a.decode(0x2A) == -32256)
        #expect(a.decode(0xD5) == 8)                  // smallest step: the middle of 0...15
        #expect(a.decode(0x55) == -8)
    }

    @Test("A-law inverts the even bits: flipping them gives the plain sign-magnitude code")
    func aLawEvenBitInversion() {
        for x in stride(from: Int16(-32768), to: 32767, by: 97) {
            let plain = G711.aLaw.encode(x) ^ 0x55
            // Without the inversion, the magnitude part grows with |x| (one's complement fold for negatives).
            let magnitude = Int(plain & 0x7F)
            let folded = Int(x < 0 ? ~x : x)
            #expect(magnitude == G711Tests.aLawMagnitude(folded))
            #expect((plain & 0x80 != 0) == (x >= 0))
        }
    }

    /// Segment and mantissa of a folded A-law magnitude, computed independently of the codec.
    static func aLawMagnitude(_ folded: Int) -> Int {
        let v = folded >> 4                            // 0...2047
        if v < 32 { return v }                         // segments 0 and 1 are linear
        let segment = Int.bitWidth - v.leadingZeroBitCount - 4  // 2...7
        return segment << 4 | (v >> (segment - 1)) & 0x0F
    }

    @Test("decode then encode returns every code (except µ-law's -0, which is +0's twin)", arguments: [G711.muLaw, G711.aLaw])
    func codeRoundTrip(codec: G711) {
        for code in 0...255 {
            let c = UInt8(code)
            let back = codec.encode(codec.decode(c))
            if codec.law == .muLaw && c == 0x7F { #expect(back == 0xFF) } else { #expect(back == c) }
        }
    }

    @Test("encoding is monotonic in the input and odd-symmetric by one's complement", arguments: [G711.muLaw, G711.aLaw])
    func monotonicAndSymmetric(codec: G711) {
        var last = Int.min
        for x in Self.allInputs {
            let value = Int(codec.decode(codec.encode(x)))
            #expect(value >= last)
            last = value
            #expect(codec.decode(codec.encode(x)) == -codec.decode(codec.encode(~x)))
        }
    }

    @Test("Float encode quantizes like PCM16: out-of-range clips, NaN is 0")
    func floatEdgeCases() {
        for codec in [G711.muLaw, G711.aLaw] {
            #expect(codec.encode([Float(2), -2, .infinity, -.infinity, .nan]) ==
                    codec.encode([Int16(32767), -32768, 32767, -32768, 0]))
        }
    }

    @Test("the eight-lane loops and their scalar tails agree with one-sample calls at every length and offset",
          arguments: [G711.muLaw, G711.aLaw])
    func lanesAndTails(codec: G711) {
        var rng = SplitMix64(seed: 11)
        let samples = (0..<64).map { _ in Int16.random(in: .min ... .max, using: &rng) }
        let codes = (0..<64).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for start in 0..<8 {
            for count in 0...(64 - start - 1) where count < 24 || count % 8 == 3 {
                let s = Array(samples[start..<(start + count)])
                let c = Array(codes[start..<(start + count)])
                #expect(codec.encode(s) == s.map(codec.encode))
                #expect(codec.encode(s.map { Float($0) / 32768 }) == s.map(codec.encode))
                #expect(codec.decodeInt16(c) == c.map(codec.decode))
                #expect(codec.decodeFloat(c) == c.map { Float(codec.decode($0)) / 32768 })
            }
        }
    }

    @Test func formatNames() {
        #expect(G711.muLaw.format == .g711_ulaw)
        #expect(G711.aLaw.format == .g711_alaw)
        #expect(AudioFormat.g711_alaw.g711 == .aLaw)
        #expect(AudioFormat.pcm16.g711 == nil)
    }
}
