import Testing
import TestSupport
import RealtimeAudio
@testable import RealtimeCarrier

/// A decoded frame with its bytes copied out of the callback.
enum Decoded: Equatable {
    case hangup
    case id(AudioSocketID)
    case dtmf(Character)
    case audio(Int, [UInt8])
    case error(UInt8?)
    case failure(CarrierError)
}

func decodeAll(_ chunks: [ArraySlice<UInt8>], decoder: inout AudioSocketDecoder) -> [Decoded] {
    var out: [Decoded] = []
    for chunk in chunks {
        chunk.withUnsafeBufferPointer { bytes in
            decoder.decode(bytes) { result in
                switch result {
                case .success(.hangup): out.append(.hangup)
                case .success(.id(let id)): out.append(.id(id))
                case .success(.dtmf(let c)): out.append(.dtmf(c))
                case .success(.audio(let rate, let bytes)): out.append(.audio(rate.hertz, Array(bytes)))
                case .success(.error(let code)): out.append(.error(code))
                case .failure(let error): out.append(.failure(error))
                }
            }
        }
    }
    return out
}

@Suite("Asterisk AudioSocket")
struct AudioSocketTests {
    /// A session as Asterisk's `res_audiosocket` writes it: the UUID, audio at several rates, a DTMF digit, bad
    /// frames in between (an unknown type, a short UUID, odd audio), an error, the hangup.
    static func session(seed: UInt64) -> (bytes: [UInt8], frames: [Decoded]) {
        var rng = SplitMix64(seed: seed)
        let id = AudioSocketID(high: 0x40e1_5e4c_92f5_4a4b, low: 0x8f0e_4d53_54fa_91e3)
        var bytes = AudioSocketEncoder.idFrame(id)
        var frames: [Decoded] = [.id(id)]
        for (k, (type, hertz)) in AudioSocket.audioRates.enumerated() {
            let count = [320, 0, 2, 960, 1280, 1764, 1920, 3840, 7680][k]
            let audio = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            bytes += [type, UInt8(count >> 8), UInt8(count & 0xFF)] + audio
            frames.append(.audio(hertz, audio))
        }
        bytes += AudioSocketEncoder.dtmfFrame("#")!
        frames.append(.dtmf("#"))
        bytes += [0x42, 0, 3, 9, 9, 9]                         // a type nobody defined: skipped by its length
        frames.append(.failure(.unknownFrameType(0x42)))
        bytes += [0x01, 0, 4, 1, 2, 3, 4]                      // a UUID of four bytes
        frames.append(.failure(.invalidFrameLength(type: 0x01, length: 4)))
        bytes += [0x10, 0, 3, 1, 2, 3]                         // odd audio: not whole samples
        frames.append(.failure(.invalidFrameLength(type: 0x10, length: 3)))
        bytes += [0x10, 0, 2, 0x34, 0x12]                      // and the stream is still in step
        frames.append(.audio(8000, [0x34, 0x12]))
        bytes += AudioSocketEncoder.errorFrame(code: 2)
        frames.append(.error(2))
        bytes += AudioSocketEncoder.hangup
        frames.append(.hangup)
        return (bytes, frames)
    }

    @Test func wholeStreamInOneRead() throws {
        let (bytes, frames) = Self.session(seed: 1)
        var decoder = AudioSocketDecoder()
        #expect(decodeAll([bytes[...]], decoder: &decoder) == frames)
        try decoder.finish()
    }

    @Test(arguments: [1, 2, 3, 7, 160, 1000])
    func anySplitGivesTheSameFrames(seed: UInt64) throws {
        let (bytes, frames) = Self.session(seed: seed)
        var rng = SplitMix64(seed: seed &* 31)
        var chunks: [ArraySlice<UInt8>] = []
        var at = 0
        for size in randomChunks(total: bytes.count, maxChunk: Int(seed) * 3 + 1, using: &rng) {
            chunks.append(bytes[at..<(at + size)])
            at += size
        }
        var decoder = AudioSocketDecoder()
        #expect(decodeAll(chunks, decoder: &decoder) == frames)
        try decoder.finish()
    }

    @Test func byteByByte() throws {
        let (bytes, frames) = Self.session(seed: 5)
        var decoder = AudioSocketDecoder()
        #expect(decodeAll(bytes.indices.map { bytes[$0...$0] }, decoder: &decoder) == frames)
        #expect(!decoder.isInsideFrame)
        try decoder.finish()
    }

    @Test func aStreamEndingInsideAFrameIsReported() {
        var decoder = AudioSocketDecoder()
        _ = decodeAll([[0x10, 0x01][...]], decoder: &decoder)
        #expect(throws: CarrierError.truncatedFrame(have: 2, need: 3)) { try decoder.finish() }
        _ = decodeAll([[0x10, 0x00, 0x10, 1, 2, 3][...]], decoder: &decoder)
        #expect(decoder.isInsideFrame)
        #expect(throws: CarrierError.truncatedFrame(have: 6, need: 19)) { try decoder.finish() }
        // The decoder is clean after: a new frame decodes.
        #expect(decodeAll([AudioSocketEncoder.hangup[...]], decoder: &decoder) == [.hangup])
    }

    @Test func theLargestFrameAcrossReads() throws {
        let audio = (0..<65534).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var encoded = [UInt8](repeating: 0, count: AudioSocketEncoder.audioCount(forBytes: audio.count))
        let n = try audio.withUnsafeBufferPointer { a in try encoded.withUnsafeMutableBufferPointer { try AudioSocketEncoder.encodeAudio(a, rate: .hz16000, into: $0) } }
        #expect(n == 65537)
        var decoder = AudioSocketDecoder()
        #expect(decodeAll([encoded[..<30000], encoded[30000...]], decoder: &decoder) == [.audio(16000, audio)])
        // A length beyond the type's sense (odd, maximal) is refused after it is read whole; the next frame is fine.
        var odd: [UInt8] = [0x12, 0xFF, 0xFF] + [UInt8](repeating: 1, count: 65535)
        odd += AudioSocketEncoder.hangup
        #expect(decodeAll([odd[..<100], odd[100...]], decoder: &decoder) == [.failure(.invalidFrameLength(type: 0x12, length: 65535)), .hangup])
    }

    @Test func encoderSplitsLongAudioAtTheLengthLimit() throws {
        let audio = [UInt8](repeating: 0x55, count: 65534 * 2 + 10)
        var encoded = [UInt8](repeating: 0, count: AudioSocketEncoder.audioCount(forBytes: audio.count))
        let n = try audio.withUnsafeBufferPointer { a in try encoded.withUnsafeMutableBufferPointer { try AudioSocketEncoder.encodeAudio(a, rate: .hz8000, into: $0) } }
        #expect(n == encoded.count)
        var decoder = AudioSocketDecoder()
        let frames = decodeAll([encoded[...]], decoder: &decoder)
        #expect(frames.count == 3)
        let joined = frames.flatMap { (f: Decoded) -> [UInt8] in if case .audio(8000, let b) = f { b } else { [] } }
        #expect(joined == audio)
        // Refusals: a rate AudioSocket has no type for, odd bytes, a short buffer.
        var small = [UInt8](repeating: 0, count: 4)
        #expect(throws: CarrierError.unsupportedFormat("AudioSocket audio at 22050 Hz")) {
            try audio.withUnsafeBufferPointer { a in try small.withUnsafeMutableBufferPointer { try AudioSocketEncoder.encodeAudio(a, rate: try! SampleRate(hertz: 22050), into: $0) } }
        }
        #expect(throws: CarrierError.invalidFrameLength(type: 0x10, length: 3)) {
            try [UInt8](repeating: 0, count: 3).withUnsafeBufferPointer { a in try small.withUnsafeMutableBufferPointer { try AudioSocketEncoder.encodeAudio(a, rate: .hz8000, into: $0) } }
        }
        #expect(throws: CarrierError.outputTooSmall(bytes: 4, needed: 7)) {
            try [UInt8](repeating: 0, count: 4).withUnsafeBufferPointer { a in try small.withUnsafeMutableBufferPointer { try AudioSocketEncoder.encodeAudio(a, rate: .hz8000, into: $0) } }
        }
    }

    @Test func idPrintsAsAUUID() {
        let id = AudioSocketID(high: 0x40e1_5e4c_92f5_4a4b, low: 0x8f0e_4d53_54fa_91e3)
        #expect(id.description == "40e15e4c-92f5-4a4b-8f0e-4d5354fa91e3")
        #expect(AudioSocketEncoder.dtmfFrame("x") == nil)
    }

    /// Random bytes, in random splits: never a trap, and the decoder's memory stays what it was.
    @Test func randomGarbageNeverTraps() {
        var rng = SplitMix64(seed: 99)
        var decoder = AudioSocketDecoder()
        var reports = 0
        for _ in 0..<200 {
            let garbage = (0..<Int(rng.next() % 5000)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            garbage.withUnsafeBufferPointer { decoder.decode($0) { _ in reports += 1 } }
        }
        try? decoder.finish()
        #expect(reports > 0)
    }
}
