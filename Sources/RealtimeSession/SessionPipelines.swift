import RealtimeAudio

// MARK: - The audio pipelines a session's settings describe

extension Session {
    /// The rate of the model's pcm16 on the way in: ``inputAudioRate`` (16 or 24 kHz) for a pcm16 session; a G.711
    /// session's client audio is decoded to pcm16 at the API's default 24 kHz.
    public var modelInputRate: SampleRate { inputAudioFormat == .pcm16 ? inputAudioRate : InboundAudio.defaultModelRate }

    /// The rate of the model's pcm16 on the way out, as ``modelInputRate``.
    public var modelOutputRate: SampleRate { outputAudioFormat == .pcm16 ? outputAudioRate : OutboundAudio.defaultModelRate }

    /// The server VAD settings the inbound pipeline runs with, and a note when they are not what the session
    /// literally asked for (semantic_vad: this core's detector is energy-based).
    ///
    /// - Throws: `PipelineError/turnDetection(_:)` for a setting the detector refuses: a session built in code
    ///   can hold any value, and turn detection must fail loudly rather than turn off.
    public func detectorSettings() throws(PipelineError) -> (configuration: ServerVADConfiguration?, idleTimeoutMs: Int?, note: String?) {
        do throws(ServerVADError) {
            switch turnDetection {
            case nil:
                return (nil, nil, nil)
            case .serverVAD(let s)?:
                let configuration = try ServerVADConfiguration(threshold: s.threshold, prefixPaddingMs: s.prefixPaddingMs,
                                                               silenceDurationMs: s.silenceDurationMs)
                return (configuration, s.idleTimeoutMs, nil)
            case .semanticVAD(let eagerness, _, _, _)?:
                // Eagerness is how soon the model answers: here, how long a silence ends the turn.
                let silence = switch eagerness {
                case .low: 1000
                case .medium, .auto: ServerVADConfiguration.default.silenceDurationMs
                case .high: 250
                }
                let d = ServerVADConfiguration.default
                let configuration = try ServerVADConfiguration(threshold: d.threshold, prefixPaddingMs: d.prefixPaddingMs, silenceDurationMs: silence)
                return (configuration, nil, "turn_detection.type semantic_vad: this core's detector is energy-based (server_vad); eagerness \(eagerness.rawValue) runs it with silence_duration_ms \(silence)")
            }
        } catch {
            throw .turnDetection(error)
        }
    }

    /// What the pipelines do not do that the session asks for, one line each (for a gateway's log or
    /// `rtaudio session run`'s stderr): semantic turn detection and noise reduction.
    public func pipelineNotes() throws(PipelineError) -> [String] {
        var notes: [String] = []
        if let note = try detectorSettings().note { notes.append(note) }
        if let reduction = inputAudioNoiseReduction {
            notes.append("noise_reduction \(reduction.rawValue): carried into the inbound pipeline's configuration, but this version has no noise-reduction stage: the audio is not denoised")
        }
        return notes
    }

    /// The caller-to-model pipeline for this session: the client's audio (the session's input format unless
    /// `clientFormat` says otherwise, as a carrier leg does) -> pcm16 at ``modelInputRate``, with the session's
    /// `turn_detection` and `noise_reduction` (carried, not run: `InboundAudio/reducesNoise`).
    ///
    /// - Parameters:
    ///   - inputRate: the client's rate when it is not the format's (for pcm16: the session's) rate.
    ///   - clientFormat: what the client sends, when it is not the session's input format (a Twilio leg: µ-law).
    ///   - echoThresholdBoost: how much the threshold rises while our own audio plays (see `InboundAudio`).
    ///   - concealment: conceal lost packets with G.711 Appendix I repetition (a carrier leg with gaps).
    /// - Throws: `PipelineError` for a rate or detector setting the pipeline cannot take.
    public func makeInbound(inputRate: SampleRate? = nil, clientFormat: AudioFormat? = nil, echoThresholdBoost: Double = 0.2,
                            concealment: Bool = false) throws(PipelineError) -> InboundAudio {
        let detector = try detectorSettings()
        let format = clientFormat ?? inputAudioFormat
        let rate = inputRate ?? (format == .pcm16 && clientFormat == nil ? inputAudioRate : format.defaultSampleRate)
        return try InboundAudio(format: format, inputRate: rate, turnDetection: detector.configuration,
                                idleTimeoutMs: detector.idleTimeoutMs, echoThresholdBoost: echoThresholdBoost,
                                concealment: concealment, modelRate: modelInputRate, noiseReduction: inputAudioNoiseReduction)
    }

    /// The model-to-caller pipeline for this session: pcm16 at ``modelOutputRate`` -> `speed` -> the client's format
    /// (the session's output format unless `clientFormat` says otherwise) at `clientRate`.
    ///
    /// - Throws: `PipelineError` for a rate the pipeline cannot take.
    public func makeOutbound(clientRate: SampleRate? = nil, clientFormat: AudioFormat? = nil) throws(PipelineError) -> OutboundAudio {
        let format = clientFormat ?? outputAudioFormat
        let rate = clientRate ?? (format == .pcm16 && clientFormat == nil ? outputAudioRate : format.defaultSampleRate)
        return try OutboundAudio(format: format, clientRate: rate, speed: speed, modelRate: modelOutputRate)
    }
}
