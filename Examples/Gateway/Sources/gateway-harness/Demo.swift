import ArgumentParser
import Foundation
import GatewayCore
import GatewayHarness
import GatewayServer
import Logging
import NIOCore
import RealtimeAudio
import RealtimeSession

/// One whole call through a real gateway with both fakes in this process, told and drawn: what `make demo` ends with.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One call through the gateway on loopback, with the fake carrier and the fake model: prints what happened and draws it.",
        discussion: """
        The caller says --wav, waits --pause seconds (the model's reply starts meanwhile), then says its first \
        --barge-in seconds again over the reply. Writes caller.wav (what the caller said), heard.wav (what the \
        carrier played, on the call's time axis) and call.svg (both on one time axis, with the turns, the replies, \
        the clear and the truncation point) into --out.
        """)

    @Option(help: "The caller's audio: any file libsndfile reads.") var wav: String
    @Option(help: "The model's reply: any file libsndfile reads.") var reply: String
    @Option(help: "Where the recordings and the drawing go (made if missing).") var out: String
    @Option(name: .customLong("turn-detection"), help: "local (our detector in the gateway) or server (the model's).") var turnDetection = "local"
    @Option(help: "Seconds between the caller's turn and its barge-in.") var pause = 1.5
    @Option(name: .customLong("barge-in"), help: "Seconds of the caller's audio said again over the reply.") var bargeIn = 2.0

    func validate() throws {
        guard ["local", "server"].contains(turnDetection) else { throw ValidationError("--turn-detection must be local or server") }
        guard pause.isFinite, (0.5...30).contains(pause) else { throw ValidationError("--pause must be 0.5...30 s") }
        guard bargeIn.isFinite, (0.2...30).contains(bargeIn) else { throw ValidationError("--barge-in must be 0.2...30 s") }
    }

    func run() async throws {
        let said = try samples8k(wav)
        guard !said.isEmpty else { throw DemoError(description: "\(wav) holds no audio") }
        let again = Array(said.prefix(Int(bargeIn * 8000)))
        let secondTurnMs = Double(said.count) / 8 + pause * 1000
        let caller = said + [Float](repeating: 0, count: Int(pause * 8000)) + again + [Float](repeating: 0, count: 2 * 8000)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let callerPath = out + "/caller.wav", heardPath = out + "/heard.wav", drawing = out + "/call.svg"
        // Nothing written over what was read: --out may be where the caller's or the reply's file lives.
        for (option, input) in [("--wav", wav), ("--reply", reply)] {
            for output in [callerPath, heardPath, drawing] where sameFile(input, output) {
                throw DemoError(description: "\(option) \(input) is \(output), which the demo writes: choose another --out")
            }
        }

        var quiet = Logger(label: "demo")
        quiet.logLevel = .critical
        let model = FakeModel(configuration: FakeModel.Configuration(reply: try pcm16(reply, rate: 24000)))
        let modelChannel = try await model.bind()
        let session = try Session(json: #"{"type":"realtime"}"#)
        var configuration = GatewayConfiguration(realtimeURL: "ws://127.0.0.1:\(modelChannel.localAddress?.port ?? 0)/v1/realtime", session: session)
        configuration.port = 0
        configuration.sharedSecret = "demo"
        configuration.turnTaking = turnDetection == "local" ? .local : .server
        let gateway = try Gateway(configuration: configuration, logger: quiet)
        let gatewayChannel = try await gateway.bind()
        defer {
            gatewayChannel.close(promise: nil)
            modelChannel.close(promise: nil)
        }
        var call = FakeCarrier.Configuration(url: "ws://127.0.0.1:\(gatewayChannel.localAddress?.port ?? 0)/media", caller: caller)
        call.headers["X-Gateway-Secret"] = "demo"
        call.tailSeconds = 1
        print("one call through realtime-gateway (\(turnDetection) turn detection), fake carrier and fake model on loopback, in real time (\(String(format: "%.1f", Double(caller.count) / 8000 + 1)) s) ...")
        let result = try await FakeCarrier.run(call)
        // The gateway counts the call out once both its sockets closed; the model's record is complete then.
        for _ in 0..<100 where gateway.activeCalls > 0 { try await Task.sleep(nanoseconds: 20_000_000) }
        guard let record = model.allRecords[1] else { throw DemoError(description: "the gateway never reached the fake model") }

        // The story, on the carrier's clock (ms from the call's first frame).
        func ms(_ ns: UInt64) -> Double { (Double(ns) - Double(result.startedAtNs)) / 1e6 }
        var story: [(ms: Double, text: String)] = [(0, "carrier: call starts, the caller speaks (\(String(format: "%.1f", Double(said.count) / 8000)) s)")]
        story.append((secondTurnMs, "carrier: the caller speaks again"))
        for (at, event) in record.timeline { story.append((ms(at), "model: \(event)")) }
        let ticks = result.playedPerTick
        var replyTicks: [Range<Int>] = []
        var k = 0
        while k < ticks.count {
            guard ticks[k] > 0 else { k += 1; continue }
            let start = k
            while k < ticks.count, ticks[k] > 0 { k += 1 }
            replyTicks.append(start..<k)
        }
        for r in replyTicks {
            story.append((Double(r.lowerBound * 20), "carrier: a reply starts playing"))
            story.append((Double(r.upperBound * 20), "carrier: the reply stops playing (\(String(format: "%.2f", Double(r.count) * 0.02)) s heard)"))
        }
        story.append((Double(ticks.count * 20), "carrier: the caller hangs up"))
        for c in result.clears { story.append((c.atMs, "carrier: clear (the gateway stops the reply: \(c.playedSamples) samples of it played, \(c.playedSamples / 8) ms)")) }
        story.sort { $0.ms < $1.ms }
        print("\nwhat happened (ms from the call's start):")
        for line in story { print(String(format: "%8.0f  ", line.ms) + line.text) }

        print("\nturn-taking and latency:")
        let committed = record.timeline.first { $0.event.hasPrefix("input_audio_buffer.commit") || $0.event.hasPrefix("speech_stopped") }
        if let committed, let firstPlay = replyTicks.first {
            print(String(format: "  the caller's turn ends (%@, after 500 ms of silence) at %.0f ms; the reply is heard %.0f ms later",
                         turnDetection == "local" ? "the gateway's detector commits it" : "the model's detector", ms(committed.atNs),
                         Double(firstPlay.lowerBound * 20) - ms(committed.atNs)))
        }
        let onsetToClear = result.clears.first.map { $0.atMs - secondTurnMs }
        print("  the caller speaks over the reply (its audio from \(Int(secondTurnMs)) ms) -> clear at the carrier: \(onsetToClear.map { String(format: "%.0f ms", $0) } ?? "no clear")")
        let cut = record.truncations.first
        if let cut, let clear = result.clears.first {
            print("  truncation: audio_end_ms \(cut.audioEndMs) for \(cut.itemID); the carrier had played \(clear.playedSamples / 8) ms of it")
        } else {
            print("  truncation: none")
        }
        print("  caller frames sent \(result.sentFrames), appends the model took \(record.appends), marks echoed \(result.marksEchoed), starved ticks \(result.starvedTicks)")

        // Recordings: the caller, and what the carrier played on the call's time axis (silence between replies).
        try writeULaw(G711.muLaw.encode(caller), to: callerPath)
        var heard: [UInt8] = []
        var offset = 0
        for n in ticks {
            heard += result.played[offset..<(offset + n)] + [UInt8](repeating: 0xFF, count: 160 - n)
            offset += n
        }
        try writeULaw(heard, to: heardPath)
        let heardSamples = G711.muLaw.decodeFloat(heard)
        let svg = CallDrawing(caller: caller, heard: heardSamples, story: story, clears: result.clears.map(\.atMs),
                              truncation: cut.flatMap { c in result.clears.first.map { ($0.atMs, c.audioEndMs) } }).svg()
        try Data(svg.utf8).write(to: URL(fileURLWithPath: drawing), options: .atomic)
        print("\nrecordings: \(callerPath) (the caller), \(heardPath) (what the carrier played); the call drawn: \(drawing)")
    }

}

struct DemoError: Error, CustomStringConvertible {
    let description: String
}

/// The call as an SVG: the caller's and the played audio's envelopes on one time axis, the events as ticks under
/// them, the clear and the truncation point as lines.
struct CallDrawing {
    let caller: [Float]
    let heard: [Float]
    let story: [(ms: Double, text: String)]
    let clears: [Double]
    /// When the clear came (ms), and the model's audio_end_ms of the truncation.
    let truncation: (atMs: Double, audioEndMs: Int)?

    func svg() -> String {
        let durationMs = Double(max(caller.count, heard.count)) / 8
        let width = 1200.0, left = 110.0, right = 20.0, lane = 90.0
        let plot = width - left - right
        func x(_ ms: Double) -> Double { left + plot * min(max(ms, 0), durationMs) / max(durationMs, 1) }
        func escaped(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        // Envelope: the peak of each 20 ms, drawn up and down from the lane's centre.
        func envelope(_ x0: [Float], top: Double, colour: String) -> String {
            var up: [String] = [], down: [String] = []
            let frames = x0.count / 160
            for f in 0..<frames {
                let peak = Double(x0[(f * 160)..<(f * 160 + 160)].reduce(Float(0)) { max($0, abs($1)) })
                let h = min(1, peak * 2) * (lane / 2 - 4)
                let px = x(Double(f) * 20)
                up.append(String(format: "%.1f,%.1f", px, top + lane / 2 - h))
                down.append(String(format: "%.1f,%.1f", px, top + lane / 2 + h))
            }
            return #"<polygon points="\#((up + down.reversed()).joined(separator: " "))" fill="\#(colour)" stroke="none"/>"#
        }
        let eventsTop = 20 + 2 * lane + 30
        let height = eventsTop + Double(story.count) * 15 + 40
        var s = #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(Int(width))" height="\#(Int(height))" font-family="sans-serif" font-size="11">"#
        s += #"<rect width="100%" height="100%" fill="white"/>"#
        s += #"<text x="10" y="\#(20 + lane / 2)">caller</text><text x="10" y="\#(20 + 1.5 * lane)">heard (carrier)</text>"#
        s += envelope(caller, top: 20, colour: "#4a7bd0")
        s += envelope(heard, top: 20 + lane, colour: "#d07a2a")
        // Time axis, every second.
        let axis = 20 + 2 * lane + 10
        s += #"<line x1="\#(left)" y1="\#(axis)" x2="\#(width - right)" y2="\#(axis)" stroke="black"/>"#
        var second = 0.0
        while second * 1000 <= durationMs {
            let px = x(second * 1000)
            s += #"<line x1="\#(px)" y1="\#(axis - 3)" x2="\#(px)" y2="\#(axis + 3)" stroke="black"/><text x="\#(px - 3)" y="\#(axis + 15)">\#(Int(second))</text>"#
            second += 1
        }
        for at in clears {
            s += #"<line x1="\#(x(at))" y1="14" x2="\#(x(at))" y2="\#(axis)" stroke="red" stroke-width="2"/><text x="\#(x(at) + 3)" y="14" fill="red">clear</text>"#
        }
        if let t = truncation {
            s += #"<text x="\#(x(t.atMs) + 3)" y="\#(20 + lane + 12)" fill="red">truncated at audio_end_ms \#(t.audioEndMs)</text>"#
        }
        for (i, line) in story.enumerated() {
            let y = eventsTop + 15 + Double(i) * 15
            s += #"<line x1="\#(x(line.ms))" y1="\#(axis)" x2="\#(x(line.ms))" y2="\#(y - 4)" stroke="silver"/>"#
            s += #"<circle cx="\#(x(line.ms))" cy="\#(y - 4)" r="2.5" fill="dimgray"/>"#
            // Late events are written to the left of their tick, so the text stays on the page.
            let late = x(line.ms) > width / 2
            s += #"<text x="\#(x(line.ms) + (late ? -6 : 6))" y="\#(y)" text-anchor="\#(late ? "end" : "start")">\#(String(format: "%.0f ms", line.ms)): \#(escaped(line.text))</text>"#
        }
        return s + "</svg>\n"
    }
}
