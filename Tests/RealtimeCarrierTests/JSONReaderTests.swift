import Testing
@testable @_spi(JSONReading) import RealtimeCarrier

/// The string reader skips plain ASCII 16 bytes at a time: whatever ends or breaks a string must be found at its
/// own byte wherever it falls against those blocks.
@Suite struct JSONReaderStringTests {
    /// Reads one string from `bytes`: its end and whether it had escapes, or the error.
    func read(_ bytes: [UInt8]) -> Result<(end: Int, escaped: Bool), JSONError> {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONReader(buffer)
            do throws(JSONError) {
                let s = try reader.readString()
                return .success((s.end, s.hasEscapes))
            } catch { return .failure(error) }
        }
    }

    @Test("a quote, an escape, a control character, UTF-8 and a bad byte at every offset of a long run")
    func everyOffset() {
        let quote = UInt8(ascii: "\"")
        for k in 0..<40 {
            let run = [UInt8](repeating: UInt8(ascii: "A"), count: k)
            for m in [0, 1, 15, 16, 17, 33] {
                let tail = [UInt8](repeating: UInt8(ascii: "z"), count: m)
                // Ends at its closing quote, whatever follows.
                let plain = read([quote] + run + tail + [quote] + tail + [quote])
                #expect(plain.map { $0.end } == .success(1 + k + m) && plain.map { $0.escaped } == .success(false))
                // An escaped quote does not end it; the escape is noted.
                let escaped = read([quote] + run + Array(#"\""#.utf8) + tail + [quote])
                #expect(escaped.map { $0.end } == .success(1 + k + 2 + m) && escaped.map { $0.escaped } == .success(true))
                // Two-, three- and four-byte UTF-8 pass.
                for scalar in ["é", "€", "😀"] {
                    let bytes = Array(scalar.utf8)
                    #expect(read([quote] + run + bytes + tail + [quote]).map { $0.end } == .success(1 + k + bytes.count + m))
                }
                // A raw control character, a byte that is not UTF-8, a bad escape: refused at that byte.
                #expect(read([quote] + run + [0x0A] + tail + [quote]).map { $0.end } == .failure(JSONError(offset: 1 + k, kind: .controlCharacter)))
                #expect(read([quote] + run + [0xFF] + tail + [quote]).map { $0.end } == .failure(JSONError(offset: 1 + k, kind: .badUTF8)))
                if case .failure(let e) = read([quote] + run + Array(#"\q"#.utf8) + tail + [quote]) {
                    #expect(e.kind == .badEscape && (1 + k...2 + k).contains(e.offset), "\(e)")
                } else { Issue.record("a bad escape after \(k) bytes was taken") }
                // No closing quote: truncated at the end of the message.
                #expect(read([quote] + run + tail).map { $0.end } == .failure(JSONError(offset: 1 + k + m, kind: .truncated)))
            }
        }
    }
}
