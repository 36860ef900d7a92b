import Foundation
import Testing
@testable import SoundFile

/// A fresh folder per test, removed afterwards.
final class Scratch {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "soundfile-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
    var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted() ?? [] }
}

func readAll(_ reader: SoundFileReader, chunk: Int = 1000) throws -> [Float] {
    var out: [Float] = []
    var buffer = [Float](repeating: 0, count: chunk * reader.info.channels)
    while true {
        let n = try buffer.withUnsafeMutableBufferPointer { try reader.read(into: $0) }
        if n == 0 { return out }
        out += buffer[..<(n * reader.info.channels)]
    }
}

@Suite("SoundFile")
struct SoundFileTests {
    let ramp: [Int16] = (0..<3000).map { Int16(truncatingIfNeeded: $0 * 37 - 40000) }

    @Test("pcm16 WAV, FLAC and raw keep every Int16 exactly", arguments: [Container.wav, .flac, .raw])
    func pcm16RoundTrip(container: Container) throws {
        let scratch = try Scratch()
        let path = scratch.file("a.\(container.rawValue)")
        let writer = try SoundFileWriter(path: path, container: container, encoding: .pcm16, sampleRate: 16000)
        try ramp.withUnsafeBufferPointer { try writer.write($0) }
        #expect(!FileManager.default.fileExists(atPath: path))        // nothing under the target name yet
        try writer.commit()
        #expect(scratch.contents == ["a.\(container.rawValue)"])      // and no temporary file left
        let reader = container == .raw
            ? try SoundFileReader(path: path, raw: RawLayout(encoding: .pcm16, sampleRate: 16000))
            : try SoundFileReader(path: path)
        #expect(reader.info.sampleRate == 16000 && reader.info.channels == 1 && reader.info.frames == 3000)
        #expect(try readAll(reader) == ramp.map { Float($0) / 32768 })
    }

    @Test("float32 WAV keeps every Float bit")
    func floatRoundTrip() throws {
        let scratch = try Scratch()
        let samples: [Float] = (0..<999).map { Float($0) * 0.00123 - 0.6 } + [1.5, -2]
        let writer = try SoundFileWriter(path: scratch.file("f.wav"), container: .wav, encoding: .float32, sampleRate: 24000)
        try samples.withUnsafeBufferPointer { try writer.write($0) }
        try writer.commit()
        let reader = try SoundFileReader(path: scratch.file("f.wav"))
        #expect(reader.info.encoding == "32 bit float")
        #expect(try readAll(reader, chunk: 77) == samples)
    }

    @Test("encoded G.711 bytes land in the file untouched", arguments: [SampleEncoding.ulaw, .alaw])
    func encodedBytes(encoding: SampleEncoding) throws {
        let scratch = try Scratch()
        let codes = (0..<512).map { UInt8($0 % 256) }
        for container in [Container.wav, .raw] {
            let path = scratch.file("g.\(container.rawValue)")
            let writer = try SoundFileWriter(path: path, container: container, encoding: encoding, sampleRate: 8000)
            try codes.withUnsafeBufferPointer { try writer.write(encoded: $0) }
            try writer.commit()
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(Array(bytes.suffix(512)) == codes)
            if container == .raw { #expect(bytes.count == 512) }
            let reader = container == .raw
                ? try SoundFileReader(path: path, raw: RawLayout(encoding: encoding, sampleRate: 8000))
                : try SoundFileReader(path: path)
            #expect(reader.info.frames == 512)
            #expect(reader.info.encoding == (encoding == .ulaw ? "U-Law" : "A-Law"))
        }
    }

    @Test("discarding, or releasing without commit, leaves no file")
    func discardLeavesNothing() throws {
        let scratch = try Scratch()
        do {
            let writer = try SoundFileWriter(path: scratch.file("x.wav"), container: .wav, encoding: .pcm16, sampleRate: 8000)
            try ramp.withUnsafeBufferPointer { try writer.write($0) }
            #expect(scratch.contents.count == 1 && scratch.contents[0].hasSuffix(".partial"))
            writer.discard()
            #expect(scratch.contents.isEmpty)
        }
        do {
            let writer = try SoundFileWriter(path: scratch.file("y.wav"), container: .wav, encoding: .pcm16, sampleRate: 8000)
            try ramp.withUnsafeBufferPointer { try writer.write($0) }
        }
        #expect(scratch.contents.isEmpty)
    }

    @Test("committing over an existing file replaces it whole")
    func replacesExisting() throws {
        let scratch = try Scratch()
        let path = scratch.file("r.wav")
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        let writer = try SoundFileWriter(path: path, container: .wav, encoding: .pcm16, sampleRate: 8000)
        try ramp.withUnsafeBufferPointer { try writer.write($0) }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old")
        try writer.commit()
        #expect(try SoundFileReader(path: path).info.frames == 3000)
    }

    @Test("errors are typed and carry libsndfile's message")
    func errors() throws {
        let scratch = try Scratch()
        let missing = #expect(throws: SoundFileError.self) { try SoundFileReader(path: scratch.file("none.wav")) }
        #expect(missing?.kind == .system && missing?.operation == .open)
        #expect(missing?.description.contains("No such file or directory") == true)

        try Data("this is not audio at all, just some text".utf8).write(to: URL(fileURLWithPath: scratch.file("text.wav")))
        let notAudio = #expect(throws: SoundFileError.self) { try SoundFileReader(path: scratch.file("text.wav")) }
        #expect(notAudio?.kind == .unrecognisedFormat)

        let noFolder = #expect(throws: SoundFileError.self) {
            try SoundFileWriter(path: scratch.file("no/such/folder/o.wav"), container: .wav, encoding: .pcm16, sampleRate: 8000)
        }
        #expect(noFolder?.kind == .system)

        let flacULaw = #expect(throws: SoundFileError.self) {
            try SoundFileWriter(path: scratch.file("o.flac"), container: .flac, encoding: .ulaw, sampleRate: 8000)
        }
        #expect(flacULaw?.kind == .unsupportedEncoding)
        #expect(scratch.contents == ["text.wav"])
    }

    @Test("a WAV cut short is refused as truncated, not read short")
    func truncated() throws {
        let scratch = try Scratch()
        let path = scratch.file("t.wav")
        let writer = try SoundFileWriter(path: path, container: .wav, encoding: .pcm16, sampleRate: 8000)
        try ramp.withUnsafeBufferPointer { try writer.write($0) }
        try writer.commit()
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        try whole.prefix(whole.count - 1001).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: SoundFileError.self) { try SoundFileReader(path: path) }
        #expect(error?.kind == .truncated)
        #expect(error?.description.contains("truncated") == true)
        // A header cut inside the format chunk is malformed, not readable.
        try whole.prefix(30).write(to: URL(fileURLWithPath: path))
        #expect(throws: SoundFileError.self) { try SoundFileReader(path: path) }
    }
}

@Test("a writer removes the temporary files a killed writer left for the same target, and only those")
func staleTemporariesRemoved() throws {
    let scratch = try Scratch()
    // A process id that is not running (the kernel's pid_max is below 2^22).
    let dead = scratch.file(".out.wav.4194304-abc.partial"), live = scratch.file(".out.wav.\(getpid())-def.partial")
    let other = scratch.file(".other.wav.4194304-abc.partial")
    for path in [dead, live, other] { FileManager.default.createFile(atPath: path, contents: Data("x".utf8)) }
    let writer = try SoundFileWriter(path: scratch.file("out.wav"), container: .wav, encoding: .pcm16, sampleRate: 8000)
    try [Int16](repeating: 0, count: 80).withUnsafeBufferPointer { try writer.write($0) }
    try writer.commit()
    #expect(scratch.contents == [".other.wav.4194304-abc.partial", ".out.wav.\(getpid())-def.partial", "out.wav"])
}
