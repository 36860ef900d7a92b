import Foundation
import RealtimeAudio
import SoundFile
import Testing

@Suite("rtaudio session validate and run")
struct SessionCLITests {
    @Test("validate prints the normalized document, warns about unknown fields, exits 0")
    func validSession() throws {
        let scratch = try Scratch()
        try Data(#"{"voice":"alloy","speed":1.25,"x_note":"kept"}"#.utf8).write(to: URL(fileURLWithPath: scratch.file("s.json")))
        let r = try CLI.run("session", "validate", scratch.file("s.json"))
        #expect(r.status == 0)
        #expect(r.stdout.contains("\"silence_duration_ms\": 500") && r.stdout.contains("\"speed\": 1.25") && r.stdout.contains("\"x_note\": \"kept\""))
        #expect(r.stderr == "rtaudio: warning: x_note: unknown field (kept as is)\n")
    }

    @Test("validate lists every violation with its path and exits 1")
    func invalidSession() throws {
        let scratch = try Scratch()
        try Data(#"{"turn_detection":{"type":"server_vad","threshold":1.3},"output_audio_format":"mp3","speed":2}"#.utf8)
            .write(to: URL(fileURLWithPath: scratch.file("s.json")))
        let r = try CLI.run("session", "validate", scratch.file("s.json"))
        #expect(r.status == 1 && r.stdout.isEmpty)
        #expect(r.stderr == """
            rtaudio: invalid: output_audio_format: 'mp3' is not one of pcm16, g711_ulaw, g711_alaw
            rtaudio: invalid: turn_detection.threshold: 1.3 is outside 0...1
            rtaudio: invalid: speed: 2 is outside 0.25...1.5

            """)
    }

    @Test("assistants against registered presets, and realtime responses")
    func assistantKinds() throws {
        let scratch = try Scratch()
        try Data(#"{"generation_config":"voice","generation_config_pretools":"mini","description":"Desk","system_prompt":"Hi","temperature":0.5}"#.utf8)
            .write(to: URL(fileURLWithPath: scratch.file("a.json")))
        let ok = try CLI.run("session", "validate", scratch.file("a.json"), "--kind", "assistant",
                             "--generation-config", "voice", "--generation-config", "mini")
        #expect(ok.status == 0 && ok.stderr.isEmpty, "\(ok.stderr)")
        let unknown = try CLI.run("session", "validate", scratch.file("a.json"), "--kind", "assistant", "--generation-config", "voice")
        #expect(unknown.status == 1 && unknown.stderr.contains("generation_config_pretools: 'mini' is not a registered generation config (voice)"))
        try Data(#"{"assistant":{"generation_config":"voice","generation_config_pretools":"mini","description":"Desk","system_prompt":"Hi","temperature":0.5,"id":3},"chat_id":"c1","model":"m","system_prompt":"p"}"#.utf8)
            .write(to: URL(fileURLWithPath: scratch.file("r.json")))
        let response = try CLI.run("session", "validate", scratch.file("r.json"), "--kind", "realtime-response")
        #expect(response.status == 0, "\(response.stderr)")
        // A document without the required fields fails as a request and passes as a partial update.
        try Data(#"{"generation_config":"voice"}"#.utf8).write(to: URL(fileURLWithPath: scratch.file("p.json")))
        let whole = try CLI.run("session", "validate", scratch.file("p.json"), "--kind", "assistant")
        #expect(whole.status == 1 && whole.stderr.contains("rtaudio: invalid: system_prompt: is required\n")
                && whole.stderr.contains("rtaudio: invalid: temperature: is required\n") && whole.stderr.contains("rtaudio: invalid: description: is required\n"))
        let patch = try CLI.run("session", "validate", scratch.file("p.json"), "--kind", "assistant", "--partial")
        #expect(patch.status == 0, "\(patch.stderr)")
    }

    @Test("validate --shape and convert between the beta and the GA shape")
    func shapes() throws {
        let scratch = try Scratch()
        let beta = #"{"input_audio_format":"g711_ulaw","turn_detection":{"type":"server_vad","silence_duration_ms":700},"speed":1.25,"temperature":1.1}"#
        try Data(beta.utf8).write(to: URL(fileURLWithPath: scratch.file("beta.json")))
        let ga = try CLI.run("session", "convert", scratch.file("beta.json"), "--to", "ga")
        #expect(ga.status == 0)
        #expect(ga.stderr == "rtaudio: warning: temperature: the GA session has no temperature: 1.1 is dropped\n")
        #expect(ga.stdout.contains("\"type\": \"realtime\"") && ga.stdout.contains("\"type\": \"audio/pcmu\"") && ga.stdout.contains("\"silence_duration_ms\": 700"))
        let strict = try CLI.run("session", "convert", scratch.file("beta.json"), "--to", "ga", "--strict")
        #expect(strict.status == 1 && strict.stdout.isEmpty && strict.stderr.hasPrefix("rtaudio: cannot convert: temperature"))
        try Data(ga.stdout.utf8).write(to: URL(fileURLWithPath: scratch.file("ga.json")))
        let validGA = try CLI.run("session", "validate", scratch.file("ga.json"), "--shape", "ga")
        #expect(validGA.status == 0 && validGA.stdout == ga.stdout, "\(validGA.stderr)")
        let back = try CLI.run("session", "convert", scratch.file("ga.json"), "--to", "beta")
        #expect(back.status == 0 && back.stderr.isEmpty && back.stdout.contains("\"input_audio_format\": \"g711_ulaw\""))
        // A GA document read as beta: its GA members are named.
        let asBeta = try CLI.run("session", "validate", scratch.file("ga.json"), "--shape", "beta")
        #expect(asBeta.status == 1 && asBeta.stderr.contains("rtaudio: invalid: audio: is a GA session member: this document is read as the beta shape\n"))
        let badShape = try CLI.run("session", "validate", scratch.file("ga.json"), "--shape", "gamma")
        #expect(badShape.status == 1 && badShape.stderr.contains("unknown shape 'gamma'"))
    }

    @Test("bad documents and options: one clear line, exit 1", arguments: [
        (["session", "validate", "{dir}/broken.json"], "not valid JSON at byte 11: expected a member name in quotes"),
        (["session", "validate", "{dir}/missing.json"], "cannot read '{dir}/missing.json'"),
        (["session", "validate", "{dir}/broken.json", "--kind", "robot"], "unknown --kind 'robot'"),
        (["session", "run", "{dir}/bad.json", "--input", "{dir}/in.wav"], "speed: 9 is outside 0.25...1.5"),
        (["session", "run", "{dir}/good.json", "--input", "{dir}/in.wav", "--reply", "{dir}/in.wav"], "--reply and --output go together"),
        (["session", "run", "{dir}/good.json", "--input", "{dir}/nothing.wav"], "No such file or directory"),
    ])
    func badInput(arguments: [String], message: String) throws {
        let scratch = try Scratch()
        try Data(#"{"speed":1,"#.utf8).write(to: URL(fileURLWithPath: scratch.file("broken.json")))
        try Data(#"{"speed":9}"#.utf8).write(to: URL(fileURLWithPath: scratch.file("bad.json")))
        try Data(#"{}"#.utf8).write(to: URL(fileURLWithPath: scratch.file("good.json")))
        try writeWAV(scratch.file("in.wav"), voiceLike(seconds: 0.3, rate: 8000), rate: 8000)
        let r = try CLI.run(arguments.map { $0.replacingOccurrences(of: "{dir}", with: scratch.path) })
        #expect(r.status == 1)
        #expect(r.stderr.contains(message.replacingOccurrences(of: "{dir}", with: scratch.path)), "\(r.stderr)")
        #expect(r.stderr.hasPrefix("rtaudio: "))
    }

    @Test("run at a 16 kHz model rate (GA shape): the caller's audio reaches the model at 16 kHz, the reply is taken at 16 kHz")
    func run16k() throws {
        let scratch = try Scratch()
        let quiet = [Float](repeating: 0, count: 16000)
        try writeWAV(scratch.file("caller.wav"), quiet + voiceLike(seconds: 1.2, rate: 16000, amplitude: 0.3) + quiet, rate: 16000)
        try writeWAV(scratch.file("model.wav"), voiceLike(seconds: 1.5, rate: 16000, amplitude: 0.3), rate: 16000)
        try Data(#"{"type":"realtime","audio":{"input":{"format":{"type":"audio/pcm","rate":16000},"noise_reduction":{"type":"near_field"}},"output":{"format":{"type":"audio/pcm","rate":16000},"speed":1.5}}}"#.utf8)
            .write(to: URL(fileURLWithPath: scratch.file("s.json")))
        let r = try CLI.run("session", "run", scratch.file("s.json"), "--input", scratch.file("caller.wav"),
                            "--reply", scratch.file("model.wav"), "--output", scratch.file("reply.wav"))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("noise_reduction near_field") && r.stderr.contains("not denoised"))
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("{\"type\":\"input_audio_buffer.speech_started\"") == true)
        #expect(lines.contains("{\"type\":\"input_audio_buffer.committed\",\"audio_ms\":3200}"))
        #expect(lines.last?.hasPrefix("{\"type\":\"response.audio.done\",\"model_audio_ms\":1500,\"speed\":1.5,\"client_samples\":16000") == true)
        let reply = try SoundFileReader(path: scratch.file("reply.wav"))
        #expect(reply.info.sampleRate == 16000 && reply.info.frames == 16000)
    }

    @Test("run: the caller's events are the detector's on the wire audio; the reply is spoken at the session's speed")
    func run() throws {
        let scratch = try Scratch()
        let quiet = [Float](repeating: 0, count: 8000)
        let caller = quiet + voiceLike(seconds: 1.2, rate: 8000, amplitude: 0.3) + quiet + quiet
        try writeWAV(scratch.file("caller.wav"), caller, rate: 8000)
        try writeWAV(scratch.file("model.wav"), voiceLike(seconds: 1.5, rate: 24000, amplitude: 0.3), rate: 24000)
        try Data(#"{"input_audio_format":"g711_ulaw","output_audio_format":"g711_ulaw","speed":1.25}"#.utf8)
            .write(to: URL(fileURLWithPath: scratch.file("s.json")))
        let r = try CLI.run("session", "run", scratch.file("s.json"), "--input", scratch.file("caller.wav"),
                            "--reply", scratch.file("model.wav"), "--output", scratch.file("reply.ulaw"))
        #expect(r.status == 0, "\(r.stderr)")
        // The same audio as the caller's µ-law, through the detector alone.
        try writeWAV(scratch.file("wire.wav"), G711.muLaw.decodeFloat(G711.muLaw.encode(caller)), rate: 8000)
        let offline = try CLI.run("vad", scratch.file("wire.wav"))
        let expected = offline.stdout.split(separator: "\n").map { $0.replacingOccurrences(of: #",\"emitted_at_ms\":\d+"#, with: "", options: .regularExpression) }
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(Array(lines.prefix(2)) == expected)
        #expect(lines[2] == "{\"type\":\"input_audio_buffer.committed\",\"audio_ms\":4200}")
        #expect(lines[3].hasPrefix("{\"type\":\"response.audio.done\",\"model_audio_ms\":1500,\"speed\":1.25,\"client_samples\":9600"))
        #expect(try bytes(scratch.file("reply.ulaw")).count == 9600)   // 1.5 s / 1.25 at 8 kHz
    }
}
