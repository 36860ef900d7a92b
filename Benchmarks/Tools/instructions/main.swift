import RealtimeAudio

#if canImport(Glibc)
import Glibc
#endif

// A deterministic driver for `valgrind --tool=callgrind`: runs one component over `seconds` of a speech-like
// signal in 20 ms chunks and prints how many output samples it made. `instructions.sh` runs it at two lengths
// and divides the difference in instructions by the difference in samples, so setup costs cancel out.
//
//   instructions resample <in> <out> <fast|voice|high> <seconds>
//   instructions lag <in> <out> <fast|voice|high> <seconds>   (the streaming lag at 20 ms pushes)
//   instructions plans <fast|voice|high> 1       (the plan of every pair of the rates)
//   instructions vad <rate> <seconds>            (prints input samples: the VAD makes no output samples)
//   instructions session [<model rate>] <seconds>   (per 8 kHz caller sample)
//   instructions speed <speed> <rate> <seconds>  (prints input samples: the issue counts per input sample)
//   instructions ulaw-encode|ulaw-decode|alaw-encode|alaw-decode|pcm16-encode|pcm16-decode|base64-decode <seconds>

let args = Array(CommandLine.arguments.dropFirst())
guard let kind = args.first, let seconds = Double(args.last ?? "") else {
    print("usage: instructions resample IN OUT QUALITY SECONDS | instructions CODEC SECONDS")
    exit(2)
}

func signal(count: Int, rate: Int) -> [Float] {
    var phase = 0.0, out = [Float](repeating: 0, count: count)
    for i in 0..<count {
        let t = Double(i) / Double(rate)
        phase += 2 * Double.pi * (140 + 40 * sinApprox(2 * Double.pi * 2 * t)) / Double(rate)
        out[i] = Float(0.3 * sinApprox(phase) + 0.1 * sinApprox(3.1 * phase))
    }
    return out
}

/// A sine good enough for a test signal, so the driver needs no libm.
func sinApprox(_ x: Double) -> Double {
    var y = x.truncatingRemainder(dividingBy: 2 * .pi)
    if y > .pi { y -= 2 * .pi } else if y < -.pi { y += 2 * .pi }
    let y2 = y * y
    return y * (1 - y2 / 6 * (1 - y2 / 20 * (1 - y2 / 42 * (1 - y2 / 72))))
}

var produced = 0
switch kind {
case "design":
    // The plan of every benchmarked pair: design, multiplies per output, lookahead.
    for quality in ResamplerQuality.allCases {
        for (a, b) in [(8000, 24000), (24000, 8000), (16000, 24000), (48000, 24000), (44100, 24000), (24000, 16000), (24000, 48000), (8000, 16000), (48000, 16000), (32000, 8000), (44100, 8000), (48000, 11025), (22050, 8000), (32000, 11025), (44100, 16000), (48000, 8000)] {
            let f = try ResamplerFilter(from: SampleRate(hertz: a), to: SampleRate(hertz: b), quality: quality)
            print(quality, a, b, f.designMethod, f.multiplyAddsPerOutput, f.latencySeconds * 1000)
        }
    }
case "plans":
    // The plan of every pair of the rates at one preset: design, multiplies per output, lookahead in ms.
    let quality = try ResamplerQuality(name: args[1])
    let rates = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000]
    for a in rates { for b in rates where a != b {
        let f = try ResamplerFilter(from: SampleRate(hertz: a), to: SampleRate(hertz: b), quality: quality)
        print(quality, a, b, f.designMethod, f.multiplyAddsPerOutput, f.latencySeconds * 1000)
    } }
case "resample":
    let input = Int(args[1])!, output = Int(args[2])!
    let quality = try ResamplerQuality(name: args[3])
    var r = try Resampler(from: SampleRate(hertz: input), to: SampleRate(hertz: output), quality: quality)
    let chunk = input / 50
    // One second of signal, replayed: generating it must not scale with the length measured.
    let x = signal(count: input, rate: input)
    // Room for what a chunk can yield: its share of the ratio plus the lag a framed stage may release at once.
    var out = [Float](repeating: 0, count: chunk * output / input + Int((r.latencySeconds * Double(output)).rounded(.up)) + 8)
    let chunks = Int(seconds * 50)
    x.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for c in 0..<chunks {
                let i = (c % 50) * chunk
                let (used, made) = r.process(UnsafeBufferPointer(rebasing: src[i..<(i + chunk)]), into: dst)
                precondition(used == chunk, "resample: the output buffer is too small")
                produced += made
            }
        }
    }
case "lag":
    // The streaming lag at 20 ms pushes, as the peers' RTlat was measured: after each push, how far the output
    // trails the input it has been given (content itself is not delayed); mean and maximum after the first second.
    let input = Int(args[1])!, output = Int(args[2])!
    var r = try Resampler(from: SampleRate(hertz: input), to: SampleRate(hertz: output), quality: try ResamplerQuality(name: args[3]))
    let chunk = [Float](repeating: 0.1, count: input / 50)
    var out = [Float](repeating: 0, count: output / 50 + Int((r.latencySeconds * Double(output)).rounded(.up)) + 8)
    var lags: [Double] = []
    for _ in 0..<Int(seconds * 50) {
        _ = chunk.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { r.process(src, into: $0) } }
        lags.append(1000 * (Double(r.inputCount) / Double(input) - Double(r.outputCount) / Double(output)))
    }
    let steady = lags.dropFirst(50)
    let mean = steady.reduce(0, +) / Double(steady.count), most = steady.max()!
    func ms(_ v: Double) -> String { "\((v * 100).rounded() / 100)" }
    print("lag \(input)->\(output) \(args[3]): mean \(ms(mean)) ms, max \(ms(most)) ms")
case "vad":
    let rate = Int(args[1])!
    var vad = try ServerVAD(sampleRate: SampleRate(hertz: rate))
    let chunk = rate / 50
    // Speech-like signal with silent gaps, so turns start and stop as they do in a call.
    var x = signal(count: rate, rate: rate)
    for i in (rate / 2)..<rate { x[i] = 0 }
    let chunks = Int(seconds * 50)
    x.withUnsafeBufferPointer { src in
        for c in 0..<chunks {
            let i = (c % 50) * chunk
            var rest = UnsafeBufferPointer(rebasing: src[i..<(i + chunk)])
            while !rest.isEmpty {
                let used = vad.process(rest).consumed
                rest = UnsafeBufferPointer(rebasing: rest[used...])
            }
            produced += chunk
        }
    }
case "session":
    // One full-duplex session: 8 kHz µ-law in (-> pcm16 at the model rate + VAD), pcm16 at the model rate out at 1.25
    // (-> 8 kHz µ-law). The model rate is 24 kHz unless given (16000).
    let modelRate = args.count > 2 ? try SampleRate(hertz: Int(args[1])!) : .hz24000
    var inbound = try InboundAudio(format: .g711_ulaw, modelRate: modelRate)
    var outbound = try OutboundAudio(format: .g711_ulaw, speed: 1.25, modelRate: modelRate)
    let caller = G711.muLaw.encode(signal(count: 8000, rate: 8000))
    let model = PCM16.encode(signal(count: modelRate.hertz, rate: modelRate.hertz))
    let modelChunk = 2 * modelRate.hertz / 50
    var toModel = [UInt8](repeating: 0, count: inbound.maximumOutputBytes), toCaller = [UInt8](repeating: 0, count: outbound.maximumOutputBytes)
    var events = InboundEvents()
    for c in 0..<Int(seconds * 50) {
        let i = c % 50
        try caller[(i * 160)..<((i + 1) * 160)].withUnsafeBufferPointer { src in
            try toModel.withUnsafeMutableBufferPointer { _ = try inbound.append(src, into: $0, events: &events) }
        }
        try model[(i * modelChunk)..<((i + 1) * modelChunk)].withUnsafeBufferPointer { src in
            try toCaller.withUnsafeMutableBufferPointer { _ = try outbound.append(src, into: $0) }
        }
        produced += 160
    }
case "plc":
    // Loss concealment at 8 kHz, 20 ms frames, every fifth lost: prints the lost frames (the cost quoted is per
    // concealed frame, the received ones' passage included, as spandsp's driver counts it).
    var plc = try LossConcealer(sampleRate: .hz8000)
    let x = signal(count: 8000, rate: 8000)
    var out = [Float](repeating: 0, count: 160)
    for c in 0..<Int(seconds * 50) {
        let i = c % 50
        if c % 5 == 4 {
            out.withUnsafeMutableBufferPointer { _ = plc.conceal(count: 160, into: $0) }
            produced += 1
        } else {
            x[(i * 160)..<((i + 1) * 160)].withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { _ = plc.process(src, into: $0) } }
        }
    }
case "speed":
    let speed = Double(args[1])!, rate = Int(args[2])!
    var scaler = try SpeedScaler(sampleRate: SampleRate(hertz: rate), speed: speed)
    let chunk = rate / 50
    let x = signal(count: rate, rate: rate)
    var out = [Float](repeating: 0, count: 8 * chunk)
    let chunks = Int(seconds * 50)
    x.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for c in 0..<chunks {
                let i = (c % 50) * chunk
                var rest = UnsafeBufferPointer(rebasing: src[i..<(i + chunk)])
                while !rest.isEmpty {
                    let used = scaler.process(rest, into: dst).consumed
                    rest = UnsafeBufferPointer(rebasing: rest[used...])
                }
                produced += chunk
            }
        }
    }
default:
    let rate = kind.hasPrefix("pcm16") || kind.hasPrefix("base64") ? 24000 : 8000
    let chunk = rate / 50
    let x = signal(count: rate, rate: rate)
    let codec: G711 = kind.hasPrefix("ulaw") ? .muLaw : .aLaw
    produced = runCodec(kind, codec: codec, chunk: chunk, chunks: Int(seconds * 50), signal: x)
}
print(produced)

/// One loop per codec, with nothing else in it: a closure or a string switch per chunk would be counted as the
/// codec's cost (top-level closures in main.swift even check the main actor's executor on every call).
func runCodec(_ kind: String, codec: G711, chunk: Int, chunks: Int, signal x: [Float]) -> Int {
    var bytes = [UInt8](repeating: 0, count: 4 * chunk)
    var samples = [Float](repeating: 0, count: chunk)
    let text = Array(Base64.encode(PCM16.encode(Array(x.prefix(chunk)))).utf8)
    let codes = codec.encode(Array(x.prefix(chunk)))
    let pcm = PCM16.encode(Array(x.prefix(chunk)))
    return x.withUnsafeBufferPointer { src in
        bytes.withUnsafeMutableBufferPointer { out in
            samples.withUnsafeMutableBufferPointer { decoded in
                text.withUnsafeBufferPointer { text in
                    codes.withUnsafeBufferPointer { codes in
                        pcm.withUnsafeBufferPointer { pcm in
                            func piece(_ c: Int) -> UnsafeBufferPointer<Float> {
                                UnsafeBufferPointer(rebasing: src[((c % 50) * chunk)..<((c % 50) * chunk + chunk)])
                            }
                            switch kind {
                            case "ulaw-encode", "alaw-encode":
                                for c in 0..<chunks { codec.encode(piece(c), into: out) }
                            case "ulaw-encode-int16", "alaw-encode-int16":
                                let ints = PCM16.toInt16(Array(x.prefix(chunk)))
                                ints.withUnsafeBufferPointer { ints in for _ in 0..<chunks { codec.encode(ints, into: out) } }
                            case "ulaw-decode", "alaw-decode":
                                for _ in 0..<chunks { codec.decode(codes, into: decoded) }
                            case "pcm16-encode":
                                for c in 0..<chunks { PCM16.encode(piece(c), into: out) }
                            case "pcm16-decode":
                                for _ in 0..<chunks { _ = try! PCM16.decode(pcm, into: decoded) }
                            case "base64-decode":
                                for _ in 0..<chunks { _ = try! Base64.decode(text, into: out) }
                            default:
                                print("unknown component \(kind)")
                                exit(2)
                            }
                            return chunks * chunk
                        }
                    }
                }
            }
        }
    }
}
