import BenchSupport
import PeerShims
import RealtimeAudio

// Ours against the libraries people use today, on the same 20 ms chunks of the same signal, interleaved in one
// process (best of N each), so the ratios hold on a shared machine: soxr HQ and speexdsp q3/q10 for the
// resampler, spandsp for G.711, sonic (quality 0) and SoundTouch for speed. `make bench-peers`.

let trials = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 9

struct Contest {
    let work: String
    let ours: String
    let run: () -> Void
    let peers: [(String, () -> Void)]
}

/// A stream that replays 1 s of `signal` in 20 ms chunks through `process`.
func chunks(_ signal: [Float], rate: Int, _ process: @escaping (UnsafeBufferPointer<Float>) -> Void) -> () -> Void {
    let all = UnsafeMutableBufferPointer<Float>.allocate(capacity: signal.count)
    _ = all.initialize(from: signal)
    let n = rate / 50
    var index = 0
    return {
        let start = index * n
        index = (index + 1) % (signal.count / n)
        process(UnsafeBufferPointer(rebasing: all[start..<(start + n)]))
    }
}

var contests: [Contest] = []
let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: 1 << 16)
for (input, output) in [(8000, 24000), (24000, 8000), (16000, 24000), (48000, 24000), (44100, 24000)] {
    let signal = voiceSignal(count: input, rate: input)
    for quality in [ResamplerQuality.voice, .high] {
        var ours = try! Resampler(from: SampleRate(hertz: input), to: SampleRate(hertz: output), quality: quality)
        let soxr = peer_soxr_create(Double(input), Double(output))
        let speex3 = peer_speex_create(Int32(input), Int32(output), 3)
        let speex10 = peer_speex_create(Int32(input), Int32(output), 10)
        contests.append(Contest(
            work: "resample \(input)->\(output)", ours: "ours \(quality)",
            run: chunks(signal, rate: input) { _ = ours.process($0, into: out) },
            peers: [
                ("soxr HQ", chunks(signal, rate: input) { _ = peer_soxr_process(soxr, $0.baseAddress, $0.count, out.baseAddress, out.count) }),
                ("speexdsp q3", chunks(signal, rate: input) { _ = peer_speex_process(speex3, $0.baseAddress, $0.count, out.baseAddress, out.count) }),
                ("speexdsp q10", chunks(signal, rate: input) { _ = peer_speex_process(speex10, $0.baseAddress, $0.count, out.baseAddress, out.count) }),
            ]))
    }
}

let g711Signal = PCM16.toInt16(voiceSignal(count: 160, rate: 8000))
let ints = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 160)
_ = ints.initialize(from: g711Signal)
let codes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 160)
G711.muLaw.encode(UnsafeBufferPointer(ints), into: codes)
let decoded = UnsafeMutableBufferPointer<Int16>.allocate(capacity: 160)
let spandsp = peer_g711_create(1)
contests.append(Contest(work: "µ-law encode (Int16)", ours: "ours", run: { G711.muLaw.encode(UnsafeBufferPointer(ints), into: codes) },
                        peers: [("spandsp", { _ = peer_g711_encode(spandsp, codes.baseAddress, ints.baseAddress, 160) })]))
contests.append(Contest(work: "µ-law decode (Int16)", ours: "ours", run: { G711.muLaw.decode(UnsafeBufferPointer(codes), into: decoded) },
                        peers: [("spandsp", { _ = peer_g711_decode(spandsp, decoded.baseAddress, codes.baseAddress, 160) })]))

let speech = voiceSignal(count: 24000, rate: 24000)
for speed in [0.5, 1.25, 1.5] {
    var ours = try! SpeedScaler(sampleRate: .hz24000, speed: speed)
    let sonic = peer_sonic_create(24000, Float(speed))
    let touch = peer_soundtouch_create(24000, speed)
    contests.append(Contest(
        work: "speed \(speed) (24 kHz)", ours: "ours",
        run: chunks(speech, rate: 24000) { chunk in
            var rest = chunk
            while !rest.isEmpty { rest = UnsafeBufferPointer(rebasing: rest[ours.process(rest, into: out).consumed...]) }
        },
        peers: [
            ("sonic q0", chunks(speech, rate: 24000) { _ = peer_sonic_process(sonic, $0.baseAddress, Int32($0.count), out.baseAddress, Int32(out.count)) }),
            ("SoundTouch", chunks(speech, rate: 24000) { _ = peer_soundtouch_process(touch, $0.baseAddress, Int32($0.count), out.baseAddress, Int32(out.count)) }),
        ]))
}

print("| work (20 ms chunks) | ours | ns/chunk | peer | peer ns/chunk | peer time / ours |")
print("|---|---|---:|---|---:|---:|")
for contest in contests {
    var ours = Double.infinity
    var peers = [Double](repeating: .infinity, count: contest.peers.count)
    for _ in 0..<3 {   // interleaved: ours, each peer, ours, each peer, ...
        ours = min(ours, nanosecondsPerRun(contest.run, trials: trials))
        for (i, peer) in contest.peers.enumerated() { peers[i] = min(peers[i], nanosecondsPerRun(peer.1, trials: trials)) }
    }
    for (i, peer) in contest.peers.enumerated() {
        print("| \(contest.work) | \(contest.ours) | \(fixed(ours, 0)) | \(peer.0) | \(fixed(peers[i], 0)) | \(fixed(peers[i] / ours, 2))x |")
    }
}
