import Foundation
import RealtimeAudio
import SoundFile
import Testing

/// KLettres' letter recordings (Debian `klettres-data`: native speakers of several languages on real microphones
/// in real rooms). They are GPL-2+, so they are read from the system at test time, never copied into this
/// repository; `make test` installs the package.
private let klettres = "/usr/share/klettres"
private let rate = 16000

/// Turn taking on human voices: a caller spelling (two to four letters a turn, 150-350 ms between them), in
/// steady noise and among other talkers. Every turn must stay one turn, and nothing else may be a turn.
@Suite("Turns on real voices (klettres-data)",
       .enabled(if: FileManager.default.fileExists(atPath: klettres + "/en/alpha/A.ogg"),
                "klettres-data is not installed (make test installs it)"))
struct RealVoiceTests {
    /// A letter as said: mono at 16 kHz, cut to its clearly voiced part (frames within 20 dB of its loudest) plus
    /// 20 ms either side, scaled to an RMS of 1 over that part: the pause a script puts between two letters is then
    /// the pause between their voiced parts, give or take 40 ms.
    static func letter(_ language: String, _ name: String) throws -> [Float] {
        let reader = try SoundFileReader(path: "\(klettres)/\(language)/alpha/\(name).ogg")
        let channels = reader.info.channels
        var block = [Float](repeating: 0, count: 4096 * channels), mono: [Float] = []
        while true {
            let n = try block.withUnsafeMutableBufferPointer { try reader.read(into: $0) }
            if n == 0 { break }
            for f in 0..<n { mono.append((0..<channels).reduce(0) { $0 + block[f * channels + $1] } / Float(channels)) }
        }
        var resampler = try Resampler(from: SampleRate(hertz: reader.info.sampleRate), to: SampleRate(hertz: rate))
        var x = [Float](repeating: 0, count: resampler.maximumOutputCount(forInput: mono.count) + resampler.maximumOutputCount(forInput: 0))
        var used = 0, made = 0
        while used < mono.count {
            let (c, p) = mono.withUnsafeBufferPointer { src in
                x.withUnsafeMutableBufferPointer { resampler.process(UnsafeBufferPointer(rebasing: src[used...]), into: UnsafeMutableBufferPointer(rebasing: $0[made...])) }
            }
            used += c
            made += p
            if c == 0 && p == 0 { break }
        }
        let tail = x.withUnsafeMutableBufferPointer { resampler.finish(into: UnsafeMutableBufferPointer(rebasing: $0[made...])) }
        x = Array(x[..<(made + tail)])
        let frame = rate / 100
        let levels = stride(from: 0, to: x.count - frame, by: frame).map { i in
            10 * log10(x[i..<(i + frame)].reduce(0) { $0 + Double($1 * $1) } / Double(frame) + 1e-12)
        }
        let loudest = levels.max() ?? 0
        let voiced = levels.indices.filter { levels[$0] > loudest - 20 }
        let first = max(0, (voiced.first ?? 0) * frame - 2 * frame), last = min(x.count, ((voiced.last ?? 0) + 1) * frame + 2 * frame)
        let part = Array(x[first..<last])
        let rms = (part.reduce(0) { $0 + Double($1 * $1) } / Double(part.count)).squareRoot()
        return part.map { Float(Double($0) / rms) }
    }

    /// Six turns of a caller spelling, at -26 dBFS: the signal and each turn's span (ms), from its first letter's
    /// start to its last letter's end.
    static func spelling() throws -> (signal: [Float], turns: [ClosedRange<Int>]) {
        let words: [[(String, String)]] = [
            [("en", "B"), ("en", "O"), ("en", "B")],
            [("es", "m"), ("es", "a")],
            [("de", "k"), ("de", "l"), ("de", "e"), ("de", "o")],
            [("en", "J"), ("en", "A"), ("en", "N")],
            [("es", "p"), ("es", "e")],
            [("en", "R"), ("en", "U"), ("en", "T"), ("en", "H")],
        ]
        let gain = Float(pow(10, -26.0 / 20))
        var signal = [Float](repeating: 0, count: rate * 3 / 2), turns: [ClosedRange<Int>] = []
        for (k, word) in words.enumerated() {
            let start = signal.count
            for (j, (language, name)) in word.enumerated() {
                if j > 0 { signal += [Float](repeating: 0, count: rate * (150 + 50 * ((j + k) % 5)) / 1000) }
                signal += try letter(language, name).map { $0 * gain }
            }
            turns.append((1000 * start / rate)...(1000 * signal.count / rate))
            signal += [Float](repeating: 0, count: rate * (1200 + 200 * (k % 4)) / 1000)
        }
        return (signal, turns)
    }

    /// Other talkers: letters of two languages the caller does not speak, five voices overlapping, at unit RMS.
    static func babble(count: Int) throws -> [Float] {
        var talkers: [[Float]] = []
        for language in ["ml", "tn"] {
            let names = try FileManager.default.contentsOfDirectory(atPath: "\(klettres)/\(language)/alpha")
                .filter { $0.hasSuffix(".ogg") }.sorted().prefix(12)
            for name in names { talkers.append(try letter(language, String(name.dropLast(4)))) }
        }
        var z = [Float](repeating: 0, count: count)
        var seed: UInt64 = 7
        func next() -> Int { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Int(seed >> 33) }
        for voice in 0..<5 {
            var position = (voice * 3217) % rate
            while position < count {
                let clip = talkers[next() % talkers.count]
                let n = min(clip.count, count - position)
                for i in 0..<n { z[position + i] += clip[i] }
                position += n + rate * (50 + next() % 350) / 1000
            }
        }
        let rms = (z.reduce(0) { $0 + Double($1 * $1) } / Double(count)).squareRoot()
        return z.map { Float(Double($0) / rms) }
    }

    /// White noise at unit RMS (a fixed sequence).
    static func white(count: Int) -> [Float] {
        var seed: UInt64 = 11
        return (0..<count).map { _ in
            var sum: Float = 0
            for _ in 0..<12 {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                sum += Float(seed >> 40) / Float(1 << 24)
            }
            return sum - 6
        }
    }

    /// The signal with `noise` added at `snr` dB under the speech's active RMS.
    static func mix(_ signal: [Float], turns: [ClosedRange<Int>], noise: [Float], snr: Double) -> [Float] {
        var energy = 0.0, count = 0
        for t in turns {
            for i in (t.lowerBound * rate / 1000)..<min(signal.count, t.upperBound * rate / 1000) where signal[i] != 0 {
                energy += Double(signal[i] * signal[i])
                count += 1
            }
        }
        let gain = Float((energy / Double(count)).squareRoot() * pow(10, -snr / 20))
        return zip(signal, noise).map { $0 + gain * $1 }
    }

    /// The detector's turns at the defaults: speech cores (`audio_start_ms` + prefix, `audio_end_ms` - silence).
    static func detect(_ x: [Float], rate: SampleRate = .hz16000, tuning: ServerVAD.Tuning = .init()) throws -> [ClosedRange<Int>] {
        var vad = try ServerVAD(sampleRate: rate, tuning: tuning)
        var start = 0, found: [ClosedRange<Int>] = []
        for event in vad.events(in: x) {
            switch event {
            case .speechStarted(let at, _): start = at + 300
            case .speechStopped(let end, _): found.append(start...max(start, end - 500))
            }
        }
        return found
    }

    enum Condition: String, CaseIterable { case clean, white10, white5, babble20, babble10 }

    static func signal(_ condition: Condition) throws -> (x: [Float], turns: [ClosedRange<Int>]) {
        let (clean, turns) = try spelling()
        switch condition {
        case .clean: return (clean, turns)
        case .white10: return (mix(clean, turns: turns, noise: white(count: clean.count), snr: 10), turns)
        case .white5: return (mix(clean, turns: turns, noise: white(count: clean.count), snr: 5), turns)
        case .babble20: return (mix(clean, turns: turns, noise: try babble(count: clean.count), snr: 20), turns)
        case .babble10: return (mix(clean, turns: turns, noise: try babble(count: clean.count), snr: 10), turns)
        }
    }

    /// One to one: every true turn overlapped by exactly one detected turn, every detected turn by exactly one true
    /// turn (a split, a merge or a turn on noise fails), onsets within 100 ms of the first letter's start.
    static func expectOneToOne(_ found: [ClosedRange<Int>], _ turns: [ClosedRange<Int>], _ condition: Condition) {
        for t in turns { #expect(found.filter { $0.overlaps(t) }.count == 1, "\(condition): turn \(t) met by \(found.filter { $0.overlaps(t) })") }
        for d in found { #expect(turns.filter { $0.overlaps(d) }.count == 1, "\(condition): detected \(d) against \(turns)") }
        for (t, d) in zip(turns, found) where found.count == turns.count {
            #expect(abs(d.lowerBound - t.lowerBound) <= 100, "\(condition): onset \(d.lowerBound) for \(t.lowerBound)")
        }
    }

    @Test("each spelled turn is one turn, and nothing else is: clean and in white noise at 10 and 5 dB",
          arguments: [Condition.clean, .white10, .white5])
    func spelledTurns(_ condition: Condition) throws {
        let (x, turns) = try Self.signal(condition)
        Self.expectOneToOne(try Self.detect(x), turns, condition)
    }

    /// The detector analyses every rate through the same 150 Hz-3.7 kHz bands of an 8 kHz signal, delayed alike
    /// (``ServerVAD`` cue 1): a caller on a telephone line and the same caller at 24 kHz are heard the same, to
    /// the frame, even in noise where a score wavers around the levels that start and hold a turn.
    @Test("8 and 24 kHz give the 16 kHz turns within 20 ms, clean, in white noise and in babble",
          arguments: [Condition.clean, .white10, .white5, .babble20])
    func ratesDecideAlike(_ condition: Condition) throws {
        let (x, _) = try Self.signal(condition)
        let reference = try Self.detect(x)
        for target in [SampleRate.hz8000, .hz24000] {
            var resampler = try Resampler(from: .hz16000, to: target)
            let y = resampler.convert(x)
            let found = try Self.detect(y, rate: target)
            #expect(found.count == reference.count, "\(condition) at \(target.hertz) Hz: \(found) against \(reference)")
            for (r, f) in zip(reference, found) {
                #expect(abs(f.lowerBound - r.lowerBound) <= 20 && abs(f.upperBound - r.upperBound) <= 20,
                        "\(condition) at \(target.hertz) Hz: \(f) against \(r)")
            }
        }
    }

    /// A line that connects, then other talkers at once: the turn they start is held while the floor is far
    /// below them, but once the quietest moments of the last four seconds have lifted the floor to them
    /// (``ServerVAD`` cue 8) it ends at the next pause, and every later turn is found one to one. Without that
    /// bound the floor crept up at the speech rate and the first turn held the whole 21 s stream.
    @Test("babble at 20 dB after a second of silence: held for at most ten seconds, then every turn one to one")
    func babbleAfterSilence() throws {
        let (x, turns) = try Self.signal(.babble20)
        let shifted = turns.map { ($0.lowerBound + 1000)...($0.upperBound + 1000) }
        let found = try Self.detect([Float](repeating: 0, count: rate) + x)
        let first = try #require(found.first)
        #expect(first.upperBound <= 11_000, "the turn begun on the babble at \(first.lowerBound) ends at \(first.upperBound)")
        let later = shifted.filter { $0.lowerBound > first.upperBound }
        #expect(later.count >= 3)
        for t in later {
            let met = found.filter { $0.overlaps(t) }
            #expect(met.count == 1 && shifted.filter { $0.overlaps(met[0]) }.count == 1, "turn \(t) met by \(met)")
        }
    }

    /// Known to fail: when the stream starts among other talkers, their first syllables start a turn before the
    /// floor or the noise's peaks know them, and nothing is learnt inside a turn, so the turn holds the first
    /// three turns (about ten seconds) until the quietest-moment bound lifts the floor. (When babble comes after the detector has heard the line, the real-voice set's babble cells reach a
    /// strict F1 of 0.63.) The day this passes, the known issue is reported missing and this test fails: move the
    /// condition up.
    @Test("babble from the stream's first frame at 20 and 10 dB", arguments: [Condition.babble20, .babble10])
    func babbleFromTheStart(_ condition: Condition) throws {
        let (x, turns) = try Self.signal(condition)
        let found = try Self.detect(x)
        withKnownIssue("a stream that starts in babble holds one turn") {
            Self.expectOneToOne(found, turns, condition)
        }
    }
}
