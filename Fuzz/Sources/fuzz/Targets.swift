import RealtimeAudio
import RealtimeSession
import SoundFile

#if canImport(Glibc)
import Glibc
#endif

// One libFuzzer binary, several targets: FUZZ_TARGET picks one. Each target checks the properties it can (a
// round trip, chunking invariance, a valid-or-typed-error answer) and traps on a violation, so libFuzzer keeps the
// input as a crash.

let target: String = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? "base64"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch target {
    case "base64": base64(bytes)
    case "pcm16-stream": pcm16Stream(bytes)
    case "g711": g711(bytes)
    case "session-json": sessionJSON(bytes)
    case "inbound": inbound(bytes)
    case "soundfile": soundFile(bytes)
    default:
        print("unknown FUZZ_TARGET \(target)")
        exit(2)
    }
    return 0
}

/// Strict decode: either a typed error, or bytes that encode back to the same text.
func base64(_ bytes: [UInt8]) {
    guard let decoded = try? Base64.decode(bytes) else { return }
    precondition(Array(Base64.encode(decoded).utf8) == bytes, "base64: decode then encode changed the text")
}

/// The first byte sets the split points; any split decodes to what one block decodes to.
func pcm16Stream(_ bytes: [UInt8]) {
    guard let seed = bytes.first else { return }
    let payload = Array(bytes.dropFirst())
    var whole = PCM16StreamDecoder()
    var expected = [Float](repeating: 0, count: payload.count / 2 + 1)
    let n = payload.withUnsafeBufferPointer { src in expected.withUnsafeMutableBufferPointer { whole.decode(src, into: $0) } }
    var split = PCM16StreamDecoder()
    var got: [Float] = []
    var start = 0, step = Int(seed % 7) + 1
    while start < payload.count {
        let end = min(payload.count, start + step)
        var out = [Float](repeating: 0, count: split.outputCapacity(forInput: end - start))
        let m = payload[start..<end].withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { split.decode(src, into: $0) } }
        got += out[..<m]
        start = end
        step = step * 5 % 11 + 1
    }
    precondition(got == Array(expected[..<n]), "pcm16: chunking changed the samples")
    precondition((try? split.finish()) != nil || payload.count % 2 == 1, "pcm16: finish failed on an even stream")
}

/// Every code decodes, and re-encoding a decoded code gives the code back (G.711 is bijective on its outputs).
func g711(_ bytes: [UInt8]) {
    for law in [G711.muLaw, G711.aLaw] {
        let decoded = law.decodeInt16(bytes)
        let again = law.encode(decoded)
        for (code, back) in zip(bytes, again) {
            precondition(law.decode(back) == law.decode(code), "g711: \(code) does not survive a round trip")
        }
    }
}

/// Any bytes: a valid model (whose normalized JSON validates again to the same model) or violations.
func sessionJSON(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    let (session, report) = Session.validate(json: text)
    precondition((session != nil) == report.isValid)
    if let session {
        let (again, _) = Session.validate(json: session.json.serialized())
        precondition(again == session, "session: normalized JSON does not read back")
    }
    let (assistant, _) = Assistant.validate(json: text)
    if let assistant { precondition(Assistant.validate(json: assistant.json.serialized()).0 == assistant) }
    _ = RealtimeResponse.validate(json: text)
}

/// Random bytes in random chunks (pcm16, so odd splits happen): the same model audio and events as one block.
func inbound(_ bytes: [UInt8]) {
    guard bytes.count > 1 else { return }
    let seed = Int(bytes[0]), payload = Array(bytes.dropFirst())
    func run(_ chunks: [Int]) -> ([UInt8], [InboundEvent]) {
        var pipeline = try! InboundAudio(format: .pcm16, inputRate: .hz16000)
        var events = InboundEvents()
        var out: [UInt8] = [], all: [InboundEvent] = []
        var start = 0
        for size in chunks {
            var buffer = [UInt8](repeating: 0, count: pipeline.outputCapacity(forInputBytes: size))
            let n = try! payload[start..<(start + size)].withUnsafeBufferPointer { src in
                try buffer.withUnsafeMutableBufferPointer { try pipeline.append(src, into: $0, events: &events) }
            }
            out += buffer[..<n]
            all += events
            start += size
        }
        return (out, all)
    }
    var chunks: [Int] = []
    var left = payload.count, step = seed % 13 + 1
    while left > 0 {
        chunks.append(min(left, step))
        left -= chunks.last!
        step = step * 7 % 29 + 1
    }
    let a = run([payload.count]), b = run(chunks)
    precondition(a.0 == b.0 && a.1 == b.1, "inbound: chunking changed the output")
}

/// Any bytes as a file: libsndfile either opens it (and every read returns a sane count) or we get a typed error.
func soundFile(_ bytes: [UInt8]) {
    let path = "/tmp/fuzz-soundfile-\(getpid()).bin"
    guard let f = fopen(path, "wb") else { return }
    _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
    fclose(f)
    defer { unlink(path) }
    guard let reader = try? SoundFileReader(path: path) else { return }
    var buffer = [Float](repeating: 0, count: 1024 * max(1, min(reader.info.channels, 64)))
    for _ in 0..<64 {
        guard let n = try? buffer.withUnsafeMutableBufferPointer({ try reader.read(into: $0) }), n > 0 else { return }
        precondition(n * reader.info.channels <= buffer.count, "soundfile: read more than asked")
    }
}
