import Testing
@testable import RealtimeAudio

@Suite("pcm16")
struct PCM16Tests {
    @Test("bytes are little-endian whatever the host")
    func endianness() throws {
        #expect(try PCM16.decodeInt16([0x01, 0x02, 0xFF, 0x7F, 0x00, 0x80]) == [0x0201, 32767, -32768])
        #expect(PCM16.encode([Int16(0x0201), -2]) == [0x01, 0x02, 0xFE, 0xFF])
        #expect(PCM16.encode([Float(0.5)]) == [0x00, 0x40])
    }

    @Test("every Int16 survives bytes -> Int16 -> Float -> bytes")
    func exhaustiveRoundTrip() throws {
        let all = (0..<65536).map { Int16(truncatingIfNeeded: $0 - 32768) }
        let bytes = PCM16.encode(all)
        #expect(try PCM16.decodeInt16(bytes) == all)
        let floats = try PCM16.decodeFloat(bytes)
        #expect(floats == all.map { Float($0) / 32768 })
        #expect(PCM16.toInt16(floats) == all)
        #expect(PCM16.encode(floats) == bytes)
        #expect(PCM16.toFloat(all) == floats)
    }

    @Test("Float -> Int16 rounds to nearest, ties to even")
    func rounding() {
        let lsb: Float = 1 / 32768
        let cases: [(Float, Int16)] = [
            (0.4 * lsb, 0), (0.5 * lsb, 0), (0.6 * lsb, 1), (1.5 * lsb, 2), (2.5 * lsb, 2),
            (-0.5 * lsb, 0), (-0.6 * lsb, -1), (-1.5 * lsb, -2), (100.49 * lsb, 100), (-100.51 * lsb, -101),
        ]
        for (x, expected) in cases { #expect(PCM16.quantize(x) == expected, "quantize(\(x * 32768) LSB)") }
    }

    @Test("Float -> Int16 clips and maps NaN to 0")
    func clippingAndNaN() {
        let input: [Float] = [1, -1, 1.5, -1.5, 32767.4 / 32768, .infinity, -.infinity, .nan, -.nan, .greatestFiniteMagnitude]
        #expect(PCM16.toInt16(input) == [32767, -32768, 32767, -32768, 32767, 32767, -32768, 0, 0, 32767])
    }

    @Test("vectorized and scalar paths agree on random floats, tails included")
    func bufferMatchesScalar() {
        var rng = SplitMix64(seed: 7)
        for count in [0, 1, 3, 7, 8, 15, 16, 17, 33, 1000] {
            let x = (0..<count).map { _ in Float.random(in: -1.2...1.2, using: &rng) }
            #expect(PCM16.toInt16(x) == x.map(PCM16.quantize))
        }
    }

    @Test("a whole-buffer decode of an odd byte count is an error")
    func oddByteCount() {
        #expect(throws: PCM16Error.oddByteCount(3)) { try PCM16.decodeInt16([1, 2, 3]) }
        #expect(throws: PCM16Error.oddByteCount(1)) { try PCM16.decodeFloat([1]) }
        #expect("\(PCM16Error.oddByteCount(3))".contains("odd byte count (3)"))
    }

    @Test("the stream decoder carries an odd byte: any chunking equals one block")
    func streamingRandomChunks() throws {
        var rng = SplitMix64(seed: 42)
        let samples = (0..<4001).map { _ in Int16.random(in: .min ... .max, using: &rng) }
        let bytes = PCM16.encode(samples)
        let floats = PCM16.toFloat(samples)
        for trial in 0..<50 {
            var decoder = PCM16StreamDecoder()
            var gotInt16: [Int16] = []
            var gotFloat: [Float] = []
            var floatDecoder = PCM16StreamDecoder()
            var offset = 0
            for n in randomChunks(total: bytes.count, maxChunk: trial < 25 ? 7 : 500, using: &rng) {
                let chunk = Array(bytes[offset..<(offset + n)])
                offset += n
                try chunk.withUnsafeBufferPointer { src in
                    // Sized once-style from the bound; the exact count is what was decoded.
                    var out = [Int16](repeating: 0, count: decoder.maximumOutputCount(forInput: n))
                    let exact = decoder.decodedCount(forInput: n)
                    let written = try out.withUnsafeMutableBufferPointer { try decoder.decode(src, into: $0) }
                    #expect(written == exact && written <= out.count)
                    gotInt16 += out[..<written]
                    var outF = [Float](repeating: 0, count: floatDecoder.maximumOutputCount(forInput: n))
                    let m = try outF.withUnsafeMutableBufferPointer { try floatDecoder.decode(src, into: $0) }
                    gotFloat += outF[..<m]
                }
            }
            #expect(gotInt16 == samples)
            #expect(gotFloat == floats)
            #expect(decoder.pendingByteCount == 0)
            try decoder.finish()
        }
    }

    @Test("a buffer too small for a chunk is a typed error, nothing taken; the bound fits whatever is pending")
    func outputTooSmall() throws {
        var decoder = PCM16StreamDecoder()
        var one = [Int16](repeating: 0, count: 1)
        _ = try [UInt8]([7]).withUnsafeBufferPointer { src in try one.withUnsafeMutableBufferPointer { try decoder.decode(src, into: $0) } }
        #expect(decoder.pendingByteCount == 1)
        // 3 bytes with one pending complete 2 samples: a 1-sample buffer is refused, the pending byte kept.
        #expect(throws: PCM16Error.outputTooSmall(needed: 2, available: 1)) {
            _ = try [UInt8]([1, 2, 3]).withUnsafeBufferPointer { src in try one.withUnsafeMutableBufferPointer { try decoder.decode(src, into: $0) } }
        }
        #expect(decoder.pendingByteCount == 1)
        var out = [Int16](repeating: 0, count: decoder.maximumOutputCount(forInput: 3))
        let n = try [UInt8]([1, 2, 3]).withUnsafeBufferPointer { src in try out.withUnsafeMutableBufferPointer { try decoder.decode(src, into: $0) } }
        #expect(n == 2 && out[0] == Int16(bitPattern: 0x0107) && out[1] == Int16(bitPattern: 0x0302))
    }

    @Test("a stream ending mid-sample is reported by finish, and reset drops the byte")
    func danglingByte() throws {
        var decoder = PCM16StreamDecoder()
        var out = [Int16](repeating: 0, count: 4)
        let n = try [UInt8]([1, 2, 3]).withUnsafeBufferPointer { src in try out.withUnsafeMutableBufferPointer { try decoder.decode(src, into: $0) } }
        #expect(n == 1)
        #expect(decoder.pendingByteCount == 1)
        #expect(throws: PCM16Error.danglingByte) { try decoder.finish() }
        #expect(decoder.pendingByteCount == 0)
        _ = try [UInt8]([9]).withUnsafeBufferPointer { src in try out.withUnsafeMutableBufferPointer { try decoder.decode(src, into: $0) } }
        decoder.reset()
        let m = try [UInt8]([0x34, 0x12]).withUnsafeBufferPointer { src in try out.withUnsafeMutableBufferPointer { try decoder.decode(src, into: $0) } }
        #expect(m == 1 && out[0] == 0x1234)
    }
}

@Suite("AudioFormat and SampleRate")
struct AudioFormatTests {
    @Test func wireNamesAndDefaults() throws {
        #expect(try AudioFormat(name: "pcm16") == .pcm16)
        #expect(try AudioFormat(name: "g711_ulaw").bytesPerSample == 1)
        #expect(AudioFormat.pcm16.bytesPerSample == 2)
        #expect(AudioFormat.pcm16.defaultSampleRate == .hz24000)
        #expect(AudioFormat.g711_alaw.defaultSampleRate.hertz == 8000)
    }

    @Test func unknownNameListsTheValidOnes() {
        #expect(throws: AudioFormatError.unknownName("opus")) { try AudioFormat(name: "opus") }
        #expect("\(AudioFormatError.unknownName("opus"))" == "unknown audio format 'opus' (valid: pcm16, g711_ulaw, g711_alaw)")
    }

    @Test func sampleRateRange() throws {
        #expect(try SampleRate(hertz: 44100).hertz == 44100)
        #expect(throws: SampleRateError.outOfRange(0)) { try SampleRate(hertz: 0) }
        #expect(throws: SampleRateError.outOfRange(-8000)) { try SampleRate(hertz: -8000) }
        #expect(throws: SampleRateError.outOfRange(1_000_000)) { try SampleRate(hertz: 1_000_000) }
        #expect(SampleRate.hz8000 < .hz16000)
    }
}
