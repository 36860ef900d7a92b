import Foundation
@testable import GatewayHarness
import NIOCore
import Testing

@Suite("Harness files")
struct HarnessFileTests {
    /// `gateway-harness demo` writes caller.wav, heard.wav and call.svg into --out, and refuses when one of them is
    /// its --wav or --reply: the test that decides it.
    @Test("one file under several names is the same file; two files, or a missing one, are not")
    func sameFileThroughLinks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("harness-files-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = dir + "/a.wav", b = dir + "/b.wav"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: a))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: b))
        try FileManager.default.createSymbolicLink(atPath: dir + "/soft.wav", withDestinationPath: a)
        try FileManager.default.linkItem(atPath: a, toPath: dir + "/hard.wav")
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: false)
        #expect(sameFile(a, a))
        #expect(sameFile(a, dir + "/sub/../a.wav"))
        #expect(sameFile(a, dir + "/soft.wav"))
        #expect(sameFile(a, dir + "/hard.wav"))
        #expect(!sameFile(a, b))
        #expect(!sameFile(a, dir + "/missing.wav"))
    }
}

@Suite("The fake carrier's readers and writers")
struct CarrierTextTests {
    @Test("a pacer mark's name gives its response and sample; any other name none")
    func pacerMarks() {
        #expect(pacerMark("rtaudio:3:4800")! == (3, 4800) && pacerMark("rtaudio:0:0")! == (0, 0))
        for name in ["rtaudio:3", "rtaudio:3:", "rtaudio::5", "x:1:2", "rtaudio:1:2:3", "rtaudio:a:2", "rtaudio:1:2 ", "", "rtaudio:-1:2"] {
            #expect(pacerMark(name) == nil, "\(name)")
        }
    }

    @Test("integers are written in decimal, whatever their size")
    func decimals() {
        for value in [0, 7, 10, 99, 100, 123_456_789, Int.max] {
            var buffer = ByteBuffer()
            buffer.writeDecimal(value)
            #expect(buffer.readString(length: buffer.readableBytes) == String(value))
        }
    }
}
