import Foundation
import Testing
import TestSupport
import RealtimeAudio
@testable import RealtimeCarrier

/// The samples of a 16-bit PCM or G.711 WAV file under `samples/` (its `data` chunk), as Float.
func sampleFile(_ name: String) throws -> (samples: [Float], rate: Int) {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../samples/\(name)")
    let bytes = [UInt8](try Data(contentsOf: url))
    func u32(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24 }
    func u16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
    var at = 12, format = 1, rate = 0
    while at + 8 <= bytes.count {
        let id = String(decoding: bytes[at..<(at + 4)], as: UTF8.self), size = u32(at + 4)
        if id == "fmt " { format = u16(at + 8); rate = u32(at + 12) }
        if id == "data" {
            let data = Array(bytes[(at + 8)..<min(bytes.count, at + 8 + size)])
            if format == 7 { return (G711.muLaw.decodeFloat(data), rate) }
            return (int16LE(data).map { Float($0) / 32768 }, rate)
        }
        at += 8 + size + (size & 1)
    }
    throw CarrierError.missingField("data")
}

/// Reply audio fed back into the inbound path: the carrier plays what the leg releases; the caller's phone
/// returns it at -12 dB after an echo path of 60-200 ms; a silent caller must not barge in, a caller who talks
/// over the reply must.
@Suite("Echo guard follows the leg")
struct EchoGuardTests {
    struct Call {
        var falseStarts = 0
        var detections: [Int] = []   // ms from the caller's onset to speech_started
    }

    /// `replies` replies of the sample voice, back to back with 400 ms gaps, the echo `delayMs` late; the caller
    /// speaks at `onsets` (ms), each barge-in interrupting the reply. Returns what the detector did.
    static func run(delayMs: Int, guardOn: Bool, onsets: [Int], seconds: Int) throws -> Call {
        let voice = try sampleFile("speech-24k.wav").samples
        let reply = voice.flatMap { v -> [UInt8] in
            let s = Int16(max(-32768, min(32767, (v * 32768).rounded())))
            return [UInt8(truncatingIfNeeded: s), UInt8(truncatingIfNeeded: s >> 8)]
        }
        let callerVoice = try sampleFile("call-8k-ulaw.wav").samples
        // The caller's onset in its file: the first 10 ms at -40 dBFS RMS or more.
        let onsetInFile = stride(from: 0, to: callerVoice.count - 80, by: 80).first { i in
            (callerVoice[i..<(i + 80)].map { $0 * $0 }.reduce(0, +) / 80).squareRoot() > 0.01
        } ?? 0
        let rate = 8000, total = seconds * rate
        var played = [Float](repeating: 0, count: total + rate)
        var leg = try OutboundLeg(format: .muLaw8k, acknowledged: false, latencyMs: 40, maximumChunkBytes: reply.count)
        var inbound = try InboundAudio(format: .g711_ulaw)
        var out = [UInt8](repeating: 0, count: inbound.maximumOutputBytes)
        var events = InboundEvents()
        var cursor = 0
        var nextReply = 0
        var bargedIn = Set<Int>()
        var noise = SplitMix64(seed: UInt64(delayMs))
        var call = Call()
        var inTurnFrom: Int?
        for step in 0..<(total / 160) {
            let t = Int64(step) * 20 * ms
            let nowMs = step * 20
            // The model replies when the caller is not talking (after a barge-in, once the caller's turn ends).
            if nowMs >= nextReply, !inbound.isInTurn, !leg.isPlaying(now: UInt64(t)), leg.pacer.queuedBytes == 0 {
                try reply.withUnsafeBufferPointer { try leg.appendModelAudio($0, now: UInt64(t)) }
                try leg.finishResponse(now: UInt64(t))
                nextReply = nowMs + reply.count / 48 + 400
            }
            leg.poll(now: UInt64(t)) { o in
                guard case .frame(let bytes, _, _) = o else { return }
                // The carrier plays it 40 ms after release, after what it already has.
                let start = max(cursor, (step * 20 + 40) * 8)
                for (k, code) in bytes.enumerated() where start + k < played.count { played[start + k] = Float(G711.muLaw.decode(code)) / 32768 }
                cursor = start + bytes.count
            }
            // The caller's microphone for the 20 ms ending now: the echo, the caller, a -66 dBFS floor.
            var mic = [Float](repeating: 0, count: 160)
            for k in 0..<160 {
                let i = step * 160 + k
                let e = i - delayMs * 8
                var v = e >= 0 ? 0.25 * played[e] : 0
                for onset in onsets where i >= onset * 8 {
                    let j = onsetInFile + i - onset * 8
                    if j < callerVoice.count { v += callerVoice[j] }
                }
                v += Float(Int64(bitPattern: noise.next() % 1001) - 500) / 500 * 0.0005
                mic[k] = v
            }
            if guardOn {
                inbound.setOutputPlaying(leg.isPlaying(now: UInt64(t)))
                inbound.setEchoGate(leg.echoGate(now: UInt64(t)))
            }
            let codes = G711.muLaw.encode(mic)
            _ = try codes.withUnsafeBufferPointer { c in try out.withUnsafeMutableBufferPointer { try inbound.append(c, into: $0, events: &events) } }
            for event in events {
                guard case .speechStarted = event else { inTurnFrom = nil; nextReply = max(nextReply, nowMs + 400); continue }
                inTurnFrom = nowMs
                if let onset = onsets.last(where: { $0 <= nowMs + 20 }), nowMs - onset < 3000 {
                    if !bargedIn.contains(onset) {
                        bargedIn.insert(onset)
                        call.detections.append(nowMs + 20 - onset)
                        _ = leg.interrupt(now: UInt64(t))
                    }
                } else {
                    call.falseStarts += 1
                }
            }
            _ = inTurnFrom
        }
        return call
    }

    @Test(arguments: [60, 120, 200])
    func echoDoesNotBargeIn(delayMs: Int) throws {
        let guarded = try Self.run(delayMs: delayMs, guardOn: true, onsets: [], seconds: 60)
        let unguarded = try Self.run(delayMs: delayMs, guardOn: false, onsets: [], seconds: 60)
        print("echo at -12 dB after \(delayMs) ms: \(guarded.falseStarts) false barge-ins per minute with the guard, \(unguarded.falseStarts) without")
        #expect(guarded.falseStarts == 0)
    }

    @Test(arguments: [60, 200])
    func callerTalkingOverTheReplyIsHeard(delayMs: Int) throws {
        let onsets = [2_300, 13_100, 24_700, 37_900]
        let call = try Self.run(delayMs: delayMs, guardOn: true, onsets: onsets, seconds: 48)
        print("caller over the reply, echo after \(delayMs) ms: detected in \(call.detections) ms (\(call.falseStarts) later turns of the caller's own)")
        #expect(call.detections.count == onsets.count)
        #expect(call.detections.allSatisfy { $0 <= 200 }, "\(call.detections)")
    }
}
