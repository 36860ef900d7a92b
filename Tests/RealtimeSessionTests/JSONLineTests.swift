import Testing
import RealtimeAudio
import RealtimeSession

@Suite("JSONLine, the events' one encoder")
struct JSONLineTests {
    @Test("every line reads back as the values written: escapes, non-ASCII, numbers, non-finite as null")
    func roundTrip() throws {
        var line = JSONLine(type: "stats")
        let nasty = "quote \" backslash \\ newline \n tab \t bell \u{7} nul \u{0} é 🎙"
        line.add("text", nasty)
        line.add("count", -42)
        line.add("ratio", 0.8)
        line.add("whole", 500.0)
        line.add("tiny", 1e-7)
        line.add("nan", Double.nan)
        line.add("inf", -Double.infinity, decimals: 3)
        line.add("cpu_s", 0.1234567, decimals: 3)
        line.add("negative", -0.0004, decimals: 3)
        line.add("rounded", 2.9996, decimals: 3)
        line.add("flag", true)
        line.add("inner", json: JSONLine(type: "x").text)
        let parsed = try JSONValue(parsing: line.text)
        #expect(!line.text.contains("\n"))
        #expect(parsed["type"] == .string("stats"))
        #expect(parsed["text"] == .string(nasty))
        #expect(parsed["count"] == .number("-42"))
        #expect(parsed["ratio"] == .number("0.8"))
        #expect(parsed["whole"] == .number("500"))
        #expect(parsed["tiny"] == .number("1e-07"))
        #expect(parsed["nan"] == .null && parsed["inf"] == .null)
        #expect(parsed["cpu_s"] == .number("0.123"))
        #expect(parsed["negative"] == .number("0.000"))
        #expect(parsed["rounded"] == .number("3.000"))
        #expect(parsed["flag"] == .bool(true))
        #expect(parsed["inner"]?["type"] == .string("x"))
    }

    @Test("the events' lines are the Realtime API's shapes")
    func events() throws {
        #expect(InboundEvent.timeoutTriggered(audioStartMs: 100, audioEndMs: 5100).json
                == #"{"type":"input_audio_buffer.timeout_triggered","audio_start_ms":100,"audio_end_ms":5100}"#)
        #expect(TurnEvent.speechStarted(audioStartMs: 1200, emittedAtMs: 1560).json
                == #"{"type":"input_audio_buffer.speech_started","audio_start_ms":1200,"emitted_at_ms":1560}"#)
        #expect(TurnEvent.speechStopped(audioEndMs: 2000, emittedAtMs: 2010).json
                == #"{"type":"input_audio_buffer.speech_stopped","audio_end_ms":2000,"emitted_at_ms":2010}"#)
    }
}
