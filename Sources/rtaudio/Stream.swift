import Foundation
import ArgumentParser
import RealtimeAudio
import RealtimeCarrier
import RealtimeSession
import SoundFile

struct StreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Carrier media streams: decode a captured call to audio and events, or encode audio as a carrier's messages.",
        subcommands: [Decode.self, Encode.self]
    )

    /// The carriers the stream commands speak.
    enum Carrier: String, ExpressibleByArgument, CaseIterable {
        case twilio, telnyx, audiosocket

        var json: JSONCarrier? {
            switch self {
            case .twilio: .twilio
            case .telnyx: .telnyx
            case .audiosocket: nil
            }
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn a captured carrier stream into audio, and print the call's events as JSON lines.",
            discussion: """
                CAPTURE is a Twilio or Telnyx media stream as gateways log it (one JSON message per line) or an \
                Asterisk AudioSocket byte stream (the raw TCP bytes); '-' reads standard input. The audio of the \
                chosen track goes to OUTPUT (its extension picks the container, as for convert), at the stream's \
                rate, in arrival order. The events (connected, start, mark, dtmf, stop, the carrier's errors, and a \
                closing summary) go to standard output, one JSON object per line. A malformed line or frame is \
                reported on standard error (line number or byte offset, and what is wrong) and skipped; the rest \
                decodes, and the exit code is 1 if any was bad.
                """
        )

        @Argument(help: "The capture: JSON lines (twilio, telnyx) or AudioSocket bytes; '-' for standard input.")
        var capture: String

        @Argument(help: "The audio file to write; its extension picks the container.")
        var output: String

        @Option(help: "The carrier: twilio, telnyx or audiosocket (default: twilio).")
        var carrier: Carrier = .twilio

        @Option(help: "Which track's media to write: inbound (the caller) or outbound (default: inbound).")
        var track: String = "inbound"

        @Option(help: "Frames missing from the chunk numbers (Twilio, Telnyx): plc (conceal, G.711 Appendix I method), zero (silence) or none (left out) (default: plc).")
        var conceal: String = "plc"

        @Option(help: "Output encoding: pcm16, g711_ulaw, g711_alaw or float (default: from the extension, else pcm16).")
        var format: String?

        @Flag(help: "Replace OUTPUT even if it is read-only (never the capture).")
        var force = false

        func run() throws {
            try Console.run(decode)
        }

        private func decode() throws {
            let (kind, outputFormat) = try FileKind.resolveOutput(output, format: format)
            guard let wanted = MediaTrack(rawValue: track) else {
                throw UserError("--track '\(track)' is not inbound or outbound")
            }
            guard let concealment = CaptureDecoder.Concealment(rawValue: conceal) else {
                throw UserError("--conceal '\(conceal)' is not plc, zero or none")
            }
            try Outputs.check(output, inputs: [("capture", capture)], force: force)
            let source = try StreamInput(capture)
            Interruption.install()
            var decoder = CaptureDecoder(output: output, kind: kind, format: outputFormat, track: wanted, concealment: concealment)
            do {
                if let json = carrier.json {
                    try decoder.decodeLines(from: source, carrier: json)
                } else {
                    try decoder.decodeAudioSocket(from: source)
                }
                try decoder.finish()
            } catch {
                decoder.discard()
                throw error
            }
            if decoder.bad > 0 {
                throw UserError("\(decoder.bad) of \(decoder.units) \(carrier.json == nil ? "frames" : "lines") were bad and skipped; the rest is in '\(output)'")
            }
        }
    }

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the messages a gateway sends a carrier for an audio file, paced in frames with marks.",
            discussion: """
                The audio (mixed to mono, resampled to the carrier's rate) goes through the pacer as one response: \
                frames of --frame-ms (the last one partial), a mark before the first and after the last \
                (rtaudio:<response>:<sample>). Twilio and Telnyx messages are JSON lines, on standard output or in \
                OUTPUT; AudioSocket frames are the binary TCP stream and need OUTPUT.
                """
        )

        @Argument(help: "The audio file to send.")
        var input: String

        @Argument(help: "Where to write the messages (default: standard output, JSON carriers only).")
        var output: String?

        @Option(help: "The carrier: twilio, telnyx or audiosocket (default: twilio).")
        var carrier: Carrier = .twilio

        @Option(name: .customLong("stream-sid"), help: "The stream id Twilio's messages name (default: a made-up one).")
        var streamSID: String = "MZ00000000000000000000000000000000"

        @Option(help: "Telnyx and AudioSocket: the wire encoding, PCMU, PCMA or L16 (default: PCMU; AudioSocket is always L16).")
        var encoding: String = "PCMU"

        @Option(parsing: .unconditional, help: "The carrier's rate in Hz (default: 8000; Twilio is always 8000).")
        var rate: Int = 8000

        @Option(name: .customLong("frame-ms"), parsing: .unconditional, help: "Frame length in ms, 10...60 (default: 20).")
        var frameMs: Int = 20

        @Flag(help: "Replace OUTPUT even if it is read-only (never the input).")
        var force = false

        @OptionGroup var inputOptions: InputOptions

        func run() throws {
            try Console.run(encode)
        }

        private func encode() throws {
            let format = try carrierFormat()
            let configuration = PacerConfiguration(frameMs: frameMs, leadMs: 0)
            do { try configuration.validate() } catch { throw UserError("--frame-ms \(frameMs) is out of range (10...60)") }
            if let output { try Outputs.check(output, inputs: [("input", input)], force: force) }
            else if carrier == .audiosocket { throw UserError("AudioSocket frames are binary: name an OUTPUT file") }
            let reader = try inputOptions.open(input)
            let inputRate = reader.info.sampleRate
            let resampler = inputRate == format.sampleRate.hertz ? nil
                : try Resampler(from: SampleRate(hertz: inputRate), to: format.sampleRate)
            var stage = ConversionStage(channels: reader.info.channels, resampler: resampler)
            var pacer = try RealtimeCarrier.Pacer(format: format, configuration: configuration)
            var codec = carrier.json.map { MediaStreamCodec(carrier: $0, streamID: streamSID, format: format) }
            let sink = try MessageSink(path: output)
            var wire = [UInt8](repeating: 0, count: 65536)
            var message = [UInt8](repeating: 0, count: codec?.maximumMediaMessageBytes ?? AudioSocketEncoder.audioCount(forBytes: 65536))
            var t: UInt64 = 0
            // Releases the frames (and marks) due next, as the gateway's timer would, and writes each message.
            func releaseNext() throws {
                guard let deadline = pacer.nextDeadline else { return }
                t = max(t, deadline)
                var failure: Error?
                pacer.poll(now: t) { out in
                    guard failure == nil else { return }
                    do {
                        switch out {
                        case .frame(let bytes, _, _):
                            let n = try message.withUnsafeMutableBufferPointer { o in
                                if codec != nil { return try codec!.encodeMedia(bytes, into: o) }
                                return try AudioSocketEncoder.encodeAudio(bytes, rate: format.sampleRate, into: o)
                            }
                            try sink.write(message[..<n], line: codec != nil)
                        case .mark(let mark):
                            guard let c = codec else { return }
                            let n = try message.withUnsafeMutableBufferPointer { try c.encodeMark(mark, into: $0) }
                            try sink.write(message[..<n], line: true)
                        }
                    } catch { failure = error }
                }
                if let failure { throw failure }
            }
            let encodeSamples: SampleSink = { samples in
                // In pieces that fit `wire` whatever the stage hands over (8 kHz up to 192 kHz makes 24x the samples).
                var piece = 0
                while piece < samples.count {
                    let m = min(samples.count - piece, wire.count / 2)
                    let n = wire.withUnsafeMutableBufferPointer {
                        Self.encode(UnsafeBufferPointer(rebasing: samples[piece..<(piece + m)]), format: format, into: $0)
                    }
                    var at = 0
                    while at < n {
                        at += try wire[at..<n].withUnsafeBufferPointer { try pacer.append($0, now: t) }
                        // The queue is full (memory stays bounded whatever the file's length): release what is due.
                        if at < n { try releaseNext() }
                    }
                    piece += m
                }
            }
            Interruption.install()
            do {
                while true {
                    if let signal = Interruption.received { throw UserError("interrupted by signal \(signal)") }
                    let frames = try stage.pump(from: reader, to: encodeSamples)
                    if frames == 0 { break }
                }
                try stage.finish(to: encodeSamples)
                pacer.endResponse(now: t)
                while pacer.nextDeadline != nil { try releaseNext() }
                try sink.commit()
            } catch {
                sink.discard()
                throw error
            }
        }

        private func carrierFormat() throws -> CarrierMediaFormat {
            switch carrier {
            case .twilio:
                guard rate == 8000 else { throw UserError("Twilio media streams are 8000 Hz µ-law: --rate \(rate) does not apply") }
                return .muLaw8k
            case .telnyx:
                let wire: CarrierMediaFormat.Encoding = switch encoding.uppercased() {
                case "PCMU": .muLaw
                case "PCMA": .aLaw
                case "L16": .linear16BigEndian
                default: throw UserError("--encoding '\(encoding)' is not PCMU, PCMA or L16")
                }
                guard [8000, 16000].contains(rate) else { throw UserError("Telnyx streams are 8000 or 16000 Hz: --rate \(rate) does not apply") }
                return CarrierMediaFormat(encoding: wire, sampleRate: try SampleRate(hertz: rate))
            case .audiosocket:
                let sampleRate = try SampleRate(hertz: rate)
                guard AudioSocket.audioType(for: sampleRate) != nil else {
                    throw UserError("AudioSocket carries \(AudioSocket.audioRates.map { "\($0.hertz)" }.joined(separator: ", ")) Hz: --rate \(rate) does not apply")
                }
                return CarrierMediaFormat(encoding: .linear16LittleEndian, sampleRate: sampleRate)
            }
        }

        /// Float samples to the carrier's payload bytes (G.711 codes, or pcm16 little-endian: the codec swaps L16).
        static func encode(_ samples: UnsafeBufferPointer<Float>, format: CarrierMediaFormat, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
            switch format.encoding {
            case .muLaw, .aLaw:
                let codec = format.encoding == .muLaw ? G711.muLaw : G711.aLaw
                codec.encode(samples, into: UnsafeMutableBufferPointer(rebasing: output[..<samples.count]))
                return samples.count
            case .linear16BigEndian, .linear16LittleEndian:
                return PCM16.encode(samples, into: output)
            }
        }
    }
}

/// Where `stream encode` writes: standard output, or a file written beside its target and renamed when complete;
/// buffered, so a long file is a few large writes, not two per message.
final class MessageSink {
    private let path: String?
    private let temporary: String?
    private let fd: Int32
    private var buffer: [UInt8] = []

    init(path: String?) throws {
        self.path = path
        guard let path else {
            temporary = nil
            fd = STDOUT_FILENO
            return
        }
        let temporary = SoundFileWriter.temporaryName(for: path)
        SoundFileWriter.removeStaleTemporaries(for: path)
        fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw UserError("cannot write '\(path)': \(String(cString: strerror(errno)))") }
        self.temporary = temporary
        buffer.reserveCapacity(1 << 16)
    }

    func write(_ bytes: ArraySlice<UInt8>, line: Bool) throws {
        buffer += bytes
        if line { buffer.append(0x0A) }
        if buffer.count >= 1 << 16 { try flush() }
    }

    private func flush() throws {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, buffer.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw UserError("cannot write '\(path ?? "standard output")': \(String(cString: strerror(errno)))")
            }
            done += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    func commit() throws {
        try flush()
        guard let path, let temporary else { return }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw UserError("cannot write '\(path)': \(reason)")
        }
    }

    func discard() {
        guard let temporary else { return }
        close(fd)
        unlink(temporary)
    }
}

/// A capture read in chunks: a file or standard input, never a device or a directory.
final class StreamInput {
    let path: String
    private let fd: Int32

    init(_ path: String) throws {
        self.path = path
        if path == "-" {
            fd = STDIN_FILENO
            return
        }
        var st = stat()
        guard stat(path, &st) == 0 else { throw UserError("cannot open '\(path)': \(String(cString: strerror(errno)))") }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: throw UserError("cannot read '\(path)': it is a directory")
        case S_IFCHR, S_IFBLK: throw UserError("cannot read '\(path)': it is a device, not a file or a pipe (to read a device, pipe it: cat \(path) | ...)")
        default: break
        }
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw UserError("cannot open '\(path)': \(String(cString: strerror(errno)))") }
    }

    deinit { if fd != STDIN_FILENO { close(fd) } }

    /// Reads up to `buffer.count` bytes; 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress!, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw UserError("cannot read '\(path == "-" ? "standard input" : path)': \(String(cString: strerror(errno)))")
        }
    }
}

/// The work of `stream decode`: messages or frames in, audio to a file and events to standard output.
struct CaptureDecoder {
    /// The longest line taken: a legal message with the codec's largest payload fits many times over.
    static let maximumLineBytes = 1 << 20

    let output: String
    let kind: FileKind
    let format: OutputFormat
    let track: MediaTrack
    private(set) var bad = 0
    private(set) var units = 0
    private var writer: SoundFileWriter?
    private var sink: FileSink?
    private var rate: Int?
    private var media = 0
    private var samples = 0
    private var skippedTrack = 0
    private var floats = [Float](repeating: 0, count: 65536)

    /// How frames missing from the chunk numbers are filled.
    enum Concealment: String { case plc, zero, none }
    let concealment: Concealment
    /// The most audio one hole is filled with, in seconds, whatever the frames' size; a longer one is reported, and
    /// filled only that far.
    static let maximumFilledSeconds = 60
    private var concealer: LossConcealer?
    private var concealed = [Float](repeating: 0, count: 65536)
    private var expectedChunk: Int?
    private var leading = 0
    private var lostFrames = 0

    init(output: String, kind: FileKind, format: OutputFormat, track: MediaTrack, concealment: Concealment = .plc) {
        self.concealment = concealment
        self.output = output
        self.kind = kind
        self.format = format
        self.track = track
    }

    private mutating func report(_ where: String, _ what: Any) {
        bad += 1
        FileHandle.standardError.write(Data("rtaudio: \(`where`): \(what) (skipped)\n".utf8))
    }

    /// Prints one event line; nil fields are left out.
    private func emit(_ fields: KeyValuePairs<String, Any?>) {
        var members: [JSONValue.Member] = []
        for (key, value) in fields {
            guard let value else { continue }
            let json: JSONValue = switch value {
            case let v as Int: JSONValue(v)
            case let v as [String]: .array(v.map { .string($0) })
            case let v as [String: String]: .object(v.keys.sorted().map { .init($0, .string(v[$0]!)) })
            default: .string("\(value)")
            }
            members.append(.init(key, json))
        }
        print(JSONValue.object(members).serialized())
    }

    /// Writes samples at `hertz`, opening the output at the first audio's rate; audio at another rate is refused.
    private mutating func write(_ samples: UnsafeBufferPointer<Float>, hertz: Int, at place: String) throws {
        if rate == nil {
            rate = hertz
            do {
                let writer = try SoundFileWriter(path: output, container: kind.container, encoding: format.encoding, sampleRate: hertz)
                self.writer = writer
                sink = FileSink(writer: writer, format: format)
            } catch { throw UserError(error) }
        }
        guard hertz == rate else { return report(place, "audio at \(hertz) Hz in a stream at \(rate!) Hz") }
        try pass(samples, lost: false)
        media += 1
        self.samples += samples.count
    }

    /// Sends received samples (or `count` lost ones) through the concealer when there is one, to the file.
    private mutating func pass(_ samples: UnsafeBufferPointer<Float>, lost: Bool, count: Int = 0) throws {
        if concealment == .plc, concealer == nil, let rate, let plc = try? LossConcealer(sampleRate: SampleRate(hertz: rate)) {
            concealer = plc
            leading = plc.delay   // the delay's first samples are the concealer's start, not audio: not written
        }
        let n = lost ? count : samples.count
        guard var plc = concealer else {
            if !lost { return try sink!.write(samples) }
            if concealment == .none { return }
            var left = n
            while left > 0 {
                let k = min(left, concealed.count)
                for i in 0..<k { concealed[i] = 0 }
                try concealed.withUnsafeBufferPointer { try sink!.write(UnsafeBufferPointer(rebasing: $0[..<k])) }
                left -= k
            }
            return
        }
        var done = 0
        while done < n {
            let k = min(n - done, concealed.count)
            concealed.withUnsafeMutableBufferPointer { out in
                if lost { _ = plc.conceal(count: k, into: out) }
                else { _ = plc.process(UnsafeBufferPointer(rebasing: samples[done..<(done + k)]), into: out) }
            }
            let skip = min(leading, k)
            leading -= skip
            try concealed.withUnsafeBufferPointer { try sink!.write(UnsafeBufferPointer(rebasing: $0[skip..<k])) }
            done += k
        }
        concealer = plc
    }

    /// Checks a media frame's chunk number against the stream's: a hole is reported and filled; a chunk behind
    /// the stream's (late, or repeated) is reported and its audio left out. Returns whether to write the frame.
    private mutating func place(chunk: Int?, samples frameSamples: Int, line: Int) throws -> Bool {
        guard let chunk else { return true }
        defer { expectedChunk = max(expectedChunk ?? chunk, chunk + 1) }
        guard let expected = expectedChunk else { return true }
        if chunk < expected {
            emit(["type": "late", "line": line, "chunk": chunk, "expected": expected])
            return false
        }
        guard chunk > expected, rate != nil else { return true }
        let missing = chunk - expected
        let limit = max(1, Self.maximumFilledSeconds * rate! / max(1, frameSamples))
        let filled = concealment == .none || frameSamples == 0 ? 0 : min(missing, limit)
        emit(["type": "loss", "line": line, "chunk": expected, "frames": missing, "filled": filled, "conceal": concealment.rawValue])
        lostFrames += missing
        if filled > 0 { try pass(UnsafeBufferPointer(start: nil, count: 0), lost: true, count: filled * frameSamples) }
        return true
    }

    private mutating func decodeAudio(_ bytes: UnsafeBufferPointer<UInt8>, _ wire: CarrierMediaFormat, at place: String) throws {
        let count = bytes.count / wire.bytesPerSample
        if floats.count < count { floats = [Float](repeating: 0, count: count) }
        // Borrowed out of `self` for the call (no copy of the buffer per frame).
        var samples: [Float] = []
        swap(&samples, &floats)
        defer { swap(&samples, &floats) }
        samples.withUnsafeMutableBufferPointer { out in
            let out = UnsafeMutableBufferPointer(rebasing: out[..<count])
            switch wire.encoding {
            case .muLaw: G711.muLaw.decode(bytes, into: out)
            case .aLaw: G711.aLaw.decode(bytes, into: out)
            case .linear16BigEndian, .linear16LittleEndian:
                // The adapters hand L16 over little-endian; a trailing odd byte is not a sample.
                _ = try? PCM16.decode(UnsafeBufferPointer(rebasing: bytes[..<(2 * count)]), into: out)
            }
        }
        try samples.withUnsafeBufferPointer { try write(UnsafeBufferPointer(rebasing: $0[..<count]), hertz: wire.sampleRate.hertz, at: place) }
    }

    mutating func decodeLines(from source: StreamInput, carrier: JSONCarrier) throws {
        var codec = MediaStreamCodec(carrier: carrier)
        var payload = [UInt8](repeating: 0, count: codec.payloadCapacity)
        var lineNumber = 0
        var reader = LineReader(maximum: Self.maximumLineBytes)
        try reader.lines(from: source) { line in
            lineNumber += 1
            if let signal = Interruption.received { throw UserError("interrupted by signal \(signal); '\(output)' was not written") }
            guard let line else { return report("line \(lineNumber)", "longer than \(Self.maximumLineBytes) bytes") }
            // Blank lines (and a log's trailing newline) are not messages.
            guard line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { return }
            units += 1
            let event: CarrierEvent
            do {
                event = try payload.withUnsafeMutableBufferPointer { (p) throws(CarrierError) -> CarrierEvent in try codec.decode(line, payload: p) }
            } catch {
                return report("line \(lineNumber)", error)
            }
            switch event {
            case .media(let frame):
                guard frame.track == track else { skippedTrack += 1; return }
                guard try place(chunk: frame.chunk, samples: frame.byteCount / codec.format.bytesPerSample, line: lineNumber) else { return }
                try payload.withUnsafeBufferPointer { try decodeAudio(UnsafeBufferPointer(rebasing: $0[..<frame.byteCount]), codec.format, at: "line \(lineNumber)") }
            case .connected(let name, let version):
                emit(["type": "connected", "line": lineNumber, "protocol": name, "version": version])
            case .start(let start):
                emit(["type": "start", "line": lineNumber, "stream": start.streamID, "call": start.callID, "account": start.accountID,
                      "tracks": start.tracks, "format": "\(start.format)", "custom_parameters": start.customParameters])
            case .mark(let mark):
                emit(["type": "mark", "line": lineNumber, "name": mark.description])
            case .dtmf(let digit, let track):
                emit(["type": "dtmf", "line": lineNumber, "digit": String(digit), "track": track])
            case .stop:
                emit(["type": "stop", "line": lineNumber])
            case .carrierError(let code, let title, let detail):
                emit(["type": "carrier_error", "line": lineNumber, "code": code, "title": title, "detail": detail])
            case .unknown(let name):
                emit(["type": "unknown", "line": lineNumber, "event": name])
            }
        }
    }

    mutating func decodeAudioSocket(from source: StreamInput) throws {
        var decoder = AudioSocketDecoder()
        var chunk = [UInt8](repeating: 0, count: 65536)
        var offset = 0
        var failure: Error?
        while true {
            if let signal = Interruption.received { throw UserError("interrupted by signal \(signal); '\(output)' was not written") }
            let n = try chunk.withUnsafeMutableBytes { try source.read(into: $0) }
            if n == 0 { break }
            chunk.withUnsafeBufferPointer { bytes in
                decoder.decode(UnsafeBufferPointer(rebasing: bytes[..<n])) { result in
                    guard failure == nil else { return }
                    units += 1
                    let place = "frame \(units) (by byte \(offset + n))"
                    switch result {
                    case .failure(let error): report(place, error)
                    case .success(.audio(let rate, let audio)):
                        do { try decodeAudio(audio, CarrierMediaFormat(encoding: .linear16LittleEndian, sampleRate: rate), at: place) }
                        catch { failure = error }
                    case .success(.id(let id)): emit(["type": "start", "frame": units, "stream": "\(id)"])
                    case .success(.dtmf(let digit)): emit(["type": "dtmf", "frame": units, "digit": String(digit)])
                    case .success(.hangup): emit(["type": "stop", "frame": units])
                    case .success(.error(let code)): emit(["type": "carrier_error", "frame": units, "code": code.map { Int($0) }])
                    }
                }
            }
            if let failure { throw failure }
            offset += n
        }
        do { try decoder.finish() } catch {
            units += 1
            report("the end of the stream (byte \(offset))", error)
        }
    }

    /// Commits the audio (an empty file when the capture had none) and prints the summary.
    mutating func finish() throws {
        if var plc = concealer {
            // The concealer's delay: the last 3.75 ms of audio.
            let n = concealed.withUnsafeMutableBufferPointer { plc.finish(into: $0) }
            let skip = min(leading, n)
            try concealed.withUnsafeBufferPointer { try sink?.write(UnsafeBufferPointer(rebasing: $0[skip..<n])) }
            concealer = nil
        }
        if writer == nil {
            // No audio in the capture: an empty file, at the telephone rate.
            try write(UnsafeBufferPointer(start: nil, count: 0), hertz: 8000, at: "the end")
            media = 0
        }
        do { try writer?.commit() } catch { throw UserError(error) }
        emit(["type": "summary", "media": media, "samples": samples, "rate": rate, "other_track": skippedTrack, "lost_frames": lostFrames, "bad": bad])
    }

    func discard() { writer?.discard() }
}

/// Splits a byte stream into lines of at most `maximum` bytes; a longer line is reported (nil) and skipped whole.
struct LineReader {
    let maximum: Int
    private var line: [UInt8] = []
    private var overlong = false

    init(maximum: Int) { self.maximum = maximum }

    mutating func lines(from source: StreamInput, _ handle: (UnsafeBufferPointer<UInt8>?) throws -> Void) throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        line.reserveCapacity(min(maximum, 65536))
        while true {
            let n = try chunk.withUnsafeMutableBytes { try source.read(into: $0) }
            if n == 0 { break }
            var start = 0
            for i in 0..<n where chunk[i] == 0x0A {
                try take(chunk[start..<i], end: true, handle)
                start = i + 1
            }
            try take(chunk[start..<n], end: false, handle)
        }
        if !line.isEmpty || overlong { try take([][...], end: true, handle) }
    }

    private mutating func take(_ bytes: ArraySlice<UInt8>, end: Bool, _ handle: (UnsafeBufferPointer<UInt8>?) throws -> Void) throws {
        if !overlong {
            if line.count + bytes.count > maximum { overlong = true; line.removeAll(keepingCapacity: true) }
            else { line += bytes }
        }
        guard end else { return }
        defer { line.removeAll(keepingCapacity: true); overlong = false }
        if overlong { return try handle(nil) }
        try line.withUnsafeBufferPointer { try handle($0) }
    }
}
