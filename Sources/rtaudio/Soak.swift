import ArgumentParser
import Foundation
import RealtimeAudio

struct Soak: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Push hours of audio through one full-duplex session as fast as the CPU allows, and check it.",
        discussion: """
            The caller sends 8 kHz µ-law in 20 ms chunks (a turn every 4 s) through the inbound pipeline; the model \
            answers with 24 kHz pcm16 in 20 ms deltas, one 5-second response every 10 s of call, through the \
            outbound pipeline at speed 1.25 to 8 kHz µ-law. Checked all along: the model gets exactly three samples \
            per caller sample (no drift), every response reaches the caller at exactly round(n / 1.25 / 3) samples, \
            the events alternate and land where the turns are, and memory does not grow. Prints one JSON line; exit 1 \
            on any failure.
            """
    )

    @Option(parsing: .unconditional, help: "Hours of call audio to push.")
    var hours: Double = 24

    func run() throws {
        try Console.run(soak)
    }

    private func soak() throws {
        _ = try Numbers.check(hours, "--hours", in: 0.0001...100_000)
        let started = Date()
        var inbound = try InboundAudio(format: .g711_ulaw)
        var outbound = try OutboundAudio(format: .g711_ulaw, speed: 1.25)
        // One 4 s period of the caller: 1.6 s of voice, then quiet; one 5 s model response.
        let period = 4 * 8000
        var voice = [Float](repeating: 0, count: period)
        for i in 0..<(period * 2 / 5) {
            let t = Double(i) / 8000
            voice[i] = Float(0.2 * sin(2 * .pi * 140 * t) * (0.6 + 0.4 * sin(2 * .pi * 3 * t)) + 0.05 * sin(2 * .pi * 1130 * t))
        }
        let caller = G711.muLaw.encode(voice)
        let response = PCM16.encode((0..<(5 * 24000)).map { Float(0.25 * sin(2 * .pi * 180 * Double($0) / 24000)) })
        var events = InboundEvents()
        var toModel = [UInt8](repeating: 0, count: inbound.maximumOutputBytes)
        var toCaller = [UInt8](repeating: 0, count: outbound.maximumOutputBytes)
        let chunks = Int(hours * 3600 * 50)
        var modelSamples = 0, callerSamples = 0, clientSamples = 0, responseClient = 0, responses = 0
        var failures: [String] = []
        var expectStart = true, turns = 0, lastEventMs = -1
        let startRSS = residentMB()
        var peakRSS = startRSS
        for c in 0..<chunks {
            let offset = (c * 160) % caller.count
            modelSamples += try caller[offset..<(offset + 160)].withUnsafeBufferPointer { src in
                try toModel.withUnsafeMutableBufferPointer { try inbound.append(src, into: $0, events: &events) }
            } / 2
            callerSamples += 160
            for event in events {
                let ms: Int
                switch event {
                case .speechStarted(let start): ms = start; if !expectStart { failures.append("two starts at \(start) ms") }; turns += 1
                case .speechStopped(let end): ms = end; if expectStart { failures.append("a stop without a start at \(end) ms") }
                case .timeoutTriggered: ms = lastEventMs; failures.append("an unexpected timeout")
                }
                if ms < lastEventMs { failures.append("time went back at \(ms) ms") }
                lastEventMs = ms
                expectStart.toggle()
            }
            // The model talks during the first half of every 10 s.
            let inCall = c % 500
            if inCall < 250 {
                let o = inCall * 960
                let n = try response[o..<(o + 960)].withUnsafeBufferPointer { src in
                    try toCaller.withUnsafeMutableBufferPointer { try outbound.append(src, into: $0) }
                }
                responseClient += n
            } else if inCall == 250 {
                responseClient += try toCaller.withUnsafeMutableBufferPointer { try outbound.finish(into: $0) }
                let expected = Int((Double(Int((Double(5 * 24000) / 1.25).rounded())) / 3).rounded())
                if responseClient != expected { failures.append("response \(responses) has \(responseClient) samples, not \(expected)") }
                clientSamples += responseClient
                responseClient = 0
                responses += 1
            }
            // The inbound stream: 3 model samples per caller sample, but for the resampler's lookahead.
            if c % 50_000 == 0 {
                let owed = inbound.pendingModelSamples
                if modelSamples + owed != 3 * callerSamples { failures.append("drift at chunk \(c): \(modelSamples) + \(owed) for \(callerSamples)") }
                peakRSS = max(peakRSS, residentMB())
            }
            if failures.count > 10 { break }
        }
        let owed = inbound.pendingModelSamples
        if modelSamples + owed != 3 * callerSamples { failures.append("drift at the end: \(modelSamples) + \(owed) for \(callerSamples)") }
        let expectedTurns = callerSamples / period
        if abs(turns - expectedTurns) > 1 { failures.append("\(turns) turns for \(expectedTurns) periods") }
        let endRSS = residentMB()
        peakRSS = max(peakRSS, endRSS)
        if endRSS > startRSS + 8 { failures.append(String(format: "memory grew from %.1f to %.1f MB", startRSS, endRSS)) }
        let seconds = Date().timeIntervalSince(started)
        let audioHours = Double(callerSamples) / 8000 / 3600
        var line = JSONLine(type: "soak")
        line.add("audio_hours", audioHours, decimals: 3)
        line.add("cpu_wall_s", seconds, decimals: 1)
        line.add("x_realtime", audioHours * 3600 / max(seconds, 1e-9), decimals: 0)
        line.add("turns", turns)
        line.add("responses", responses)
        line.add("model_samples", modelSamples)
        line.add("caller_samples", callerSamples)
        line.add("client_samples", clientSamples)
        line.add("rss_start_mb", startRSS, decimals: 1)
        line.add("rss_end_mb", endRSS, decimals: 1)
        line.add("rss_peak_mb", peakRSS, decimals: 1)
        line.add("failures", failures.count)
        print(line.text)
        guard failures.isEmpty else { throw UserError("soak failed: " + failures.prefix(5).joined(separator: "; ")) }
    }
}

/// Resident set size in MB, from /proc/self/statm.
func residentMB() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
    return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}
