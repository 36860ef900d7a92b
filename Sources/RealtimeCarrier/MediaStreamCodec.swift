import RealtimeAudio

/// The carriers whose media streams are JSON text frames with base64 payloads.
public enum JSONCarrier: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Twilio Media Streams: `streamSid`, `sequenceNumber`, `mediaFormat`; µ-law 8 kHz.
    case twilio
    /// Telnyx media streaming: `stream_id`, `sequence_number`, `media_format`; PCMU, PCMA or L16 at 8 or 16 kHz.
    case telnyx

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String { rawValue }

    /// The field names that differ between the two protocols.
    fileprivate var keys: Keys {
        switch self {
        case .twilio:
            Keys(stream: "streamSid", sequence: "sequenceNumber", format: "mediaFormat", sampleRate: "sampleRate",
                 callID: "callSid", accountID: "accountSid", custom: "customParameters")
        case .telnyx:
            Keys(stream: "stream_id", sequence: "sequence_number", format: "media_format", sampleRate: "sample_rate",
                 callID: "call_control_id", accountID: "user_id", custom: "custom_parameters")
        }
    }
}

fileprivate struct Keys {
    let stream: StaticString
    let sequence: StaticString
    let format: StaticString
    let sampleRate: StaticString
    let callID: StaticString
    let accountID: StaticString
    let custom: StaticString
}

/// The wire adapter of a Twilio or Telnyx media stream, one per call: parses the carrier's messages into
/// ``CarrierEvent``s and writes the messages a gateway sends back (`media`, `mark`, `clear`).
///
/// - Decoding a `media` message and encoding one allocate nothing: the reader walks the message's bytes in place
///   (strict JSON, every message checked whole), the payload is decoded straight into the caller's buffer, and
///   the pacer's marks are parsed back without a String. `start`, `dtmf` and foreign marks allocate their Strings.
/// - The stream is the one its `start` names (or the one given at init): a `media` or `mark` message naming
///   another stream, or arriving before any stream is known, gets ``CarrierError/unknownStream(_:)``.
/// - Payloads reach the caller in the pipelines' format: G.711 codes as sent, Telnyx's L16 (big-endian, as RTP
///   carries it) turned little-endian pcm16; ``encodeMedia(_:into:)`` takes the same and turns it back.
/// - Every error is typed and leaves the adapter as it was: log it and go on with the next message.
///
/// A value type with no shared state: use one per call, from one task at a time.
public struct MediaStreamCodec: Sendable {
    /// Which carrier's protocol.
    public let carrier: JSONCarrier
    /// The largest decoded payload accepted, in bytes (and the largest `encodeMedia` writes).
    public let maximumPayloadBytes: Int
    /// The stream's start, once its `start` message has come.
    public private(set) var start: CallStart?
    /// The format of the stream's payloads: the `start`'s, or the one given at init until then.
    public private(set) var format: CarrierMediaFormat

    /// The stream id's bytes (for comparing) and as a JSON string's inside (for writing).
    private var streamID: [UInt8]
    private var streamIDEscaped: [UInt8]
    private var scratch: [UInt8]

    /// Builds the adapter.
    ///
    /// - Parameters:
    ///   - carrier: whose JSON dialect the messages follow (Twilio Media Streams, Telnyx).
    ///   - streamID: the stream, when the gateway knows it before the `start` (otherwise the `start` sets it).
    ///   - format: the payloads' format until a `start` says otherwise (Twilio: always µ-law 8 kHz).
    ///   - maximumPayloadBytes: the largest payload taken or written, decoded (16384 by default: two seconds of
    ///     8 kHz µ-law; Twilio sends 160-byte chunks, Telnyx 20 ms at its rate).
    public init(carrier: JSONCarrier, streamID: String? = nil, format: CarrierMediaFormat = .muLaw8k, maximumPayloadBytes: Int = 16384) {
        self.carrier = carrier
        self.format = format
        self.maximumPayloadBytes = max(2, maximumPayloadBytes)
        self.streamID = []
        self.streamIDEscaped = []
        // Room for the payload's characters with escapes resolved, and for an L16 payload turned big-endian.
        self.scratch = [UInt8](repeating: 0, count: max(Base64.encodedCount(forByteCount: self.maximumPayloadBytes), self.maximumPayloadBytes))
        if let streamID { setStream(streamID) }
    }

    /// The bytes a caller's payload buffer needs for every legal `media` message.
    public var payloadCapacity: Int { Base64.decodedCapacity(forCharacterCount: Base64.encodedCount(forByteCount: maximumPayloadBytes)) }

    private mutating func setStream(_ id: String) {
        streamID = Array(id.utf8)
        var escaped = [UInt8](repeating: 0, count: 6 * streamID.count)
        let n = streamID.withUnsafeBufferPointer { id in
            escaped.withUnsafeMutableBufferPointer { out in
                var writer = ByteWriter(out)
                writer.appendJSONEscaped(id)
                return writer.count
            }
        }
        streamIDEscaped = Array(escaped[..<n])
    }

    // MARK: Decoding

    /// Parses one message (a WebSocket text frame's bytes).
    ///
    /// - Parameters:
    ///   - message: the frame's UTF-8 bytes.
    ///   - payload: where a `media` message's audio goes; ``payloadCapacity`` bytes take any legal payload.
    /// - Returns: the event; for `media`, the payload's byte count is in the ``MediaFrame``.
    /// - Throws: ``CarrierError``, naming the offset or field; the adapter is unchanged then.
    public mutating func decode(_ message: UnsafeBufferPointer<UInt8>, payload: UnsafeMutableBufferPointer<UInt8>) throws(CarrierError) -> CarrierEvent {
        var f = Fields()
        let keys = carrier.keys
        var reader = JSONReader(message)
        reader.skipWhitespace()
        guard reader.peek() == UInt8(ascii: "{") else {
            do { try reader.skipValue(); try reader.finish() } catch { throw .malformedJSON(error) }
            throw .notAnEvent
        }
        do {
            try reader.readObject { (r, key) throws(JSONError) -> Bool in
                let b = r.bytes
                if key.equals("event", in: b) { f.event = try optionalString(&r); return true }
                if key.equals(keys.stream, in: b) { f.stream = try optionalString(&r); return true }
                if key.equals(keys.sequence, in: b) { f.sequence = try optionalInteger(&r); return true }
                if key.equals("media", in: b) { try readMedia(&r, &f); return true }
                if key.equals("mark", in: b) {
                    guard r.peek() == UInt8(ascii: "{") else { return false }
                    try r.readObject { (r, key) throws(JSONError) -> Bool in
                        guard key.equals("name", in: r.bytes) else { return false }
                        f.markName = try optionalString(&r)
                        return true
                    }
                    return true
                }
                if key.equals("start", in: b) { f.startAt = r.position; return false }
                if key.equals("dtmf", in: b) { f.dtmfAt = r.position; return false }
                if key.equals("payload", in: b) { f.errorAt = r.position; return false }
                if key.equals("protocol", in: b) { f.protocolName = try optionalString(&r); return true }
                if key.equals("version", in: b) { f.version = try optionalString(&r); return true }
                return false
            }
            try reader.finish()
        } catch {
            throw .malformedJSON(error)
        }
        guard let event = f.event else { throw .notAnEvent }
        let b = message
        if event.equals("media", in: b) { return try media(f, message, payload) }
        if event.equals("mark", in: b) {
            try checkStream(f.stream, message)
            guard let name = f.markName else { throw .missingField("mark.name") }
            if !name.hasEscapes { return .mark(.parse(name.raw(in: b))) }
            return .mark(.named(name.string(in: b)))
        }
        if event.equals("start", in: b) { return try startEvent(f, message) }
        if event.equals("connected", in: b) { return .connected(protocolName: f.protocolName?.string(in: b), version: f.version?.string(in: b)) }
        if event.equals("stop", in: b) { return .stop }
        if event.equals("dtmf", in: b) { return try dtmf(f, message) }
        if event.equals("error", in: b) { return try carrierError(f, message) }
        return .unknown(event: event.string(in: b))
    }

    private func readMedia(_ r: inout JSONReader, _ f: inout Fields) throws(JSONError) {
        guard r.peek() == UInt8(ascii: "{") else { try r.skipValue(); return }
        f.hasMedia = true
        try r.readObject { (r, key) throws(JSONError) -> Bool in
            let b = r.bytes
            if key.equals("payload", in: b) { f.payload = try optionalString(&r); return true }
            if key.equals("track", in: b) { f.track = try optionalString(&r); return true }
            if key.equals("chunk", in: b) { f.chunk = try optionalInteger(&r); return true }
            if key.equals("timestamp", in: b) { f.timestamp = try optionalInteger(&r); return true }
            return false
        }
    }

    private func checkStream(_ named: JSONString?, _ b: UnsafeBufferPointer<UInt8>) throws(CarrierError) {
        guard !streamID.isEmpty else { throw .unknownStream(named?.string(in: b)) }
        guard let named else { return }   // Telnyx's frames may leave it out: the socket is the stream's
        let same: Bool
        if named.hasEscapes {
            same = named.string(in: b).utf8.elementsEqual(streamID)
        } else {
            same = streamID.withUnsafeBufferPointer { $0.elementsEqual(named.raw(in: b)) }
        }
        guard same else { throw .unknownStream(named.string(in: b)) }
    }

    private mutating func media(_ f: Fields, _ b: UnsafeBufferPointer<UInt8>, _ payload: UnsafeMutableBufferPointer<UInt8>) throws(CarrierError) -> CarrierEvent {
        try checkStream(f.stream, b)
        guard f.hasMedia, let text = f.payload else { throw .missingField("media.payload") }
        var track = MediaTrack.inbound
        if let t = f.track {
            if t.equals("inbound", in: b) || t.equals("inbound_track", in: b) { track = .inbound }
            else if t.equals("outbound", in: b) || t.equals("outbound_track", in: b) { track = .outbound }
            else { throw .invalidField("media.track", reason: "'\(t.string(in: b))' is not inbound or outbound") }
        }
        let sequence = try f.sequence.value("\(carrier.keys.sequence)")
        let chunk = try f.chunk.value("media.chunk")
        let timestamp = try f.timestamp.value("media.timestamp")
        let count = try decodePayload(text, b, into: payload)
        return .media(MediaFrame(track: track, sequenceNumber: sequence, chunk: chunk, timestampMs: timestamp, byteCount: count))
    }

    private mutating func decodePayload(_ text: JSONString, _ b: UnsafeBufferPointer<UInt8>, into payload: UnsafeMutableBufferPointer<UInt8>) throws(CarrierError) -> Int {
        let limit = min(payload.count, maximumPayloadBytes)
        let exact: (UnsafeBufferPointer<UInt8>) -> Int = { chars in
            var n = chars.count / 4 * 3
            if chars.count >= 4 { n -= (chars[chars.count - 1] == UInt8(ascii: "=") ? 1 : 0) + (chars[chars.count - 2] == UInt8(ascii: "=") ? 1 : 0) }
            return n
        }
        let format = self.format
        func run(_ chars: UnsafeBufferPointer<UInt8>, _ scratch: UnsafeMutableBufferPointer<UInt8>?) throws(CarrierError) -> Int {
            let size = exact(chars)
            guard size <= limit else { throw .payloadTooLarge(bytes: size, maximum: limit) }
            let n: Int
            do throws(Base64Error) {
                if payload.count >= Base64.decodedCapacity(forCharacterCount: chars.count) {
                    n = try Base64.decode(chars, into: payload)
                } else {
                    // The buffer holds the payload but not the decoder's rounded-up bound: go through scratch.
                    guard let scratch, scratch.count >= Base64.decodedCapacity(forCharacterCount: chars.count) else {
                        throw Base64Error.invalidLength(chars.count)
                    }
                    n = try Base64.decode(chars, into: scratch)
                    payload.baseAddress!.update(from: scratch.baseAddress!, count: n)
                }
            } catch {
                throw .base64(error, payloadOffset: text.start)
            }
            if format.encoding == .linear16BigEndian {
                guard n % 2 == 0 else { throw .invalidField("media.payload", reason: "L16 audio of \(n) bytes (not whole samples)") }
                swapBytePairs(payload, count: n)
            }
            return n
        }
        guard text.hasEscapes else {
            if text.count <= scratch.count {
                return try scratch.withUnsafeMutableBufferPointer { (s) throws(CarrierError) -> Int in try run(text.raw(in: b), s) }
            }
            throw .payloadTooLarge(bytes: exact(text.raw(in: b)), maximum: limit)
        }
        // A JSON encoder may write `/` as `\/`: resolve the escapes into scratch, then decode.
        guard text.count <= 2 * scratch.count else { throw .payloadTooLarge(bytes: text.count / 2 * 3 / 4, maximum: limit) }
        var resolved = [UInt8]()
        swap(&resolved, &scratch)
        defer { swap(&resolved, &scratch) }
        return try resolved.withUnsafeMutableBufferPointer { (s) throws(CarrierError) -> Int in
            let m = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: text.count) { tmp -> Int in
                let m = text.unescape(in: b, into: tmp)
                if m <= s.count { s.baseAddress!.update(from: tmp.baseAddress!, count: m) }
                return m
            }
            guard m <= s.count else { throw .payloadTooLarge(bytes: m / 4 * 3, maximum: limit) }
            return try run(UnsafeBufferPointer(rebasing: s[..<m]), nil)
        }
    }

    private mutating func startEvent(_ f: Fields, _ b: UnsafeBufferPointer<UInt8>) throws(CarrierError) -> CarrierEvent {
        guard let at = f.startAt else { throw .missingField("start") }
        let keys = carrier.keys
        var s = StartFields()
        var reader = JSONReader(b)
        reader.seek(to: at)
        do {
            guard reader.peek() == UInt8(ascii: "{") else { throw CarrierError.missingField("start") }
            try reader.readObject { (r, key) throws(JSONError) -> Bool in
                let b = r.bytes
                if key.equals(keys.stream, in: b) { s.stream = try optionalString(&r)?.string(in: b); return true }
                if key.equals(keys.callID, in: b) { s.callID = try optionalString(&r)?.string(in: b); return true }
                if key.equals(keys.accountID, in: b) { s.accountID = try optionalString(&r)?.string(in: b); return true }
                if key.equals("tracks", in: b) {
                    guard r.peek() == UInt8(ascii: "[") else { return false }
                    try r.readArray { (r, _) throws(JSONError) -> Bool in
                        guard let t = try optionalString(&r) else { return true }
                        s.tracks.append(t.string(in: r.bytes))
                        return true
                    }
                    return true
                }
                if key.equals(keys.custom, in: b) {
                    guard r.peek() == UInt8(ascii: "{") else { return false }
                    try r.readObject { (r, key) throws(JSONError) -> Bool in
                        let name = key.string(in: r.bytes)
                        r.skipWhitespace()
                        let from = r.position
                        if let value = try optionalString(&r) {
                            s.custom[name] = value.string(in: r.bytes)
                        } else {
                            try r.skipValue()
                            s.custom[name] = String(decoding: UnsafeBufferPointer(rebasing: r.bytes[from..<r.position]), as: UTF8.self)
                        }
                        return true
                    }
                    return true
                }
                if key.equals(keys.format, in: b) {
                    guard r.peek() == UInt8(ascii: "{") else { return false }
                    s.hasFormat = true
                    try r.readObject { (r, key) throws(JSONError) -> Bool in
                        let b = r.bytes
                        if key.equals("encoding", in: b) { s.encoding = try optionalString(&r)?.string(in: b); return true }
                        if key.equals(keys.sampleRate, in: b) { s.rate = try optionalInteger(&r); return true }
                        if key.equals("channels", in: b) { s.channels = try optionalInteger(&r); return true }
                        return false
                    }
                    return true
                }
                return false
            }
        } catch let error as CarrierError {
            throw error
        } catch let error as JSONError {
            throw .malformedJSON(error)
        } catch {
            throw .notAnEvent
        }
        guard let id = s.stream ?? f.stream?.string(in: b) else { throw .missingField("start.\(keys.stream)") }
        var format = self.format
        if s.hasFormat {
            guard let encoding = s.encoding else { throw .missingField("start.\(keys.format).encoding") }
            let wire: CarrierMediaFormat.Encoding
            switch encoding.lowercased() {
            case "audio/x-mulaw", "pcmu", "ulaw", "mulaw": wire = .muLaw
            case "audio/x-alaw", "pcma", "alaw": wire = .aLaw
            case "l16", "audio/l16": wire = .linear16BigEndian
            default: throw .unsupportedFormat(encoding)
            }
            let hertz = try s.rate.value("start.\(keys.format).\(keys.sampleRate)") ?? 8000
            guard CarrierMediaFormat.rates.contains(hertz), let rate = try? SampleRate(hertz: hertz) else {
                throw .invalidField("start.\(keys.format).\(keys.sampleRate)", reason: "\(hertz) is not a sample rate")
            }
            if let channels = try s.channels.value("start.\(keys.format).channels"), channels != 1 {
                throw .invalidField("start.\(keys.format).channels", reason: "\(channels) channels (telephony legs are mono)")
            }
            format = CarrierMediaFormat(encoding: wire, sampleRate: rate)
        }
        let start = CallStart(streamID: id, callID: s.callID, accountID: s.accountID, tracks: s.tracks, customParameters: s.custom, format: format)
        self.start = start
        self.format = format
        setStream(id)
        return .start(start)
    }

    private func dtmf(_ f: Fields, _ b: UnsafeBufferPointer<UInt8>) throws(CarrierError) -> CarrierEvent {
        guard let at = f.dtmfAt else { throw .missingField("dtmf") }
        var digit: String?
        var track: String?
        var reader = JSONReader(b)
        reader.seek(to: at)
        guard reader.peek() == UInt8(ascii: "{") else { throw .missingField("dtmf") }
        do {
            try reader.readObject { (r, key) throws(JSONError) -> Bool in
                if key.equals("digit", in: r.bytes) { digit = try optionalString(&r)?.string(in: r.bytes); return true }
                if key.equals("track", in: r.bytes) { track = try optionalString(&r)?.string(in: r.bytes); return true }
                return false
            }
        } catch { throw .malformedJSON(error) }
        guard let digit else { throw .missingField("dtmf.digit") }
        guard digit.count == 1, let c = digit.first, "0123456789*#ABCDabcd".contains(c) else {
            throw .invalidField("dtmf.digit", reason: "'\(digit)' is not a DTMF digit")
        }
        return .dtmf(digit: c, track: track)
    }

    private func carrierError(_ f: Fields, _ b: UnsafeBufferPointer<UInt8>) throws(CarrierError) -> CarrierEvent {
        var code: Int?
        var title: String?
        var detail: String?
        if let at = f.errorAt {
            var reader = JSONReader(b)
            reader.seek(to: at)
            if reader.peek() == UInt8(ascii: "{") {
                do {
                    try reader.readObject { (r, key) throws(JSONError) -> Bool in
                        if key.equals("code", in: r.bytes) { code = try optionalInteger(&r).integer; return true }
                        if key.equals("title", in: r.bytes) { title = try optionalString(&r)?.string(in: r.bytes); return true }
                        if key.equals("detail", in: r.bytes) { detail = try optionalString(&r)?.string(in: r.bytes); return true }
                        return false
                    }
                } catch { throw .malformedJSON(error) }
            }
        }
        return .carrierError(code: code, title: title, detail: detail)
    }

    // MARK: Encoding

    /// The bytes ``encodeMedia(_:into:)`` writes for `byteCount` payload bytes.
    public func mediaMessageCount(forPayloadBytes byteCount: Int) -> Int {
        fixedMediaBytes + Base64.encodedCount(forByteCount: max(0, byteCount))
    }

    /// The buffer every `encodeMedia` of up to ``maximumPayloadBytes`` fits in.
    public var maximumMediaMessageBytes: Int { mediaMessageCount(forPayloadBytes: maximumPayloadBytes) }

    private var fixedMediaBytes: Int {
        switch carrier {
        case .twilio: #"{"event":"media","streamSid":"","media":{"payload":""}}"#.utf8.count + streamIDEscaped.count
        case .telnyx: #"{"event":"media","media":{"payload":""}}"#.utf8.count
        }
    }

    /// Writes an outbound `media` message carrying `audio` (in the pipelines' format: G.711 codes, or pcm16
    /// little-endian for an L16 stream).
    ///
    /// - Returns: the bytes written (a WebSocket text frame).
    /// - Throws: ``CarrierError/noStream`` (Twilio, before a stream is known), ``CarrierError/payloadTooLarge(bytes:maximum:)``,
    ///   ``CarrierError/outputTooSmall(bytes:needed:)``.
    public mutating func encodeMedia(_ audio: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) throws(CarrierError) -> Int {
        guard audio.count <= maximumPayloadBytes else { throw .payloadTooLarge(bytes: audio.count, maximum: maximumPayloadBytes) }
        let needed = mediaMessageCount(forPayloadBytes: audio.count)
        guard output.count >= needed else { throw .outputTooSmall(bytes: output.count, needed: needed) }
        var w = try header("media", into: output)
        w.append(#","media":{"payload":""#)
        let at = w.count
        let rest = UnsafeMutableBufferPointer(rebasing: output[at...])
        let n: Int
        if format.encoding == .linear16BigEndian {
            guard audio.count % 2 == 0 else { throw .invalidField("media.payload", reason: "pcm16 audio of \(audio.count) bytes (not whole samples)") }
            n = scratch.withUnsafeMutableBufferPointer { s in
                s.baseAddress!.update(from: audio.baseAddress!, count: audio.count)
                swapBytePairs(s, count: audio.count)
                return Base64.encode(UnsafeBufferPointer(rebasing: s[..<audio.count]), into: rest)
            }
        } else {
            n = Base64.encode(audio, into: rest)
        }
        var tail = ByteWriter(UnsafeMutableBufferPointer(rebasing: output[(at + n)...]))
        tail.append(#""}}"#)
        return at + n + tail.count
    }

    /// Writes an outbound `mark` message.
    ///
    /// - Throws: ``CarrierError/noStream`` (Twilio), ``CarrierError/outputTooSmall(bytes:needed:)``.
    public func encodeMark(_ mark: CarrierMark, into output: UnsafeMutableBufferPointer<UInt8>) throws(CarrierError) -> Int {
        var w = try header("mark", into: output)
        w.append(#","mark":{"name":""#)
        let written: Bool = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { tmp in
            if let n = mark.writeName(into: tmp) { w.appendJSONEscaped(UnsafeBufferPointer(rebasing: tmp[..<n])); return true }
            return false
        }
        if !written, case .named(let name) = mark {
            var copy = name
            copy.withUTF8 { w.appendJSONEscaped($0) }
        }
        w.append(#""}}"#)
        guard !w.overflowed else { throw .outputTooSmall(bytes: output.count, needed: output.count + 1) }
        return w.count
    }

    /// Writes an outbound `clear` message (the carrier drops the audio it holds, and returns its pending marks).
    ///
    /// - Throws: ``CarrierError/noStream`` (Twilio), ``CarrierError/outputTooSmall(bytes:needed:)``.
    public func encodeClear(into output: UnsafeMutableBufferPointer<UInt8>) throws(CarrierError) -> Int {
        var w = try header("clear", into: output)
        w.append("}")
        guard !w.overflowed else { throw .outputTooSmall(bytes: output.count, needed: output.count + 1) }
        return w.count
    }

    private func header(_ event: StaticString, into output: UnsafeMutableBufferPointer<UInt8>) throws(CarrierError) -> ByteWriter {
        var w = ByteWriter(output)
        w.append(#"{"event":""#)
        w.append(event)
        w.append("\"")
        if carrier == .twilio {
            guard !streamIDEscaped.isEmpty else { throw .noStream }
            w.append(#","streamSid":""#)
            streamIDEscaped.withUnsafeBufferPointer { w.append(bytes: $0) }
            w.append("\"")
        }
        guard !w.overflowed else { throw .outputTooSmall(bytes: output.count, needed: output.count + 1) }
        return w
    }
}

// MARK: Conveniences (allocate: for tools, tests and rare messages)

extension MediaStreamCodec {
    /// Parses one message given as text; a `media` payload is returned as a new array.
    public mutating func decode(_ message: String) throws(CarrierError) -> (event: CarrierEvent, payload: [UInt8]) {
        let text = Array(message.utf8)
        var payload = [UInt8](repeating: 0, count: payloadCapacity)
        let event = try text.withUnsafeBufferPointer { (bytes) throws(CarrierError) -> CarrierEvent in
            try payload.withUnsafeMutableBufferPointer { (p) throws(CarrierError) -> CarrierEvent in try decode(bytes, payload: p) }
        }
        if case .media(let frame) = event { payload.removeSubrange(frame.byteCount...) } else { payload = [] }
        return (event, payload)
    }

    /// The `media` message carrying `audio`, as text.
    public mutating func mediaMessage(_ audio: [UInt8]) throws(CarrierError) -> String {
        String(decoding: try audio.withUnsafeBufferPointer { (a) throws(CarrierError) -> [UInt8] in try mediaMessageBytes(a) }, as: UTF8.self)
    }

    /// The `media` message carrying `audio`, as its UTF-8 bytes: one array, sized by ``mediaMessageCount(forPayloadBytes:)``.
    public mutating func mediaMessageBytes(_ audio: UnsafeBufferPointer<UInt8>) throws(CarrierError) -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: mediaMessageCount(forPayloadBytes: audio.count)) { (room, count) throws(CarrierError) in
            count = 0
            count = try encodeMedia(audio, into: room)
        }
    }

    /// The `mark` message, as text.
    public func markMessage(_ mark: CarrierMark) throws(CarrierError) -> String {
        String(decoding: try markMessageBytes(mark), as: UTF8.self)
    }

    /// The `mark` message, as its UTF-8 bytes.
    public func markMessageBytes(_ mark: CarrierMark) throws(CarrierError) -> [UInt8] {
        // A name is at most its description's length once escaped six-fold; the rest is the event's fixed text.
        try [UInt8](unsafeUninitializedCapacity: 96 + 6 * (mark.description.utf8.count + streamIDEscaped.count)) { (room, count) throws(CarrierError) in
            count = 0
            count = try encodeMark(mark, into: room)
        }
    }

    /// The `clear` message, as text.
    public func clearMessage() throws(CarrierError) -> String {
        String(decoding: try clearMessageBytes(), as: UTF8.self)
    }

    /// The `clear` message, as its UTF-8 bytes.
    public func clearMessageBytes() throws(CarrierError) -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: 64 + streamIDEscaped.count) { (room, count) throws(CarrierError) in
            count = 0
            count = try encodeClear(into: room)
        }
    }
}

// MARK: Parsing helpers

/// An integer field: absent, a value, or present but not a non-negative integer.
enum IntegerField {
    case absent
    case value(Int)
    case invalid

    var integer: Int? { if case .value(let v) = self { v } else { nil } }

    func value(_ path: @autoclosure () -> String) throws(CarrierError) -> Int? {
        switch self {
        case .absent: nil
        case .value(let v): v
        case .invalid: throw .invalidField(path(), reason: "not a non-negative integer")
        }
    }
}

private struct Fields {
    var event: JSONString?
    var stream: JSONString?
    var sequence = IntegerField.absent
    var hasMedia = false
    var payload: JSONString?
    var track: JSONString?
    var chunk = IntegerField.absent
    var timestamp = IntegerField.absent
    var markName: JSONString?
    var protocolName: JSONString?
    var version: JSONString?
    var startAt: Int?
    var dtmfAt: Int?
    var errorAt: Int?
}

private struct StartFields {
    var stream: String?
    var callID: String?
    var accountID: String?
    var tracks: [String] = []
    var custom: [String: String] = [:]
    var hasFormat = false
    var encoding: String?
    var rate = IntegerField.absent
    var channels = IntegerField.absent
}

/// Reads a string value, or skips a value of another type and returns nil.
func optionalString(_ r: inout JSONReader) throws(JSONError) -> JSONString? {
    r.skipWhitespace()
    guard r.peek() == UInt8(ascii: "\"") else { try r.skipValue(); return nil }
    return try r.readString()
}

/// Reads an integer written as a number or a string of digits; anything else is read and marked invalid.
func optionalInteger(_ r: inout JSONReader) throws(JSONError) -> IntegerField {
    r.skipWhitespace()
    let at = r.position
    do throws(JSONError) { return .value(try r.readInteger()) } catch {
        r.seek(to: at)
        try r.skipValue()
        return .invalid
    }
}

/// Swaps each pair of bytes (big- <-> little-endian 16-bit samples), in place.
func swapBytePairs(_ bytes: UnsafeMutableBufferPointer<UInt8>, count: Int) {
    var i = 0
    while i + 1 < count {
        let t = bytes[i]
        bytes[i] = bytes[i + 1]
        bytes[i + 1] = t
        i += 2
    }
}
