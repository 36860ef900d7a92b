import ArgumentParser
import Foundation
import GatewayCore
import GatewayHarness
import GatewayNet
import NIOPosix
import RealtimeAudio
import SoundFile

/// `gateway-harness`: drive whole calls through a gateway, offline: a fake Realtime model and a fake Twilio carrier.
@main
struct GatewayHarnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway-harness",
        abstract: "Drive whole calls through a gateway offline: a fake Twilio carrier and a fake Realtime model.",
        subcommands: [Model.self, Call.self, Load.self, Demo.self]
    )

    struct Model: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a fake Realtime endpoint at ws://HOST:PORT/v1/realtime that answers every turn with --reply.")
        @Option var host = "127.0.0.1"
        @Option var port = 9000
        @Option(help: "The reply: any file libsndfile reads, resampled to --rate.") var reply: String
        @Option(help: "The model's pcm16 rate (24000 or 16000).") var rate = 24000
        @Option(help: "The reply's encoding, as the session's output format: pcm16 (at --rate), g711_ulaw or g711_alaw (8 kHz).") var format = "pcm16"
        @Option(name: .customLong("delta-ms"), help: "Audio per response.output_audio.delta, in ms.") var deltaMs = 100
        @Option(name: .customLong("delta-interval-ms"), help: "Pause between deltas, in ms: 5 runs ahead of real time as the API does (a reply in bursts); the delta's own length paces them in real time.") var deltaIntervalMs = 5
        @Option(help: niceHelp) var nice: Int32 = 0

        func validate() throws {
            guard rate == 24000 || rate == 16000 else { throw ValidationError("--rate must be 24000 or 16000") }
            guard (1...10_000).contains(deltaMs) else { throw ValidationError("--delta-ms must be 1...10000") }
            guard (0...10_000).contains(deltaIntervalMs) else { throw ValidationError("--delta-interval-ms must be 0...10000") }
            guard ["pcm16", "g711_ulaw", "g711_alaw"].contains(format) else { throw ValidationError("--format must be pcm16, g711_ulaw or g711_alaw") }
            try validateNice(nice)
        }

        func run() async throws {
            let law: G711? = format == "g711_ulaw" ? .muLaw : format == "g711_alaw" ? .aLaw : nil
            var configuration = FakeModel.Configuration(reply: try law.map { $0.encode(try samples8k(reply)) } ?? pcm16(reply, rate: rate))
            configuration.recordsAudio = false
            configuration.deltaBytes = (law == nil ? 2 * rate : 8000) * deltaMs / 1000
            configuration.deltaIntervalMs = deltaIntervalMs
            let model = FakeModel(configuration: configuration)
            try await lowerPriority(to: nice)
            let channel = try await model.bind(host: host, port: port)
            print("fake model listening on ws://\(host):\(channel.localAddress?.port ?? port)/v1/realtime")
            try await channel.closeFuture.get()
        }
    }

    struct CarrierOptions: ParsableArguments {
        @Option(help: "The gateway's media URL (ws://HOST:PORT/media).") var gateway: String
        @Option(help: "The caller's audio: any file libsndfile reads (mixed to mono, resampled to 8 kHz).") var wav: String
        @Option(help: "Twilio auth token: sign the upgrade as Twilio does.") var twilioToken: String?
        @Option(help: "Shared secret: send X-Gateway-Secret.") var secret: String?
        @Option(help: "Seconds to keep playing after the caller's audio ends.") var tail = 3.0
        @Option(name: .customLong("echo-db"), parsing: .unconditional, help: "Mix an echo of what is played at this level (dB, e.g. -12).") var echoDB: Double?
        @Option(name: .customLong("echo-delay-ms"), help: "The echo's delay (ms).") var echoDelayMs = 120
        @Flag(help: "Do not check the gateway's TLS certificate (a test proxy's self-signed one).") var insecure = false
        @Option(name: .customLong("loss-every"), help: "Lose every n-th caller frame (its chunk number skipped).") var lossEvery: Int?
        @Option(name: .customLong("reorder-every"), help: "Send every n-th caller frame after the one that follows it.") var reorderEvery: Int?
        @Option(help: "Times the caller says --wav, with --turn-gap seconds of quiet line between (the model answers each).") var turns = 1
        @Option(name: .customLong("turn-gap"), help: "Seconds of quiet line between the caller's turns.") var turnGap = 9.0

        func validate() throws {
            guard (1...100).contains(turns) else { throw ValidationError("--turns must be 1...100") }
            guard turnGap.isFinite, (0...600).contains(turnGap) else { throw ValidationError("--turn-gap must be 0...600 s") }
        }

        func configuration() throws -> FakeCarrier.Configuration {
            let said = try samples8k(wav)
            var caller = said
            for _ in 1..<turns { caller += [Float](repeating: 0, count: Int(turnGap * 8000)) + said }
            var c = FakeCarrier.Configuration(url: gateway, caller: caller)
            c.tailSeconds = tail
            if let twilioToken { c.headers["X-Twilio-Signature"] = TwilioSignature.sign(authToken: twilioToken, url: gateway) }
            if let secret { c.headers["X-Gateway-Secret"] = secret }
            if let echoDB { c.echo = (echoDB, echoDelayMs) }
            c.verifyCertificate = !insecure
            c.lossEvery = lossEvery
            c.reorderEvery = reorderEvery
            return c
        }
    }

    struct Call: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One call in real time: prints what the carrier saw as JSON.")
        @OptionGroup var carrier: CarrierOptions
        @Option(help: "Write what the carrier played (8 kHz µ-law WAV).") var record: String?

        func run() async throws {
            let result = try await FakeCarrier.run(try carrier.configuration())
            if let record { try writeULaw(result.played, to: record) }
            print(summary(result))
        }
    }

    struct Load: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "N concurrent calls: frame arrival jitter, starved ticks, clears.")
        @OptionGroup var carrier: CarrierOptions
        @Option(help: "Concurrent calls.") var calls = 10
        @Option(help: "Seconds between call starts.") var ramp = 0.01
        @Option(help: niceHelp) var nice: Int32 = 0

        func validate() throws { try validateNice(nice) }

        func run() async throws {
            try await lowerPriority(to: nice)
            var base = try carrier.configuration()
            // Every call sends the same caller: its frames are encoded once, not once per call.
            if base.echo == nil { base.encodedCaller = FakeCarrier.EncodedCaller(base.caller) }
            // A call the gateway refuses with 503 (full, draining or overloaded) is counted, not an error: a load
            // past a gateway's limit is what this measures.
            let outcomes = try await withThrowingTaskGroup(of: FakeCarrier.Result?.self) { group in
                for k in 0..<calls {
                    var c = base
                    c.streamSid = "MZ\(String(format: "%032d", k))"
                    group.addTask {
                        try await Task.sleep(nanoseconds: UInt64(Double(k) * ramp * 1e9))
                        do { return try await FakeCarrier.run(c) } catch WebSocketClientError.refused(status: 503) { return nil }
                    }
                }
                var all: [FakeCarrier.Result?] = []
                for try await r in group { all.append(r) }
                return all
            }
            let results = outcomes.compactMap { $0 }
            let gaps = results.flatMap(\.arrivalGapsMs).sorted()
            let lateness = results.flatMap(\.tickLatenessMs).sorted()
            func q(_ x: [Double], _ p: Double) -> Double { x.isEmpty ? 0 : x[min(x.count - 1, Int(p * Double(x.count)))] }
            print(#"{"calls":\#(calls),"refused":\#(outcomes.count - results.count),"frames_played":\#(results.map { $0.played.count / 160 }.reduce(0, +)),"starved_ticks":\#(results.map(\.starvedTicks).reduce(0, +)),"closed_early":\#(results.filter(\.closedEarly).count),"arrival_gap_ms_p50":\#(q(gaps, 0.5)),"arrival_gap_ms_p99":\#(q(gaps, 0.99)),"arrival_gap_ms_max":\#(gaps.last ?? 0),"carrier_lateness_ms_p99":\#(q(lateness, 0.99))}"#)
        }
    }
}

let niceHelp: ArgumentHelp = "Run every thread of this fake at this nice value (0 to 19; higher yields the CPU): on a machine shared with the gateway under test, the gateway gets the CPU first."

func validateNice(_ nice: Int32) throws {
    guard (0...19).contains(nice) else { throw ValidationError("--nice must be 0...19") }
}

/// Sets the nice value of every thread of the shared event-loop group (where the fakes run) and of the calling
/// thread. Linux keeps a nice value per thread (`setpriority` with who 0 sets the calling thread's), and NIO's
/// threads do not keep the one the process was started with (measured: under `nice -n 19` they ran at 0), so each
/// thread sets its own.
func lowerPriority(to nice: Int32) async throws {
    guard nice != 0 else { return }
    @Sendable func setOwn() throws {
        guard setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) == 0 else {
            throw ValidationError("--nice \(nice): setpriority failed (errno \(errno))")
        }
    }
    try setOwn()
    for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() { try await loop.submit { try setOwn() }.get() }
}

func summary(_ r: FakeCarrier.Result) -> String {
    let clears = r.clears.map { #"{"at_ms":\#(Int($0.atMs)),"response":\#($0.response.map(String.init) ?? "null"),"played_samples":\#($0.playedSamples)}"# }
    return #"{"sent_frames":\#(r.sentFrames),"played_samples":\#(r.played.count),"marks_echoed":\#(r.marksEchoed),"clears":[\#(clears.joined(separator: ","))],"marks_after_clear":\#(r.marksAfterClear),"starved_ticks":\#(r.starvedTicks),"closed_early":\#(r.closedEarly)}"#
}

/// Writes µ-law bytes as an 8 kHz µ-law WAV (whole or not at all: the writer commits at the end).
func writeULaw(_ bytes: [UInt8], to path: String) throws {
    let writer = try SoundFileWriter(path: path, container: .wav, encoding: .ulaw, sampleRate: 8000)
    try bytes.withUnsafeBufferPointer { try writer.write(encoded: $0) }
    try writer.commit()
}

/// A file's audio as mono 8 kHz floats.
func samples8k(_ path: String) throws -> [Float] { try mono(path, rate: 8000) }

/// A file's audio as pcm16 little-endian bytes at `rate`.
func pcm16(_ path: String, rate: Int) throws -> [UInt8] {
    let x = try mono(path, rate: rate)
    var out = [UInt8](repeating: 0, count: 2 * x.count)
    _ = x.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { PCM16.encode(src, into: $0) } }
    return out
}

func mono(_ path: String, rate: Int) throws -> [Float] {
    let reader = try SoundFileReader(path: path)
    let channels = reader.info.channels
    var all: [Float] = []
    var block = [Float](repeating: 0, count: 4096 * channels)
    while true {
        let n = try block.withUnsafeMutableBufferPointer { try reader.read(into: $0) }
        if n == 0 { break }
        for f in 0..<n { all.append((0..<channels).map { block[f * channels + $0] }.reduce(0, +) / Float(channels)) }
    }
    guard reader.info.sampleRate != rate else { return all }
    var resampler = try Resampler(from: SampleRate(hertz: reader.info.sampleRate), to: SampleRate(hertz: rate))
    var out = [Float](repeating: 0, count: resampler.maximumOutputCount(forInput: all.count) + resampler.maximumOutputCount(forInput: 0))
    var produced = 0
    var rest = all[...]
    while !rest.isEmpty {
        let (used, made) = rest.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { resampler.process(src, into: UnsafeMutableBufferPointer(rebasing: $0[produced...])) }
        }
        produced += made
        rest = rest.dropFirst(used)
        if used == 0 && made == 0 { break }
    }
    produced += out.withUnsafeMutableBufferPointer { resampler.finish(into: UnsafeMutableBufferPointer(rebasing: $0[produced...])) }
    return Array(out[..<produced])
}

