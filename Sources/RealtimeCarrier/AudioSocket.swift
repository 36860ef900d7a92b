import RealtimeAudio

/// Asterisk AudioSocket: a TCP stream of frames, each one type byte, a 16-bit big-endian payload length and the
/// payload. Audio is signed linear 16-bit little-endian mono, its rate given by the type (0x10 is 8 kHz; newer
/// Asterisk sends 0x11-0x18 for 12 to 192 kHz).
public enum AudioSocket {
    /// Frame types.
    public static let hangupType: UInt8 = 0x00
    /// The stream's identifier (16 bytes, a UUID), the first frame Asterisk sends.
    public static let uuidType: UInt8 = 0x01
    /// A DTMF digit (1 byte, ASCII).
    public static let dtmfType: UInt8 = 0x03
    /// An error (its payload, if any, an application-specific code).
    public static let errorType: UInt8 = 0xFF

    /// The audio frame types and their rates, as Asterisk's `res_audiosocket` defines them.
    public static let audioRates: [(type: UInt8, hertz: Int)] = [
        (0x10, 8000), (0x11, 12000), (0x12, 16000), (0x13, 24000), (0x14, 32000),
        (0x15, 44100), (0x16, 48000), (0x17, 96000), (0x18, 192000),
    ]

    /// The rate of an audio frame type, or nil when the type is not audio.
    public static func rate(ofType type: UInt8) -> SampleRate? {
        guard type >= 0x10, type <= 0x18 else { return nil }
        return try? SampleRate(hertz: audioRates[Int(type - 0x10)].hertz)
    }

    /// The audio frame type for a rate, or nil for a rate AudioSocket cannot carry.
    public static func audioType(for rate: SampleRate) -> UInt8? {
        audioRates.first { $0.hertz == rate.hertz }?.type
    }

    /// The largest payload one frame holds (the length is 16 bits); audio frames hold whole samples, so 65534.
    public static let maximumPayloadBytes = 65535
}

/// The 16-byte stream identifier AudioSocket's first frame carries.
public struct AudioSocketID: Sendable, Hashable, CustomStringConvertible {
    /// The 16 bytes, first byte in the high byte of `high`.
    public let high: UInt64
    /// The UUID's last 8 bytes, big-endian.
    public let low: UInt64

    /// An identifier from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        var h: UInt64 = 0
        var l: UInt64 = 0
        for k in 0..<8 { h = h << 8 | UInt64(bytes[k]) }
        for k in 8..<16 { l = l << 8 | UInt64(bytes[k]) }
        high = h
        low = l
    }

    /// The UUID in its canonical text form (lowercase, 8-4-4-4-12).
    public var description: String {
        let hex = String(high, radix: 16).leftPadded(16) + String(low, radix: 16).leftPadded(16)
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// One AudioSocket frame, decoded. `audio`'s bytes are valid only during the decoder's callback.
public enum AudioSocketFrame {
    /// The peer hangs up (type 0x00).
    case hangup
    /// The stream's identifier (type 0x01).
    case id(AudioSocketID)
    /// A key press (type 0x03, one ASCII digit).
    case dtmf(Character)
    /// Signed linear 16-bit little-endian audio at `rate` (types 0x10-0x18): the bytes are the frame's payload.
    case audio(rate: SampleRate, bytes: UnsafeBufferPointer<UInt8>)
    /// The peer reports an error (type 0xff), with its code when the payload has one.
    case error(code: UInt8?)
}

/// A streaming AudioSocket decoder: takes the TCP byte stream in any split (a frame across many reads, many
/// frames in one) and hands out whole frames.
///
/// - A frame wholly inside one call's bytes is handed out in place; one split across calls is gathered in a
///   buffer of 65,538 bytes sized at init. Memory is bounded whatever arrives; nothing is allocated per frame.
/// - Bad frames are reported and skipped, and decoding goes on with the next frame: an unknown type
///   (``CarrierError/unknownFrameType(_:)``, skipped whole by its length, so the stream stays in step), a length
///   that does not fit the type (``CarrierError/invalidFrameLength(type:length:)``). A stream that ends inside a
///   frame gets ``CarrierError/truncatedFrame(have:need:)`` from ``finish()``.
/// - `audio` frames report the rate their type says (0x10: 8 kHz). Older Asterisk sends 0x10 whatever the
///   channel's codec; a gateway that knows the channel's rate checks the reported one against it.
public struct AudioSocketDecoder: Sendable {
    private var header: [UInt8] = [0, 0, 0]
    private var headerCount = 0
    private var body: [UInt8]
    private var bodyCount = 0

    /// A decoder at the start of a stream; its gather buffer (65,535 bytes) is allocated here, once.
    public init() {
        body = [UInt8](repeating: 0, count: AudioSocket.maximumPayloadBytes)
    }

    /// Whether the decoder holds part of a frame.
    public var isInsideFrame: Bool { headerCount > 0 }

    /// Decodes `bytes`, calling `handle` for each whole frame (or bad frame) in order.
    public mutating func decode(_ bytes: UnsafeBufferPointer<UInt8>, _ handle: (Result<AudioSocketFrame, CarrierError>) -> Void) {
        var i = 0
        while i < bytes.count {
            if headerCount < 3 {
                // A whole frame in place: no copy.
                if headerCount == 0, bytes.count - i >= 3 {
                    let length = Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
                    if bytes.count - i - 3 >= length {
                        handle(Self.frame(type: bytes[i], payload: UnsafeBufferPointer(rebasing: bytes[(i + 3)..<(i + 3 + length)])))
                        i += 3 + length
                        continue
                    }
                }
                header[headerCount] = bytes[i]
                headerCount += 1
                i += 1
                if headerCount == 3 && length == 0 { emit(handle) }
                continue
            }
            let take = min(length - bodyCount, bytes.count - i)
            body.withUnsafeMutableBufferPointer { b in
                b.baseAddress!.advanced(by: bodyCount).update(from: bytes.baseAddress!.advanced(by: i), count: take)
            }
            bodyCount += take
            i += take
            if bodyCount == length { emit(handle) }
        }
    }

    /// Ends the stream: reports a frame left incomplete (and drops it).
    public mutating func finish() throws(CarrierError) {
        defer { headerCount = 0; bodyCount = 0 }
        guard headerCount > 0 else { return }
        throw .truncatedFrame(have: headerCount + bodyCount, need: headerCount < 3 ? 3 : 3 + length)
    }

    private var length: Int { Int(header[1]) << 8 | Int(header[2]) }

    private mutating func emit(_ handle: (Result<AudioSocketFrame, CarrierError>) -> Void) {
        let type = header[0]
        let n = length
        headerCount = 0
        bodyCount = 0
        body.withUnsafeBufferPointer { handle(Self.frame(type: type, payload: UnsafeBufferPointer(rebasing: $0[..<n]))) }
    }

    static func frame(type: UInt8, payload: UnsafeBufferPointer<UInt8>) -> Result<AudioSocketFrame, CarrierError> {
        switch type {
        case AudioSocket.hangupType:
            return .success(.hangup)
        case AudioSocket.uuidType:
            guard payload.count == 16 else { return .failure(.invalidFrameLength(type: type, length: payload.count)) }
            return .success(.id(AudioSocketID(payload)))
        case AudioSocket.dtmfType:
            guard payload.count == 1, "0123456789*#ABCDabcd".utf8.contains(payload[0]) else {
                return .failure(.invalidFrameLength(type: type, length: payload.count))
            }
            return .success(.dtmf(Character(Unicode.Scalar(payload[0]))))
        case AudioSocket.errorType:
            return .success(.error(code: payload.first))
        default:
            guard let rate = AudioSocket.rate(ofType: type) else { return .failure(.unknownFrameType(type)) }
            guard payload.count % 2 == 0 else { return .failure(.invalidFrameLength(type: type, length: payload.count)) }
            return .success(.audio(rate: rate, bytes: payload))
        }
    }
}

/// Writes AudioSocket frames.
public enum AudioSocketEncoder {
    /// The bytes ``encodeAudio(_:rate:into:)`` writes for `byteCount` bytes of audio (a header per 65,534 bytes).
    public static func audioCount(forBytes byteCount: Int) -> Int {
        let n = max(0, byteCount)
        return n + 3 * max(1, (n + 65533) / 65534)
    }

    /// Writes `pcm16` (signed linear 16-bit little-endian) as audio frames of the type for `rate`, split at the
    /// 16-bit length limit.
    ///
    /// - Throws: ``CarrierError/unsupportedFormat(_:)`` for a rate AudioSocket cannot carry,
    ///   ``CarrierError/invalidFrameLength(type:length:)`` for an odd byte count,
    ///   ``CarrierError/outputTooSmall(bytes:needed:)``.
    public static func encodeAudio(_ pcm16: UnsafeBufferPointer<UInt8>, rate: SampleRate, into output: UnsafeMutableBufferPointer<UInt8>) throws(CarrierError) -> Int {
        guard let type = AudioSocket.audioType(for: rate) else { throw .unsupportedFormat("AudioSocket audio at \(rate)") }
        guard pcm16.count % 2 == 0 else { throw .invalidFrameLength(type: type, length: pcm16.count) }
        let needed = audioCount(forBytes: pcm16.count)
        guard output.count >= needed else { throw .outputTooSmall(bytes: output.count, needed: needed) }
        var w = ByteWriter(output)
        var at = 0
        repeat {
            let n = min(65534, pcm16.count - at)
            w.append(byte: type)
            w.append(byte: UInt8(n >> 8))
            w.append(byte: UInt8(n & 0xFF))
            w.append(bytes: UnsafeBufferPointer(rebasing: pcm16[at..<(at + n)]))
            at += n
        } while at < pcm16.count
        return w.count
    }

    /// A hangup frame.
    public static let hangup: [UInt8] = [AudioSocket.hangupType, 0, 0]

    /// The identifier frame.
    public static func idFrame(_ id: AudioSocketID) -> [UInt8] {
        var frame: [UInt8] = [AudioSocket.uuidType, 0, 16]
        for k in (0..<8).reversed() { frame.append(UInt8(truncatingIfNeeded: id.high >> (8 * UInt64(k)))) }
        for k in (0..<8).reversed() { frame.append(UInt8(truncatingIfNeeded: id.low >> (8 * UInt64(k)))) }
        return frame
    }

    /// A DTMF frame, or nil when `digit` is not one (0-9, *, #, A-D).
    public static func dtmfFrame(_ digit: Character) -> [UInt8]? {
        guard let a = digit.asciiValue, "0123456789*#ABCDabcd".utf8.contains(a) else { return nil }
        return [AudioSocket.dtmfType, 0, 1, a]
    }

    /// An error frame, with a code when given.
    public static func errorFrame(code: UInt8? = nil) -> [UInt8] {
        code.map { [AudioSocket.errorType, 0, 1, $0] } ?? [AudioSocket.errorType, 0, 0]
    }
}
