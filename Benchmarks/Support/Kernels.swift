import ExtrasBase64
import RealtimeAudio

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One unit of work on one chunk: a named kernel with its buffers allocated up front, so running it allocates
/// nothing, and the bytes it must move (the larger of its input and output), which sizes its memcpy baseline.
public final class Kernel {
    public let name: String
    /// Samples (or, for base64, decoded bytes) one run processes.
    public let items: Int
    /// The sample rate the chunk is at, for "realtime streams per core".
    public let rate: Int
    /// max(input bytes, output bytes): the memcpy that moves as much.
    public let bytesMoved: Int
    public let run: () -> Void

    init(name: String, items: Int, rate: Int, bytesMoved: Int, run: @escaping () -> Void) {
        self.name = name
        self.items = items
        self.rate = rate
        self.bytesMoved = bytesMoved
        self.run = run
    }
}

/// A speech-like signal (harmonics of 140 Hz with a slow envelope) at -6 dBFS, deterministic.
public func voiceSignal(count: Int, rate: Int) -> [Float] {
    (0..<count).map { i in
        let t = Double(i) / Double(rate)
        var x = 0.0
        for h in 1...10 { x += sin(2 * .pi * 140 * Double(h) * t + Double(h)) / Double(h) }
        return Float(x * 0.25 * (0.6 + 0.4 * sin(2 * .pi * 3 * t)))
    }
}

/// Keeps a result alive so the optimizer cannot drop the work.
@inline(never)
public func consume<T>(_ value: T) { withExtendedLifetime(value) {} }

/// Owns a buffer for the life of the process (benchmarks never free them).
func buffer<T>(_ count: Int, _ value: T) -> UnsafeMutableBufferPointer<T> {
    let b = UnsafeMutableBufferPointer<T>.allocate(capacity: count)
    b.initialize(repeating: value)
    return b
}

func buffer<T>(_ array: [T]) -> UnsafeMutableBufferPointer<T> {
    let b = UnsafeMutableBufferPointer<T>.allocate(capacity: array.count)
    _ = b.initialize(from: array)
    return b
}

/// The chunk shapes we measure: a 20 ms packet, and a 1 s block.
public enum ChunkSize: String, CaseIterable, Sendable {
    case ms20 = "20ms"
    case s1 = "1s"

    public func samples(at rate: Int) -> Int { self == .ms20 ? rate / 50 : rate }
}

/// A memcpy of `bytes` bytes: the physical floor every codec is compared with.
public func memcpyKernel(bytes: Int) -> Kernel {
    let src = buffer(bytes, UInt8(7)), dst = buffer(bytes, UInt8(0))
    return Kernel(name: "memcpy-\(bytes)B", items: bytes, rate: 1, bytesMoved: bytes) {
        memcpy(dst.baseAddress!, src.baseAddress!, bytes)
        consume(dst.baseAddress)
    }
}

/// Every codec kernel for one chunk size. Rates: pcm16 at 24 kHz, G.711 at 8 kHz, as on the wire.
public func codecKernels(_ size: ChunkSize) -> [Kernel] {
    var kernels: [Kernel] = []
    let tag = size.rawValue

    // pcm16 at 24 kHz.
    let n = size.samples(at: 24000)
    let floats = buffer(voiceSignal(count: n, rate: 24000))
    let int16 = buffer(PCM16.toInt16(Array(floats)))
    let bytes = buffer(PCM16.encode(Array(int16)))
    let outFloat = buffer(n, Float(0)), outInt16 = buffer(n, Int16(0)), outBytes = buffer(2 * n, UInt8(0))
    let fIn = UnsafeBufferPointer(floats), iIn = UnsafeBufferPointer(int16), bIn = UnsafeBufferPointer(bytes)
    kernels.append(Kernel(name: "pcm16-decode-int16-\(tag)", items: n, rate: 24000, bytesMoved: 2 * n) {
        _ = try! PCM16.decode(bIn, into: outInt16); consume(outInt16.baseAddress)
    })
    kernels.append(Kernel(name: "pcm16-decode-float-\(tag)", items: n, rate: 24000, bytesMoved: 4 * n) {
        _ = try! PCM16.decode(bIn, into: outFloat); consume(outFloat.baseAddress)
    })
    kernels.append(Kernel(name: "pcm16-encode-float-\(tag)", items: n, rate: 24000, bytesMoved: 4 * n) {
        PCM16.encode(fIn, into: outBytes); consume(outBytes.baseAddress)
    })
    kernels.append(Kernel(name: "pcm16-int16-to-float-\(tag)", items: n, rate: 24000, bytesMoved: 4 * n) {
        PCM16.convert(iIn, into: outFloat); consume(outFloat.baseAddress)
    })
    kernels.append(Kernel(name: "pcm16-float-to-int16-\(tag)", items: n, rate: 24000, bytesMoved: 4 * n) {
        PCM16.convert(fIn, into: outInt16); consume(outInt16.baseAddress)
    })
    var stream = PCM16StreamDecoder()
    kernels.append(Kernel(name: "pcm16-stream-decode-float-\(tag)", items: n, rate: 24000, bytesMoved: 4 * n) {
        _ = try! stream.decode(bIn, into: outFloat); consume(outFloat.baseAddress)
    })

    // G.711 at 8 kHz.
    let m = size.samples(at: 8000)
    let gFloats = buffer(voiceSignal(count: m, rate: 8000))
    let gInt16 = buffer(PCM16.toInt16(Array(gFloats)))
    let gF = UnsafeBufferPointer(gFloats), gI = UnsafeBufferPointer(gInt16)
    for (law, codec) in [("ulaw", G711.muLaw), ("alaw", G711.aLaw)] {
        let codes = buffer(codec.encode(Array(gInt16)))
        let cIn = UnsafeBufferPointer(codes)
        let outCodes = buffer(m, UInt8(0)), outI = buffer(m, Int16(0)), outF = buffer(m, Float(0))
        kernels.append(Kernel(name: "\(law)-encode-int16-\(tag)", items: m, rate: 8000, bytesMoved: 2 * m) {
            codec.encode(gI, into: outCodes); consume(outCodes.baseAddress)
        })
        kernels.append(Kernel(name: "\(law)-encode-float-\(tag)", items: m, rate: 8000, bytesMoved: 4 * m) {
            codec.encode(gF, into: outCodes); consume(outCodes.baseAddress)
        })
        kernels.append(Kernel(name: "\(law)-decode-int16-\(tag)", items: m, rate: 8000, bytesMoved: 2 * m) {
            codec.decode(cIn, into: outI); consume(outI.baseAddress)
        })
        kernels.append(Kernel(name: "\(law)-decode-float-\(tag)", items: m, rate: 8000, bytesMoved: 4 * m) {
            codec.decode(cIn, into: outF); consume(outF.baseAddress)
        })
    }

    // base64 of pcm16 at 24 kHz, as `input_audio_buffer.append` carries it.
    let text = buffer(Array(Base64.encode(Array(bytes)).utf8))
    let tIn = UnsafeBufferPointer(text)
    let decoded = buffer(Base64.decodedCapacity(forCharacterCount: text.count), UInt8(0))
    let encoded = buffer(text.count, UInt8(0))
    kernels.append(Kernel(name: "base64-encode-\(tag)", items: bytes.count, rate: 48000, bytesMoved: text.count) {
        Base64.encode(bIn, into: encoded); consume(encoded.baseAddress)
    })
    kernels.append(Kernel(name: "base64-decode-\(tag)", items: bytes.count, rate: 48000, bytesMoved: text.count) {
        _ = try! Base64.decode(tIn, into: decoded); consume(decoded.baseAddress)
    })
    kernels.append(Kernel(name: "extras-base64-decode-\(tag)", items: bytes.count, rate: 48000, bytesMoved: text.count) {
        var span = MutableSpan(_unsafeElements: decoded)
        _ = try! ExtrasBase64.Base64.decode(bytes: Span(_unsafeElements: tIn), into: &span)
        consume(decoded.baseAddress)
    })
    kernels.append(Kernel(name: "extras-base64-encode-\(tag)", items: bytes.count, rate: 48000, bytesMoved: text.count) {
        var span = MutableSpan(_unsafeElements: encoded)
        _ = ExtrasBase64.Base64.encode(bytes: Span(_unsafeElements: bIn), into: &span)
        consume(encoded.baseAddress)
    })
    return kernels
}

/// A voice-like turn pattern for the detector: 600 ms of voice, 400 ms of near-silence, repeated.
func turns(count: Int, rate: Int) -> [Float] {
    let voice = voiceSignal(count: count, rate: rate)
    return (0..<count).map { i in i % rate < rate * 6 / 10 ? voice[i] : voice[i] * 0.0005 }
}

/// The streaming DSP stages, one chunk per run with state carried between runs (the stream continues): the
/// resampler (voice preset, the gateway's pairs), the server VAD and the speed scaler. `items` are input samples.
public func dspKernels(_ size: ChunkSize) -> [Kernel] {
    var kernels: [Kernel] = []
    let tag = size.rawValue
    /// `chunks` consecutive chunks of a 1 s signal, cycled.
    func cycle(_ signal: [Float], rate: Int) -> (next: () -> UnsafeBufferPointer<Float>, n: Int) {
        let n = size.samples(at: rate)
        let all = UnsafeBufferPointer(buffer(signal))
        var index = 0
        return ({
            let start = index * n
            index = (index + 1) % (rate / n)
            return UnsafeBufferPointer(rebasing: all[start..<(start + n)])
        }, n)
    }
    for quality in ResamplerQuality.allCases {
        for (input, output) in [(8000, 24000), (24000, 8000), (16000, 24000), (48000, 24000), (44100, 24000), (24000, 16000)] {
            var resampler = try! Resampler(from: SampleRate(hertz: input), to: SampleRate(hertz: output), quality: quality)
            let (next, n) = cycle(voiceSignal(count: input, rate: input), rate: input)
            // Room for a chunk's share of the ratio plus the lag a framed stage (high's FFT) may release at once.
            let out = buffer(n * output / input + Int((resampler.latencySeconds * Double(output)).rounded(.up)) + 8, Float(0))
            kernels.append(Kernel(name: "resample-\(quality)-\(input)-\(output)-\(tag)", items: n, rate: input, bytesMoved: 4 * n) {
                _ = resampler.process(next(), into: out); consume(out.baseAddress)
            })
        }
    }
    for rate in [8000, 16000, 24000, 48000] {
        var vad = try! ServerVAD(sampleRate: SampleRate(hertz: rate))
        let (next, n) = cycle(turns(count: rate, rate: rate), rate: rate)
        kernels.append(Kernel(name: "vad-\(rate)-\(tag)", items: n, rate: rate, bytesMoved: 4 * n) {
            var rest = next()
            while !rest.isEmpty {
                let used = vad.process(rest).consumed
                rest = UnsafeBufferPointer(rebasing: rest[used...])
            }
        })
    }
    for speed in [0.5, 1.25, 1.5] {
        var scaler = try! SpeedScaler(sampleRate: .hz24000, speed: speed)
        let (next, n) = cycle(voiceSignal(count: 24000, rate: 24000), rate: 24000)
        let out = buffer(4 * n + 4096, Float(0))
        kernels.append(Kernel(name: "speed-\(speed)-24000-\(tag)", items: n, rate: 24000, bytesMoved: 4 * n) {
            var rest = next()
            while !rest.isEmpty {
                let used = scaler.process(rest, into: out).consumed
                rest = UnsafeBufferPointer(rebasing: rest[used...])
            }
            consume(out.baseAddress)
        })
    }
    return kernels
}

/// One full-duplex session per run of the kernel, on one chunk: the caller's 8 kHz µ-law in -> 24 kHz pcm16 for the
/// model plus the server VAD; the model's 24 kHz pcm16 out at speed 1.25 -> 8 kHz µ-law for the caller. The
/// realtime factor of this kernel is the number of concurrent full-duplex sessions one core carries. `modelRate`:
/// 24 kHz, or 16 kHz for the models that take and speak it.
public func sessionKernels(_ size: ChunkSize) -> [Kernel] {
    sessionKernel(size, modelRate: .hz24000) + sessionKernel(size, modelRate: .hz16000)
}

func sessionKernel(_ size: ChunkSize, modelRate: SampleRate) -> [Kernel] {
    let tag = modelRate == .hz24000 ? size.rawValue : "model16k-\(size.rawValue)"
    let inBytes = size.samples(at: 8000), outBytes = 2 * size.samples(at: modelRate.hertz)
    let caller = buffer(G711.muLaw.encode(turns(count: 8000, rate: 8000)))
    let model = buffer(PCM16.encode(voiceSignal(count: modelRate.hertz, rate: modelRate.hertz)))
    var inbound = try! InboundAudio(format: .g711_ulaw, maximumChunkBytes: max(inBytes, 8000), modelRate: modelRate)
    var outbound = try! OutboundAudio(format: .g711_ulaw, speed: 1.25, maximumChunkBytes: max(outBytes, 48000), modelRate: modelRate)
    let toModel = buffer(inbound.maximumOutputBytes, UInt8(0)), toCaller = buffer(outbound.maximumOutputBytes, UInt8(0))
    var events = InboundEvents()
    var index = 0
    let chunks = 8000 / inBytes
    return [Kernel(name: "session-duplex-8k-ulaw-\(tag)", items: inBytes, rate: 8000, bytesMoved: inBytes) {
        let i = index
        index = (index + 1) % chunks
        let callerChunk = UnsafeBufferPointer(rebasing: UnsafeBufferPointer(caller)[(i * inBytes)..<((i + 1) * inBytes)])
        let modelChunk = UnsafeBufferPointer(rebasing: UnsafeBufferPointer(model)[(i * outBytes)..<((i + 1) * outBytes)])
        _ = try! inbound.append(callerChunk, into: toModel, events: &events)
        _ = try! outbound.append(modelChunk, into: toCaller)
        consume(toModel.baseAddress)
        consume(toCaller.baseAddress)
    }]
}
