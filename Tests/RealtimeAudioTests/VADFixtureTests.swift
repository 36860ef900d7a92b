import Foundation
import Testing
@testable import RealtimeAudio

/// One file of the labelled set `Fixtures/vad/make_fixtures.py` builds (espeak-ng speech with known turns).
struct LabelledFile: Decodable {
    let file: String
    let rate: Int
    let condition: String
    let turns_ms: [[Int]]

    var samples: [Float] {
        get throws { try int16LE(fixture("vad/" + file)).map { Float($0) / 32768 } }
    }

    static func all() throws -> [LabelledFile] {
        try JSONDecoder().decode([LabelledFile].self, from: Data(fixture("vad/labels.json")))
    }
}

/// The samples of a 16-bit PCM mono WAV (the files in `samples/`), with its rate.
func readPCM16WAV(_ path: String) throws -> (rate: Int, samples: [Float]) {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    func u32(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24 }
    func u16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
    var offset = 12, rate = 0
    while offset + 8 <= bytes.count {
        let id = String(decoding: bytes[offset..<(offset + 4)], as: UTF8.self), size = u32(offset + 4)
        if id == "fmt " {
            #expect(u16(offset + 8) == 1 && u16(offset + 10) == 1 && u16(offset + 22) == 16, "pcm16 mono expected")
            rate = u32(offset + 12)
        } else if id == "data" {
            let data = Array(bytes[(offset + 8)..<min(bytes.count, offset + 8 + size)])
            return (rate, int16LE(data).map { Float($0) / 32768 })
        }
        offset += 8 + size + size % 2
    }
    throw CocoaError(.fileReadCorruptFile)
}

@Suite("ServerVAD on labelled speech")
struct VADFixtureTests {
    @Test("every labelled turn is found once: onset within 80 ms, end within 150 ms (plus the 500 ms silence)",
          arguments: try LabelledFile.all().map(\.file))
    func labelledTurns(file: String) throws {
        let entry = try LabelledFile.all().first { $0.file == file }!
        var vad = try ServerVAD(sampleRate: SampleRate(hertz: entry.rate))
        let events = vad.events(in: try entry.samples)
        var turns: [(start: Int, end: Int)] = []
        for event in events {
            switch event {
            case .speechStarted(let start, _): turns.append((start + 300, -1))   // undo the prefix padding
            case .speechStopped(let end, _): turns[turns.count - 1].end = end - 500  // undo the silence duration
            }
        }
        #expect(turns.count == entry.turns_ms.count, "\(file) (\(entry.condition)): \(turns)")
        for (found, truth) in zip(turns, entry.turns_ms) {
            #expect(abs(found.start - truth[0]) <= 80, "\(file): onset \(found.start) for \(truth[0])")
            #expect(abs(found.end - truth[1]) <= 150, "\(file): end \(found.end) for \(truth[1])")
        }
    }

    @Test("the labelled files give the same events in random chunks")
    func labelledChunking() throws {
        var rng = SplitMix64(seed: 11)
        for entry in try LabelledFile.all() {
            let x = try entry.samples
            var whole = try ServerVAD(sampleRate: SampleRate(hertz: entry.rate))
            let expected = whole.events(in: x)
            var vad = try ServerVAD(sampleRate: SampleRate(hertz: entry.rate))
            var events: [TurnEvent] = []
            var start = 0
            for size in randomChunks(total: x.count, maxChunk: 2000, using: &rng) {
                x[start..<(start + size)].withUnsafeBufferPointer { chunk in
                    var rest = chunk
                    while !rest.isEmpty {
                        let (used, event) = vad.process(rest)
                        if let event { events.append(event) }
                        rest = UnsafeBufferPointer(rebasing: rest[used...])
                    }
                }
                start += size
            }
            events += vad.finish().map { [$0] } ?? []
            #expect(events == expected, "\(entry.file)")
        }
    }

    @Test("the speech sample in samples/ is one turn from its first word to its end")
    func sampleSpeech() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let (rate, x) = try readPCM16WAV(root.appendingPathComponent("samples/speech-24k.wav").path)
        var vad = try ServerVAD(sampleRate: SampleRate(hertz: rate))
        let events = vad.events(in: x)
        guard events.count == 2, case .speechStarted(let start, _) = events[0], case .speechStopped(let end, _) = events[1] else {
            Issue.record("expected one turn, got \(events)")
            return
        }
        #expect(start == 0)   // speech starts within the first 300 ms: the padding clamps at 0
        #expect(abs(end - x.count * 1000 / rate) <= 10)   // the file ends inside the turn
    }
}
