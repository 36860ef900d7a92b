import RealtimeAudio

/// What a carrier's message says, typed. The media variant carries no storage of its own (its payload went to
/// the caller's buffer), so decoding a `media` message allocates nothing.
public enum CarrierEvent: Sendable, Equatable {
    /// The socket is up (`connected`): the carrier's protocol name and version, as sent.
    case connected(protocolName: String?, version: String?)
    /// A stream starts (`start`): who, which tracks, which format.
    case start(CallStart)
    /// Audio (`media`): the payload was decoded into the caller's buffer.
    case media(MediaFrame)
    /// A mark came back (`mark`): the audio sent before it has played (or was cleared).
    case mark(CarrierMark)
    /// A key press (`dtmf`).
    case dtmf(digit: Character, track: String?)
    /// The stream ends (`stop`).
    case stop
    /// The carrier reports an error (Telnyx's `error` frame): its code, title and detail as sent.
    case carrierError(code: Int?, title: String?, detail: String?)
    /// An event this adapter does not know (carriers add events over time): the leg continues.
    case unknown(event: String)
}

/// The `start` of a stream.
public struct CallStart: Sendable, Equatable {
    /// Twilio's `streamSid`, Telnyx's `stream_id`.
    public var streamID: String
    /// Twilio's `callSid`, Telnyx's `call_control_id`.
    public var callID: String?
    /// Twilio's `accountSid`, Telnyx's `user_id`.
    public var accountID: String?
    /// The tracks streamed (`inbound`, `outbound`), as sent; empty when the carrier does not say.
    public var tracks: [String]
    /// The parameters the application attached to the stream (Twilio `customParameters`, Telnyx
    /// `custom_parameters`); string values only, others are kept as their JSON text.
    public var customParameters: [String: String]
    /// The audio format of the stream's `media` payloads.
    public var format: CarrierMediaFormat

    /// A start as the adapters build it from a `start` message.
    public init(streamID: String, callID: String? = nil, accountID: String? = nil, tracks: [String] = [],
                customParameters: [String: String] = [:], format: CarrierMediaFormat) {
        self.streamID = streamID
        self.callID = callID
        self.accountID = accountID
        self.tracks = tracks
        self.customParameters = customParameters
        self.format = format
    }
}

/// One `media` message, decoded.
public struct MediaFrame: Sendable, Equatable {
    /// Which direction the audio travels.
    public var track: MediaTrack
    /// The message's sequence number (`sequenceNumber` / `sequence_number`), counting every message of the
    /// stream from 1: with Telnyx, whose frames may arrive out of order, it is the key to put them back in order.
    public var sequenceNumber: Int?
    /// The media chunk's number (`media.chunk`), from 1, counting media messages of the track.
    public var chunk: Int?
    /// The chunk's time in the stream (`media.timestamp`), in milliseconds.
    public var timestampMs: Int?
    /// The payload bytes written to the caller's buffer, in the stream's ``CarrierMediaFormat/audioFormat``
    /// (L16 already turned little-endian).
    public var byteCount: Int

    /// A frame's description as the adapters build it from a `media` message.
    public init(track: MediaTrack, sequenceNumber: Int? = nil, chunk: Int? = nil, timestampMs: Int? = nil, byteCount: Int) {
        self.track = track
        self.sequenceNumber = sequenceNumber
        self.chunk = chunk
        self.timestampMs = timestampMs
        self.byteCount = byteCount
    }
}

/// The direction of a media track.
public enum MediaTrack: String, Sendable, Equatable {
    /// The caller's audio (Twilio `inbound`, Telnyx `inbound`).
    case inbound
    /// Audio played to the caller (when the carrier streams both tracks).
    case outbound
}

/// A mark's name: the pacer's own marks are parsed back to what they mean without an allocation, any other
/// name is kept as sent.
public enum CarrierMark: Sendable, Equatable, CustomStringConvertible {
    /// A mark the ``Pacer`` inserted: the audio of response `response` up to sample `sample` (client samples
    /// from the response's start) was played. Its wire name is `rtaudio:<response>:<sample>`.
    case pacer(response: Int, sample: Int)
    /// Any other name, as sent.
    case named(String)

    /// The name as sent on the wire.
    public var description: String {
        switch self {
        case .pacer(let response, let sample): "rtaudio:\(response):\(sample)"
        case .named(let name): name
        }
    }

    /// Writes the name (unescaped) into `output`; returns the bytes written, nil when it does not fit.
    func writeName(into output: UnsafeMutableBufferPointer<UInt8>) -> Int? {
        switch self {
        case .pacer(let response, let sample):
            var writer = ByteWriter(output)
            writer.append("rtaudio:")
            writer.append(integer: response)
            writer.append(byte: UInt8(ascii: ":"))
            writer.append(integer: sample)
            return writer.overflowed ? nil : writer.count
        case .named(let name):
            var writer = ByteWriter(output)
            var copy = name
            copy.withUTF8 { writer.append(bytes: $0) }
            return writer.overflowed ? nil : writer.count
        }
    }

    /// Parses a name's bytes: the pacer's pattern without allocating, anything else as a String.
    static func parse(_ name: UnsafeBufferPointer<UInt8>) -> CarrierMark {
        let prefix: StaticString = "rtaudio:"
        let p = prefix.utf8CodeUnitCount
        if name.count > p + 2, (0..<p).allSatisfy({ name[$0] == prefix.utf8Start[$0] }) {
            var i = p
            if let response = digits(name, &i), i < name.count, name[i] == UInt8(ascii: ":") {
                i += 1
                if let sample = digits(name, &i), i == name.count { return .pacer(response: response, sample: sample) }
            }
        }
        return .named(String(decoding: name, as: UTF8.self))
    }

    private static func digits(_ bytes: UnsafeBufferPointer<UInt8>, _ i: inout Int) -> Int? {
        let start = i
        var value = 0
        while i < bytes.count, bytes[i] &- UInt8(ascii: "0") < 10, i - start < 18 {
            value = value * 10 + Int(bytes[i] - UInt8(ascii: "0"))
            i += 1
        }
        guard i > start, !(i - start > 1 && bytes[start] == UInt8(ascii: "0")) else { return nil }
        return value
    }
}

/// The audio of a carrier's stream.
public struct CarrierMediaFormat: Sendable, Equatable, CustomStringConvertible {
    /// How samples are coded on the wire.
    public enum Encoding: Sendable, Equatable {
        /// G.711 µ-law (Twilio `audio/x-mulaw`, Telnyx `PCMU`).
        case muLaw
        /// G.711 A-law (Telnyx `PCMA`).
        case aLaw
        /// 16-bit linear PCM, big-endian (RTP's L16, Telnyx `L16`).
        case linear16BigEndian
        /// 16-bit linear PCM, little-endian (AudioSocket's signed linear).
        case linear16LittleEndian
    }

    /// How samples are coded on the wire.
    public var encoding: Encoding
    /// Samples per second.
    public var sampleRate: SampleRate

    /// A format; the pacer and the leg take rates in ``rates`` only.
    public init(encoding: Encoding, sampleRate: SampleRate) {
        self.encoding = encoding
        self.sampleRate = sampleRate
    }

    /// The rates a carrier leg runs at, in Hz: telephony's 8 kHz up to AudioSocket's 192 kHz (a frame of 10 ms is
    /// then at least 80 samples).
    public static let rates = 8000...192_000

    /// G.711 µ-law at 8 kHz: Twilio's only format.
    public static let muLaw8k = CarrierMediaFormat(encoding: .muLaw, sampleRate: .hz8000)

    /// The pipelines' format for this stream's payloads as the adapters deliver them (L16 turned little-endian).
    public var audioFormat: AudioFormat {
        switch encoding {
        case .muLaw: .g711_ulaw
        case .aLaw: .g711_alaw
        case .linear16BigEndian, .linear16LittleEndian: .pcm16
        }
    }

    /// Bytes per sample on the wire.
    public var bytesPerSample: Int { audioFormat.bytesPerSample }

    /// The byte that codes silence (G.711's zero code; 0 for linear PCM), for padding a partial frame.
    public var silenceByte: UInt8 {
        switch encoding {
        case .muLaw: 0xFF
        case .aLaw: 0xD5
        case .linear16BigEndian, .linear16LittleEndian: 0
        }
    }

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String {
        let name = switch encoding {
        case .muLaw: "µ-law"
        case .aLaw: "A-law"
        case .linear16BigEndian: "L16 big-endian"
        case .linear16LittleEndian: "pcm16 little-endian"
        }
        return "\(name) \(sampleRate.hertz) Hz"
    }
}

/// Bad input to a carrier adapter, typed; the adapter's state is as before the message, and the leg continues.
public enum CarrierError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The message is not JSON (where, and what).
    case malformedJSON(JSONError)
    /// The message is JSON but not an object with a string `event`.
    case notAnEvent
    /// A field the event needs is missing or of the wrong type (its JSON path).
    case missingField(String)
    /// A field holds a value the carrier's protocol does not allow (its JSON path, and why).
    case invalidField(String, reason: String)
    /// The payload is not valid base64: the error's offset counts characters of the payload, which starts at
    /// byte `payloadOffset` of the message.
    case base64(Base64Error, payloadOffset: Int)
    /// The payload decodes to more bytes than the caller's buffer (or the adapter's maximum) holds.
    case payloadTooLarge(bytes: Int, maximum: Int)
    /// A `media` (or `mark`) message names a stream other than the one started (or comes before any `start`).
    case unknownStream(String?)
    /// The stream's format is one these adapters do not decode (the name as sent).
    case unsupportedFormat(String)
    /// An outbound message needs the stream id (Twilio's `streamSid`), and no stream has started.
    case noStream
    /// The caller's output buffer is too small for the message (see the encoders' capacity functions).
    case outputTooSmall(bytes: Int, needed: Int)
    /// AudioSocket: a frame of a type the protocol does not define (the frame was skipped whole).
    case unknownFrameType(UInt8)
    /// AudioSocket: a frame whose length does not fit its type (UUID not 16 bytes, DTMF not 1, odd audio).
    case invalidFrameLength(type: UInt8, length: Int)
    /// AudioSocket: the stream ended inside a frame (bytes held, bytes the frame needed).
    case truncatedFrame(have: Int, need: Int)

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String {
        switch self {
        case .malformedJSON(let error): "\(error)"
        case .notAnEvent: "not a carrier event (an object with a string \"event\")"
        case .missingField(let path): "\(path): missing or not of the expected type"
        case .invalidField(let path, let reason): "\(path): \(reason)"
        case .base64(let error, let offset): "media.payload (at byte \(offset)): \(error)"
        case .payloadTooLarge(let bytes, let maximum): "media.payload: \(bytes) bytes is more than the \(maximum) this leg takes"
        case .unknownStream(let id): "media for an unknown stream \(id.map { "'\($0)'" } ?? "(none named, and none started)")"
        case .unsupportedFormat(let name): "unsupported media format '\(name)'"
        case .noStream: "no stream has started: the message needs its stream id"
        case .outputTooSmall(let bytes, let needed): "output buffer of \(bytes) bytes is smaller than the \(needed) this message needs"
        case .unknownFrameType(let type): "AudioSocket: unknown frame type 0x\(String(type, radix: 16)) (skipped)"
        case .invalidFrameLength(let type, let length): "AudioSocket: a frame of type 0x\(String(type, radix: 16)) cannot be \(length) bytes long"
        case .truncatedFrame(let have, let need): "AudioSocket: the stream ends inside a frame (\(have) of \(need) bytes)"
        }
    }
}

/// Appends bytes to a fixed buffer, remembering when it ran out of room (nothing is written past the end).
struct ByteWriter {
    let buffer: UnsafeMutableBufferPointer<UInt8>
    private(set) var count = 0
    private(set) var overflowed = false

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

    mutating func append(byte: UInt8) {
        guard count < buffer.count else { overflowed = true; return }
        buffer[count] = byte
        count += 1
    }

    mutating func append(_ text: StaticString) {
        append(bytes: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(bytes: UnsafeBufferPointer<UInt8>) {
        guard bytes.count <= buffer.count - count else { overflowed = true; return }
        if let base = bytes.baseAddress, let dst = buffer.baseAddress { (dst + count).update(from: base, count: bytes.count) }
        count += bytes.count
    }

    mutating func append(integer value: Int) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var v = value.magnitude
        if value < 0 { append(byte: UInt8(ascii: "-")) }
        let n = withUnsafeMutableBytes(of: &digits) { raw in
            var n = 0
            repeat { raw[19 - n] = UInt8(ascii: "0") + UInt8(v % 10); v /= 10; n += 1 } while v > 0
            return n
        }
        withUnsafeBytes(of: &digits) { raw in
            append(bytes: UnsafeBufferPointer(rebasing: raw.bindMemory(to: UInt8.self)[(20 - n)...]))
        }
    }

    /// Appends `text` as the inside of a JSON string (quotes, backslashes and control characters escaped).
    mutating func appendJSONEscaped(_ text: UnsafeBufferPointer<UInt8>) {
        for c in text {
            switch c {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                append(byte: UInt8(ascii: "\\")); append(byte: c)
            case 0..<0x20:
                append("\\u00")
                let hex: StaticString = "0123456789abcdef"
                append(byte: hex.utf8Start[Int(c >> 4)]); append(byte: hex.utf8Start[Int(c & 15)])
            default:
                append(byte: c)
            }
        }
    }
}
