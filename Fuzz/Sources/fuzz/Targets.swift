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
    case "resampler": resampler(bytes)
    case "speed": speed(bytes)
    case "pipelines": pipelines(bytes)
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
    let n = try! payload.withUnsafeBufferPointer { src in try expected.withUnsafeMutableBufferPointer { try whole.decode(src, into: $0) } }
    var split = PCM16StreamDecoder()
    var got: [Float] = []
    var start = 0, step = Int(seed % 7) + 1
    while start < payload.count {
        let end = min(payload.count, start + step)
        var out = [Float](repeating: 0, count: split.maximumOutputCount(forInput: end - start))
        let m = try! payload[start..<end].withUnsafeBufferPointer { src in try out.withUnsafeMutableBufferPointer { try split.decode(src, into: $0) } }
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
    for shape in [Session.Shape?.none, .beta, .ga] {
        let (session, report) = Session.validate(json: text, shape: shape)
        precondition((session != nil) == report.isValid)
        guard let session else { continue }
        let (again, _) = Session.validate(json: session.json.serialized())
        precondition(again == session, "session: normalized JSON does not read back")
        // A conversion is a valid document of the other shape.
        for target in Session.Shape.allCases {
            precondition(Session.validate(json: session.json(shape: target).serialized(), shape: target).0 != nil, "session: conversion invalid")
        }
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
            var buffer = [UInt8](repeating: 0, count: pipeline.maximumOutputCount(forInput: size))
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

/// Reads the fuzzer's bytes as a stream of small numbers: the parameters of one run.
struct Draws {
    var bytes: ArraySlice<UInt8>
    mutating func next(_ range: ClosedRange<Int>) -> Int {
        let a = Int(bytes.popFirst() ?? 0), b = Int(bytes.popFirst() ?? 0)
        return range.lowerBound + (a << 8 | b) % (range.count)
    }
}

let fuzzRates = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000, 384000, 7999, 1]

/// Feeds `x` through a stream in random chunks (1 to `maxChunk`) with rooms of the stream's `bound` or random
/// small ones (1 to 40): every call makes progress, and a room of `bound` takes the whole chunk. Returns the output.
func driveStream(_ x: [Float], _ d: inout Draws, maxChunk: Int, name: String, bound: (Int) -> Int,
                 process: (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) -> (consumed: Int, produced: Int)) -> [Float] {
    var got: [Float] = []
    var at = 0
    while at < x.count {
        let chunk = min(x.count - at, d.next(1...maxChunk))
        let sized = d.next(0...1) == 0
        let room = sized ? bound(chunk) : d.next(1...40)
        var out = [Float](repeating: 0, count: room)
        let (used, made) = x[at..<(at + chunk)].withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { process(src, $0) } }
        precondition(!sized || used == chunk, "\(name): a room of its bound did not take the chunk")
        precondition(used <= chunk && made <= room && (used > 0 || made > 0), "\(name): no progress")
        got += out[..<made]
        at += used
    }
    return got
}

/// A random rate pair and preset, random chunk and output sizes (down to 0): every call with input and room makes
/// progress, a buffer of `outputCapacity` takes the whole chunk, and the output equals one block's, of the exact
/// length. A refused pair is a typed error.
func resampler(_ bytes: [UInt8]) {
    var d = Draws(bytes: bytes[...])
    let a = fuzzRates[d.next(0...(fuzzRates.count - 1))], b = fuzzRates[d.next(0...(fuzzRates.count - 1))]
    let quality = ResamplerQuality.allCases[d.next(0...2)]
    guard let r0 = try? Resampler(from: SampleRate(hertz: a), to: SampleRate(hertz: b), quality: quality) else { return }
    let n = d.next(0...3000)
    let x = (0..<n).map { Float(sin(Double($0) * 0.37)) * (($0 % 13 == 0) ? 1.5 : 0.5) }
    var whole = r0
    let expected = whole.convert(x)
    precondition(expected.count == Int((Double(n) * Double(b) / Double(a)).rounded()), "resampler: wrong length")
    var r = r0
    let got = driveStream(x, &d, maxChunk: 700, name: "resampler", bound: { r.maximumOutputCount(forInput: $0) },
                          process: { r.process($0, into: $1) })
    var tail = [Float](repeating: 0, count: r.maximumOutputCount(forInput: 0))
    precondition(r.pendingOutputCount <= r.maximumOutputCount(forInput: 0), "resampler: finishCapacity too small")
    let m = tail.withUnsafeMutableBufferPointer { r.finish(into: $0) }
    precondition(got + tail[..<m] == expected, "resampler: chunking changed the output")
}

/// A random speed and rate, random chunk and output sizes: progress, the bound, the exact length.
func speed(_ bytes: [UInt8]) {
    var d = Draws(bytes: bytes[...])
    let rate = [8000, 16000, 24000, 48000][d.next(0...3)]
    let speed = 0.25 + Double(d.next(0...125)) / 100
    guard var s = try? SpeedScaler(sampleRate: SampleRate(hertz: rate), speed: speed) else { return }
    let n = d.next(0...6000)
    let x = (0..<n).map { Float(sin(Double($0) * 0.05) * sin(Double($0) * 0.003)) }
    let got = driveStream(x, &d, maxChunk: 900, name: "speed", bound: { s.maximumOutputCount(forInput: $0) },
                          process: { s.process($0, into: $1) })
    precondition(s.pendingOutputCount <= s.maximumOutputCount(forInput: 0), "speed: finishCapacity too small")
    var tail = [Float](repeating: 0, count: s.maximumOutputCount(forInput: 0))
    let m = tail.withUnsafeMutableBufferPointer { s.finish(into: $0) }
    precondition(got.count + m == (speed == 1 ? n : Int((Double(n) / speed).rounded())), "speed: wrong length")
}

/// Both pipelines with random formats, chunk sizes (past the limit too), output sizes and speed changes: a typed
/// error or a result, never a trap; one buffer of `maximumOutputBytes` takes every legal chunk.
func pipelines(_ bytes: [UInt8]) {
    var d = Draws(bytes: bytes[...])
    let formats = [AudioFormat.pcm16, .g711_ulaw, .g711_alaw]
    let limit = d.next(1...40000)
    guard var inbound = try? InboundAudio(format: formats[d.next(0...2)], maximumChunkBytes: limit),
          var outbound = try? OutboundAudio(format: formats[d.next(0...2)], speed: 0.25 + Double(d.next(0...125)) / 100, maximumChunkBytes: limit)
    else { return }
    var events = InboundEvents()
    var inOut = [UInt8](repeating: 0, count: inbound.maximumOutputBytes)
    var outOut = [UInt8](repeating: 0, count: outbound.maximumOutputBytes)
    for _ in 0..<d.next(0...12) {
        let size = d.next(0...45000)
        let chunk = [UInt8](repeating: UInt8(truncatingIfNeeded: size), count: size)
        let legal = size <= limit
        do {
            _ = try chunk.withUnsafeBufferPointer { c in try inOut.withUnsafeMutableBufferPointer { try inbound.append(c, into: $0, events: &events) } }
            precondition(legal, "inbound took an oversize chunk")
        } catch { precondition(!legal, "inbound refused a legal chunk: \(error)") }
        do {
            _ = try chunk.withUnsafeBufferPointer { c in try outOut.withUnsafeMutableBufferPointer { try outbound.append(c, into: $0) } }
            precondition(legal, "outbound took an oversize chunk")
        } catch { precondition(!legal, "outbound refused a legal chunk: \(error)") }
        // A small buffer: a typed error or a result.
        var small = [UInt8](repeating: 0, count: d.next(0...200))
        _ = try? chunk.withUnsafeBufferPointer { c in try small.withUnsafeMutableBufferPointer { try inbound.append(c, into: $0, events: &events) } }
        _ = try? chunk.withUnsafeBufferPointer { c in try small.withUnsafeMutableBufferPointer { try outbound.append(c, into: $0) } }
        if d.next(0...3) == 0 { try? outbound.setSpeed(0.25 + Double(d.next(0...125)) / 100) }
        if d.next(0...5) == 0 { _ = try? outOut.withUnsafeMutableBufferPointer { try outbound.finish(into: $0) } }
    }
    _ = try! inOut.withUnsafeMutableBufferPointer { try inbound.finish(into: $0, events: &events) }
    _ = try! outOut.withUnsafeMutableBufferPointer { try outbound.finish(into: $0) }
}
