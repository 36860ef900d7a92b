import RealModule

/// Energy-based turn detection with the Realtime API's `server_vad` knobs and events.
///
/// How it decides, one 10 ms frame at a time:
/// 1. **Band energies.** The input is brought to an 8-16 kHz analysis rate and split into eight band-pass
///    bands from 150 Hz to 3.7 kHz: DC, hum fundamentals and rumble below speech, and hiss above the telephone
///    band never count. The same bands at every input rate, each rate brought to 8 kHz through the same 4 kHz cut
///    and delayed alike, make 8, 16, 24 and 48 kHz streams decide alike: on the real-voice set, 855 of 856 turns at
///    8 kHz and all at 24 kHz start and end within 20 ms of the 16 kHz ones (94 % at 8 kHz with a shorter filter
///    whose delay the 8 kHz path lacked).
/// 2. **Adaptive noise floor** per band: it falls quickly to quieter frames and rises slowly (a few dB per
///    second while the frame looks like noise, far slower while it looks like speech), so it follows noise that
///    creeps up but not a talker.
/// 3. **Score and probability.** The frame's score is the mean of its three best band signal-to-floor ratios in
///    dB; the speech probability is `1 / (1 + exp(-(score - 9 dB) / 3.3 dB))`.
/// 4. **Hysteresis and confirmation.** A turn starts when the probability reaches `threshold` on
///    ``Tuning/confirmationFrames`` frames in a row (a click is one frame, so it starts nothing); the onset is then
///    traced back over the frames just before it that were clearly above the floor. A turn goes on while frames
///    stay above a score 6 dB lower, two in a row (``Tuning/continueFrames``: a lone noise peak in a pause does
///    not hold a turn open), and ends after `silence_duration_ms` without them.
/// 5. **The masked tail.** In noise the end of each word (a vowel decaying, a weak final consonant) sinks under
///    the floor before it ends: on human speech at 10 dB SNR the last 100-250 ms of a clearly voiced clip is
///    invisible to an energy detector. Callers pause 100-400 ms inside a turn (spelling, reading a code), so
///    without a correction the turn ends inside the pause. The detector places the end of speech later by
///    ``Tuning/tailMsPerDB`` per dB the turn's peak score falls short of a clean turn's
///    (``Tuning/tailReferenceDB``), at most ``Tuning/tailMaximumMs``: nothing in clean speech, more the
///    noisier the call. `audio_end_ms` includes it, so it stays the end of speech plus `silence_duration_ms`.
/// 6. **Steady sound is noise.** Speech swings its level by 10 dB or more several times a second; a sound that
///    holds a turn at a steady level (within ``Tuning/stationaryRangeDB`` for ``Tuning/stationaryFrames``
///    frames) is noise that has just started (a line connecting, a fan switching on, noise stepping up): the
///    floor moves up to it at once and the turn ends where the steady sound began.
/// 7. **Other voices are noise with peaks.** Between turns the detector tracks where the noise's own scores
///    reach (their 90th percentile, ``Tuning/noiseQuantile``), and how much the noise's ~100 ms level swings around
///    its ~1 s level. Steady noise swings by well under a decibel; distant talkers (babble, a television) swing by
///    several, syllable after syllable, and their peaks would hold a turn open through every pause and start
///    turns of their own. While the swing is at least ``Tuning/noiseSwingDB``, a turn starts only
///    ``Tuning/noisePeakStartDB`` above those peaks and goes on only above them (``Tuning/noisePeakContinueDB``).
///    It is not learnt while the echo gate is set (our reply's echo is speech too) and learns faster in the
///    stream's first half second (babble there from the first frame).
/// 8. **The floor is never far below the quietest moment** (minimum statistics, after R. Martin, 2001). A caller
///    pauses within any few seconds, and in a pause each band falls to the noise; so each band's floor is kept at
///    least at its quietest smoothed level over the last ``Tuning/minimumWindowFrames`` (4 s). This lifts a floor
///    left behind where the rules above cannot: fluctuating noise (other voices) that the noise's peaks keep from
///    starting turns but that reads as speech to the floor, which then crept up at the speech rate.
///
/// Measured on human voices (`../shared/vad-dev/make_real_dev.py`, 16 kHz, defaults; pooled strict F1 over
/// stationary and rising noise at 20/10/5 dB): 0.88 with cues 1-4 only; the masked tail alone 0.95 (splits
/// 54 -> 9, merges 1 -> 11); with the two-frame continuation 0.97 (merges 0); clean 1.00, level sweep 1.00, no
/// false turns. The steady-sound rule changes none of those and ends a false turn on noise that starts after
/// digital silence within 0.9-1.2 s of its onset instead of 12-17 s. The noise's peaks take babble at 20 and
/// 10 dB from 0.11 to 0.69 (merges 20 -> 9) and change no stationary cell; on the synthetic set babble at 20 dB
/// goes from 0.18 to 0.77 and nothing else moves. The quietest-moment bound takes babble's false turns from 0.40
/// to 0.18 per minute and its merges from 9 to 5 (strict F1 0.69 -> 0.67, splits 2 -> 4) and moves no other
/// cell of either set. The 4 kHz anti-alias cut with its rate-independent delay (cue 1) moves stationary and
/// rising noise from 0.970 to 0.972 and 5 dB from 0.966 to 0.974; babble from 0.67 to 0.63 (one merge more,
/// its false turns stay at 0.18 per minute); the synthetic set stays at 0.93.
///
/// Known limit: a stream that starts among other talkers (babble from the first frame, before the detector has
/// heard the line without them) starts a turn on them, and as nothing is learnt inside a turn, a fluctuating
/// noise holds it until the floor catches up (seconds to tens of seconds); an energy detector cannot tell a
/// talker who speaks first from talkers who were there first.
///
/// Events follow the API: `speech_started` carries `audio_start_ms` = onset − `prefix_padding_ms` (clamped at
/// 0), `speech_stopped` carries `audio_end_ms` = end of the last speech frame + `silence_duration_ms`. The
/// detector keeps the last `prefix_padding_ms` plus a few hundred milliseconds of input, so at `speech_started`
/// ``copyTurnAudio(into:)`` hands over the turn's audio from `audio_start_ms` on: the model hears the first
/// syllable.
///
/// Streaming is exact: ``process(_:)`` stops right after a frame that fires an event (so the pre-roll is still
/// there when the caller handles it) and otherwise takes all its input; any chunking gives the same events.
///
/// Documented behaviour on hard input: NaN and ±infinity count as 0 (silence); DC and anything below 150 Hz is
/// invisible; a full-scale square wave is a loud broadband signal that starts a turn; being steady, it is taken
/// for noise after ``Tuning/stationaryFrames`` and its turn ends. Silence of any length keeps the
/// floor at ``Tuning/floorMinimumDB`` and starts nothing. A loud steady noise that starts inside a turn ends it
/// once it has been steady for ``Tuning/stationaryFrames``; a fluctuating one keeps it going until the floor
/// has caught up (``Tuning/floorRiseLongTurn`` after ``Tuning/longTurnFrames``).
///
/// An ``AudioStream`` from `Float` samples to ``TurnEvent``s (``process(_:into:)``): the conventions there hold;
/// ``process(_:events:)`` hands each event over at the frame that fired it. One instance per stream;
/// not shared between threads. `process` allocates nothing: every buffer is sized at `init` from the configuration.
public struct ServerVAD: AudioStream {
    /// The detector's inner constants; the defaults are what the published figures were measured with.
    public struct Tuning: Sendable, Equatable {
        /// Score in dB at which the speech probability is 0.5.
        public var centreDB: Double = 9
        /// dB of score per unit of logit: the probability's slope.
        public var slopeDB: Double = 3.3
        /// How much lower a score keeps a turn going than starts one, in dB.
        public var hysteresisDB: Double = 6
        /// Frames in a row above the start level that start a turn.
        public var confirmationFrames: Int = 3
        /// How many frames before the confirmed run the onset may be traced back.
        public var backtrackFrames: Int = 10
        /// Score above which a frame before the run still counts as part of the onset, in dB.
        public var backtrackDB: Double = 4
        /// Fraction of the distance to a much quieter frame that the floor falls per frame.
        public var floorFall: Double = 0.15
        /// How far below the floor a frame must be for the quick fall, in dB.
        public var fastFallDB: Double = 6
        /// dB per frame the floor falls under a quieter frame.
        public var floorStepDown: Double = 0.1
        /// dB per frame the floor rises under a frame that looks like noise.
        public var floorRiseNoise: Double = 0.05
        /// dB per frame the floor rises under a frame that looks like speech.
        public var floorRiseSpeech: Double = 0.004
        /// Frames after which a turn counts as long, and the floor rises faster under it.
        public var longTurnFrames: Int = 300
        /// dB per frame the floor rises under a long turn.
        public var floorRiseLongTurn: Double = 0.02
        /// The lowest floor, in dB relative to full scale: quieter bands count as this quiet.
        public var floorMinimumDB: Double = -84
        /// Band SNRs above this many dB count as this many (one loud band should not outweigh the rest).
        public var bandSNRCeilingDB: Double = 30
        /// How far above the continue level a frame still counts as noise for the floor, in dB.
        public var noiseMarginDB: Double = 3
        /// Per-frame smoothing of the band powers the floor follows (0: none).
        public var floorSmoothing: Double = 0.9
        /// How many of the best bands (1 ... 8) make the score.
        public var scoreBands: Int = 3
        /// Inside a turn, a frame this far (dB) below the turn's own recent peak score no longer counts as speech,
        /// even above the continue level (0: off, the default: on human voices it split turns whose later words
        /// were quieter, 46 splits against 55 with it at 22 dB, and it did not hold babble back).
        public var relativeDropDB: Double = 0
        /// dB per frame the turn's peak score decays.
        public var peakDecayDB: Double = 0.02
        /// The masked tail: a turn whose peak score is below this (dB) has speech after its last detected frame
        /// that the noise hides (a vowel decaying under it); its end is placed later by ``tailMsPerDB`` per dB
        /// short of it (0: off).
        public var tailReferenceDB: Double = 30
        /// Milliseconds of masked tail per dB the turn's peak score is short of ``tailReferenceDB``.
        public var tailMsPerDB: Double = 14
        /// The longest masked tail, in ms.
        public var tailMaximumMs: Double = 250
        /// Frames in a row above the continue level that hold a turn (1: any frame): a lone noise peak in a
        /// pause does not.
        public var continueFrames: Int = 2
        /// Stationary sound is not speech: inside a turn, when a sound that holds the turn has stayed within
        /// ``stationaryRangeDB`` (its level smoothed over about 100 ms) for this many frames, the sound is taken for noise that has just started (a
        /// line connecting, a fan switching on) and the floor moves up to it at once (0: off). Speech is never
        /// that steady: syllables swing its level by 10 dB or more several times a second.
        public var stationaryFrames: Int = 80
        /// The largest swing of the smoothed level (dB, around where the steady run began) that counts as steady.
        public var stationaryRangeDB: Double = 4
        /// Which quantile of the scores between turns the detector tracks as the noise's own peaks (0 ... 1).
        public var noiseQuantile: Double = 0.9
        /// dB per frame the noise-peak tracker moves (0: off).
        public var noiseQuantileStepDB: Double = 0.5
        /// A frame keeps a turn going only this far above the noise's peaks (dB).
        public var noisePeakContinueDB: Double = 0
        /// A frame starts a turn only this far above the noise's peaks (dB).
        public var noisePeakStartDB: Double = 3
        /// The noise-peak levels apply only while the noise between turns swings (mean absolute deviation of its
        /// ~100 ms level from its ~1 s level) by at least this many dB: other voices do, steady noise does not
        /// (0: always).
        public var noiseSwingDB: Double = 1.25
        /// Frames from the stream's start over which the noise trackers learn four to five times faster.
        public var noiseWarmupFrames: Int = 50
        /// The window, in frames, over which each band's quietest smoothed level bounds its floor from below (0: off;
        /// below 4 it is off too, as the window is kept as four sub-windows).
        public var minimumWindowFrames: Int = 400
        /// How far below that quietest level the floor may sit, in dB.
        public var minimumBiasDB: Double = 0
        /// The defaults, with which every published figure was measured.
        public init() {}
    }

    /// What the detector made of one 10 ms frame, for meters and plots.
    public struct Frame: Sendable, Equatable {
        /// Frame number from the start of the stream; it covers `[10 index, 10 index + 10)` ms.
        public var index: Int
        /// Speech-band level: 10 log10 of the mean square of the band-passed signal, in dB relative to full scale.
        public var levelDB: Double
        /// The noise floor's level, on the same scale.
        public var noiseFloorDB: Double
        /// The frame's score: mean of the best band signal-to-floor ratios, in dB.
        public var scoreDB: Double
        /// Speech probability, 0 ... 1, from the score.
        public var probability: Double
        /// Whether the frame is inside a turn (after confirmation).
        public var inTurn: Bool
    }

    /// The API's settings the detector runs with (`threshold`, `prefix_padding_ms`, `silence_duration_ms`).
    public let configuration: ServerVADConfiguration
    /// The rate of the samples ``process(_:)`` takes.
    public let sampleRate: SampleRate
    /// The inner constants (the defaults unless a caller tunes them).
    public let tuning: Tuning

    private var analyzer: BandAnalyzer
    /// The score (dB) a frame needs to count toward a turn's start: `threshold` through the probability curve.
    public private(set) var startDB: Double
    /// The score (dB) that keeps a turn going: ``startDB`` minus the hysteresis.
    public private(set) var continueDB: Double
    /// The amount added to `threshold` for now (see ``setThresholdBoost(_:)``).
    public private(set) var thresholdBoost = 0.0
    /// The echo gate (dBFS), while set: a frame quieter than it cannot start a turn (see ``setEchoGate(_:)``).
    public private(set) var echoGateDB: Double?
    /// Whether the audio now being processed is concealment of lost packets (see ``setConcealed(_:)``).
    public private(set) var isConcealed = false

    // Noise floor per band, in dB; NaN before the first frame.
    private var floor = SIMD8<Double>(repeating: .nan)
    /// Band powers smoothed over a few frames, which the floor follows.
    private var smooth = SIMD8<Double>()

    /// Frames completed.
    private var frames = 0
    private var inTurn = false
    /// Frames in a row at or above the start level (before a turn).
    private var run = 0
    /// The turn's recent peak score (dB), decaying slowly.
    private var turnPeak = 0.0
    private var lastSpeechFrame = 0
    /// Frames of masked tail after `lastSpeechFrame` (see ``Tuning/tailReferenceDB``).
    private var tailFrames = 0
    /// Frames in a row at or above the continue level (inside a turn).
    private var keepRun = 0
    /// The stationarity check: the smoothed level where the present steady run began, and its length.
    private var steadyReference = 0.0
    private var steadyRun = 0
    /// The score averaged over a few frames, and its average on frames outside turns.
    private var turnStartFrame = 0
    /// The last scores, newest at `(frames - 1) % capacity`, for tracing an onset back.
    private var recentScores: [Double]

    // Pre-roll: the last input samples, in a ring.
    private var ring: [Float]
    private var ringWrite = 0
    /// Input samples taken since the start of the stream.
    private var samples = 0
    private var pendingTurnStartSample = 0

    // The last frame's raw figures; ``lastFrame`` turns them into dB only when someone asks.
    private var lastPower = 0.0
    /// The current frame's sum of squares so far (its level in dBFS, for the echo gate).
    private var frameSquares: Float = 0
    private var lastScore = 0.0
    /// The tracked upper quantile of the scores between turns: where the noise's own peaks reach.
    private var noisePeak = 0.0
    /// The noise's level over about a second, and how far its ~100 ms level strays from it on average (dB).
    private var noiseSlowDB = Double.nan
    private var noiseSwing = 0.0
    /// Minimum statistics: each band's quietest smoothed level in the sub-window in progress and in the last
    /// four completed ones.
    private var windowMinimum = SIMD8<Double>(repeating: .infinity)
    private var windowMinima: [SIMD8<Double>] = Array(repeating: SIMD8(repeating: .infinity), count: 4)

    /// The last frame's analysis (nil before the first frame completes).
    public var lastFrame: Frame? {
        guard frames > 0 else { return nil }
        var floorPower = 0.0
        for i in 0..<8 { floorPower += Double.exp10(floor[i] / 10) }
        return Frame(index: frames - 1, levelDB: 10 * Double.log10(lastPower + 1e-20),
                     noiseFloorDB: 10 * Double.log10(floorPower), scoreDB: lastScore,
                     probability: 1 / (1 + Double.exp(-(lastScore - tuning.centreDB) / tuning.slopeDB)), inTurn: inTurn)
    }

    /// Creates a detector for a stream at `sampleRate`.
    ///
    /// - Throws: ``ServerVADError/unsupportedRate(_:)`` below 8000 Hz or when 10 ms is not a whole number of
    ///   samples (8, 16, 24, 32, 44.1 and 48 kHz all work).
    /// - Complexity: allocates the pre-roll ring (`prefix_padding_ms` + 400 ms of samples).
    public init(sampleRate: SampleRate, configuration: ServerVADConfiguration = .default, tuning: Tuning = Tuning())
        throws(ServerVADError)
    {
        guard sampleRate.hertz >= 8000, sampleRate.hertz % 100 == 0 else { throw .unsupportedRate(sampleRate.hertz) }
        self.sampleRate = sampleRate
        self.configuration = configuration
        self.tuning = tuning
        analyzer = BandAnalyzer(rate: sampleRate.hertz)
        startDB = Self.startLevel(threshold: configuration.threshold, tuning: tuning)
        continueDB = startDB - tuning.hysteresisDB
        recentScores = [Double](repeating: 0, count: max(1, tuning.backtrackFrames + tuning.confirmationFrames + 2))
        // Enough for the prefix, the traced-back onset and the confirmation, plus a frame in progress.
        let lookbackFrames = tuning.backtrackFrames + tuning.confirmationFrames + 2
        let ringMs = configuration.prefixPaddingMs + 10 * lookbackFrames
        ring = [Float](repeating: 0, count: ringMs * sampleRate.hertz / 1000 + analyzer.frameLength)
    }

    /// Marks the audio that follows as concealment of lost packets (true) or received audio (false). Frames that
    /// complete while it is set neither start a turn nor end one (a turn in progress holds through the loss, its
    /// silence is not counted) and do not move the noise floor: the caller did not fall silent, the network lost
    /// what they said. Times keep running, so `audio_start_ms` and `audio_end_ms` stay on the caller's timeline.
    public mutating func setConcealed(_ concealed: Bool) {
        isConcealed = concealed
    }

    /// Sets the echo gate: while set, a frame whose level (dBFS: 10 log10 of its mean square, full scale 1.0) is
    /// below `levelDB` cannot start a turn; nil lifts it. Turns in progress are not affected.
    ///
    /// The far-end half of an echo guard (after Geigel's double-talk detector): the gateway sets it to the
    /// loudest level it played over the echo path's span, less the echo return loss it assumes, so the caller's
    /// phone returning our reply stays under it while a caller talking over the reply, louder than the echo,
    /// still starts a turn. Takes effect from the next whole frame.
    public mutating func setEchoGate(_ levelDB: Double?) {
        if echoGateDB == nil, levelDB != nil { frameSquares = .nan }   // the frame in progress was not measured
        echoGateDB = levelDB
    }

    /// The score in dB at which the speech probability reaches `threshold`.
    private static func startLevel(threshold: Double, tuning: Tuning) -> Double {
        let t = min(max(threshold, 0.001), 0.999)
        return tuning.centreDB + tuning.slopeDB * Double.log(t / (1 - t))
    }

    /// Raises `threshold` by `boost` (probability units, 0 to undo; the sum stays under 1) from the next frame on.
    ///
    /// The pipelines' echo guard: while the assistant's voice plays, what the caller's microphone picks up of it
    /// should not read as the caller barging in, so a turn needs louder speech to start. A turn in progress keeps
    /// its own continue level shifted alike.
    public mutating func setThresholdBoost(_ boost: Double) {
        thresholdBoost = max(0, boost)
        startDB = Self.startLevel(threshold: configuration.threshold + thresholdBoost, tuning: tuning)
        continueDB = startDB - tuning.hysteresisDB
    }

    /// Stream time consumed so far, in milliseconds.
    public var streamMs: Int { samples * 1000 / sampleRate.hertz }

    /// Whether a turn is in progress.
    public var isInTurn: Bool { inTurn }

    /// The delay between speech starting and `speech_started` firing, in milliseconds: the confirmation frames.
    public var startLatencyMs: Int { 10 * tuning.confirmationFrames }

    /// Takes input until a frame fires an event or the input runs out.
    ///
    /// - Returns: the samples consumed (all of `input` unless an event fired) and the event, if any. Call again
    ///   with the rest of the chunk after handling an event.
    /// - Complexity: O(`consumed`); no allocation.
    public mutating func process(_ input: UnsafeBufferPointer<Float>) -> (consumed: Int, event: TurnEvent?) {
        var offset = 0
        while offset < input.count {
            let n = min(input.count - offset, analyzer.remainingInFrame)
            let chunk = UnsafeBufferPointer(rebasing: input[offset..<(offset + n)])
            keep(chunk)
            if echoGateDB != nil { for x in chunk { frameSquares += x * x } }
            offset += n
            samples += n
            if let energies = analyzer.absorb(chunk), let event = decide(energies) {
                return (offset, event)
            }
        }
        return (offset, nil)
    }

    /// Ends the stream: a turn still open ends at the end of the audio (`audio_end_ms` = ``streamMs``). Then the
    /// detector is reset for a new stream.
    public mutating func finish() -> TurnEvent? {
        let event: TurnEvent? = inTurn ? .speechStopped(audioEndMs: streamMs, emittedAtMs: streamMs) : nil
        reset()
        return event
    }

    /// Forgets the stream (barge-in, new session): floor, turn state, pre-roll and stream time. Allocation-free.
    public mutating func reset() {
        analyzer.reset()
        floor = SIMD8(repeating: .nan)
        frames = 0
        inTurn = false
        run = 0
        lastSpeechFrame = 0
        tailFrames = 0
        keepRun = 0
        steadyReference = 0
        steadyRun = 0
        turnStartFrame = 0
        recentScores.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        ring.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        ringWrite = 0
        samples = 0
        pendingTurnStartSample = 0
        lastPower = 0
        frameSquares = 0
        lastScore = 0
        noisePeak = 0
        noiseSlowDB = .nan
        noiseSwing = 0
        windowMinimum = SIMD8(repeating: .infinity)
        windowMinima.withUnsafeMutableBufferPointer { $0.update(repeating: SIMD8(repeating: .infinity)) }
    }

    /// The number of samples ``copyTurnAudio(into:)`` writes now.
    public var turnAudioCount: Int {
        guard inTurn else { return 0 }
        return samples - max(pendingTurnStartSample, samples - ring.count)
    }

    /// Copies the current turn's audio, from its `audio_start_ms` up to the stream's present, into `output`.
    ///
    /// Call it when `speech_started` fires to hand the model the pre-roll and the confirmed onset; after that
    /// the caller forwards new audio as it arrives. Later in a turn it copies what the ring still holds.
    /// - Returns: samples written (``turnAudioCount``; 0 outside a turn).
    /// - Precondition: `output.count >= turnAudioCount` (traps otherwise).
    public func copyTurnAudio(into output: UnsafeMutableBufferPointer<Float>) -> Int {
        let count = turnAudioCount
        precondition(output.count >= count, "ServerVAD.copyTurnAudio: output buffer too small")
        guard count > 0, let dst = output.baseAddress else { return 0 }
        ring.withUnsafeBufferPointer { r in
            let start = (ringWrite - count + r.count) % r.count
            let first = min(count, r.count - start)
            dst.update(from: r.baseAddress! + start, count: first)
            if first < count { (dst + first).update(from: r.baseAddress!, count: count - first) }
        }
        return count
    }

    private mutating func keep(_ chunk: UnsafeBufferPointer<Float>) {
        ring.withUnsafeMutableBufferPointer { r in
            var i = 0
            while i < chunk.count {
                let n = min(chunk.count - i, r.count - ringWrite)
                (r.baseAddress! + ringWrite).update(from: chunk.baseAddress! + i, count: n)
                ringWrite = (ringWrite + n) % r.count
                i += n
            }
        }
    }

    /// Frames of speech the noise probably hides after the last detected one, from how far the turn's peak score
    /// is short of a clean turn's.
    private func maskedTailFrames() -> Int {
        guard tuning.tailReferenceDB > 0 else { return 0 }
        let ms = min(tuning.tailMaximumMs, max(0, (tuning.tailReferenceDB - turnPeak) * tuning.tailMsPerDB))
        return Int(ms / 10)
    }

    /// One frame's decision. Returns the event it fires, if any.
    private mutating func decide(_ energies: SIMD8<Float>) -> TurnEvent? {
        let frame = frames
        frames += 1
        if isConcealed, !floor[0].isNaN {
            // Lost audio: the turn (if any) holds, nothing starts, the floor stays.
            recentScores[frame % recentScores.count] = 0
            frameSquares = 0
            if inTurn { lastSpeechFrame = frame } else { run = 0 }
            return nil
        }
        var power = SIMD8<Double>()
        for i in 0..<8 { power[i] = Double(energies[i]) }
        let level = decibels(power)
        let minimum = SIMD8<Double>(repeating: tuning.floorMinimumDB)
        if floor[0].isNaN {
            smooth = power
            floor = level.replacing(with: minimum, where: level .< minimum)
        }
        // Band signal-to-floor ratios, clamped to 0 ... ceiling; the score is the mean of the best few.
        let bands = (level - floor).clamped(lowerBound: SIMD8(repeating: 0),
                                            upperBound: SIMD8(repeating: tuning.bandSNRCeilingDB))
        let score = meanOfBest(bands, count: min(max(tuning.scoreBands, 1), 8))
        recentScores[frame % recentScores.count] = score
        lastPower = power.sum()
        lastScore = score

        // Floor: a median-like tracker (equal steps up and down) under frames that look like noise, so it sits
        // in the middle of fluctuating noise such as babble rather than in its dips; a much slower rise under
        // frames that look like speech (faster the longer a turn goes on, so a turn started by a step in the
        // noise ends); and a quick fall when the level drops far below it (the noise stopped). It follows a
        // lightly smoothed level, so a single quiet frame in fluctuating noise (a gap in babble) does not drag
        // it down.
        var rise = score >= continueDB + tuning.noiseMarginDB ? tuning.floorRiseSpeech : tuning.floorRiseNoise
        if inTurn, frame - turnStartFrame > tuning.longTurnFrames { rise = max(rise, tuning.floorRiseLongTurn) }
        let a = tuning.floorSmoothing
        smooth = smooth * a + power * (1 - a)
        let target = pointwiseMax(decibels(smooth), minimum)
        for i in 0..<8 {
            let l = target[i], f = floor[i]
            if l < f - tuning.fastFallDB {
                floor[i] = f + tuning.floorFall * (l - f)
            } else if l < f {
                floor[i] = f - min(f - l, tuning.floorStepDown)
            } else {
                floor[i] = f + min(l - f, rise)
            }
        }
        if tuning.minimumWindowFrames >= 4 {
            // Minimum statistics: a caller pauses within any few seconds of a turn, and in a pause the level
            // falls to the noise; a level that has not fallen that low for the whole window is noise that
            // started or stepped up, even where it fluctuates too much to pass for steady (babble).
            windowMinimum = pointwiseMin(windowMinimum, target)
            let sub = tuning.minimumWindowFrames / 4
            if (frame + 1) % sub == 0 {
                windowMinima[(frame + 1) / sub % 4] = windowMinimum
                windowMinimum = SIMD8(repeating: .infinity)
            }
            if frame + 1 >= 4 * sub {
                var bound = windowMinimum
                for m in windowMinima { bound = pointwiseMin(bound, m) }
                floor = pointwiseMax(floor, bound - SIMD8(repeating: tuning.minimumBiasDB))
            }
        }

        defer { frameSquares = 0 }
        var steadyNoise = false
        if inTurn, tuning.stationaryFrames > 0 {
            // A sound that holds the turn at a steady level (within the range around where the run began) for
            // the whole span is noise that has just started: the floor takes it at once.
            let steadyDB = decibels(smooth.sum() + 1e-20)
            if score >= continueDB, abs(steadyDB - steadyReference) <= tuning.stationaryRangeDB / 2 {
                steadyRun += 1
            } else {
                steadyReference = steadyDB
                steadyRun = 0
            }
            if steadyRun >= tuning.stationaryFrames {
                floor = pointwiseMax(floor, decibels(smooth))
                // The steady sound was never speech: what speech there was ended before it began.
                lastSpeechFrame = max(turnStartFrame, min(lastSpeechFrame, frame - steadyRun - 1))
                tailFrames = 0
                steadyRun = 0
                steadyNoise = true
            }
        } else {
            steadyRun = 0
        }
        var event: TurnEvent?
        let step = tuning.noiseQuantileStepDB
        // Learnt between turns, and not while our own reply may be echoing back (the echo gate is set): the echo
        // is speech, and taken for the room's noise it would raise the level a caller talking over it must reach.
        if step > 0, !inTurn, echoGateDB == nil {
            // Quicker while the stream is young, so noise there from the first frame is learnt before it can
            // start a turn.
            let young = frame < tuning.noiseWarmupFrames
            let move = young ? step * 4 : step
            noisePeak += score > noisePeak ? move * tuning.noiseQuantile : -move * (1 - tuning.noiseQuantile)
            let smoothDB = decibels(smooth).sum() / 8
            if noiseSlowDB.isNaN { noiseSlowDB = smoothDB }
            let rate = young ? 0.05 : 0.01
            noiseSlowDB += rate * (smoothDB - noiseSlowDB)
            noiseSwing += rate * (abs(smoothDB - noiseSlowDB) - noiseSwing)
        }
        let peaks = step > 0 && (noiseSwing >= tuning.noiseSwingDB || frame < tuning.noiseWarmupFrames)
        let continueLevel = peaks ? max(continueDB, noisePeak + tuning.noisePeakContinueDB) : continueDB
        let startLevel = peaks ? max(startDB, noisePeak + tuning.noisePeakStartDB) : startDB
        if inTurn {
            turnPeak = max(score, turnPeak - tuning.peakDecayDB)
            let keep = tuning.relativeDropDB > 0 ? max(continueLevel, turnPeak - tuning.relativeDropDB) : continueLevel
            keepRun = score >= keep && !steadyNoise ? keepRun + 1 : 0
            if keepRun >= max(1, tuning.continueFrames) {
                lastSpeechFrame = frame
                tailFrames = maskedTailFrames()
            } else if 10 * (frame - lastSpeechFrame - tailFrames) >= configuration.silenceDurationMs {
                inTurn = false
                run = 0
                let end = 10 * (lastSpeechFrame + 1 + tailFrames) + configuration.silenceDurationMs
                event = .speechStopped(audioEndMs: end, emittedAtMs: 10 * (frame + 1))
            }
        } else {
            // The echo gate: a frame no louder than the echo we expect does not count toward a start.
            var gated = false
            if let gate = echoGateDB {
                let level = 10 * Double.log10(Double(frameSquares) / Double(analyzer.frameLength) + 1e-20)
                gated = !(level >= gate)
            }
            run = score >= startLevel && !gated ? run + 1 : 0
            if run >= tuning.confirmationFrames {
                // Trace the onset back over the frames just before the run that were clearly above the floor.
                var onset = frame - run + 1
                var steps = 0
                while steps < tuning.backtrackFrames, onset > 0, frame - (onset - 1) < recentScores.count,
                      recentScores[(onset - 1) % recentScores.count] >= tuning.backtrackDB {
                    onset -= 1
                    steps += 1
                }
                inTurn = true
                turnPeak = score
                tailFrames = 0
                keepRun = run
                turnStartFrame = frame
                run = 0
                lastSpeechFrame = frame
                let start = max(0, 10 * onset - configuration.prefixPaddingMs)
                pendingTurnStartSample = start * sampleRate.hertz / 1000
                event = .speechStarted(audioStartMs: start, emittedAtMs: 10 * (frame + 1))
            }
        }

        return event
    }
}

/// 10 log10 of each lane, with a floor far below anything audible so silence stays finite.
private func decibels(_ power: SIMD8<Double>) -> SIMD8<Double> {
    var out = SIMD8<Double>()
    for i in 0..<8 { out[i] = decibels(power[i] + 1e-20) }
    return out
}

/// 10 log10(x) for a positive normal x, within 1e-6 dB: libm's log10 costs about 130 instructions here and
/// runs 16 times per 10 ms frame, a third of the detector's cost at 8 kHz; this costs about 20.
@inline(__always)
func decibels(_ x: Double) -> Double {
    // x = m 2^e with m in [sqrt(1/2), sqrt(2)); ln m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172.
    let bits = x.bitPattern
    var e = Double(Int((bits >> 52) & 0x7FF) - 1023)
    var m = Double(bitPattern: (bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000)
    if m > 1.4142135623730951 {
        m *= 0.5
        e += 1
    }
    let s = (m - 1) / (m + 1), s2 = s * s
    let lnM = 2 * s * (1 + s2 * (1.0 / 3 + s2 * (1.0 / 5 + s2 * (1.0 / 7 + s2 * (1.0 / 9)))))
    // 10 log10(x) = 10 / ln 10 × (ln m + e ln 2)
    return 4.342944819032518 * (lnM + e * 0.6931471805599453)
}

/// The mean of the `count` largest lanes, summed largest first.
private func meanOfBest(_ values: SIMD8<Double>, count: Int) -> Double {
    var rest = values
    var sum = 0.0
    for _ in 0..<count {
        let m = rest.max()
        sum += m
        // Drop one lane holding the maximum (ties: the first).
        for i in 0..<8 where rest[i] == m {
            rest[i] = -.infinity
            break
        }
    }
    return sum / Double(count)
}

extension ServerVAD {
    /// Runs a chunk through the detector and hands each event to `handle` as it fires: the loop every consumer of
    /// ``process(_:)`` needs (the inbound pipeline, `rtaudio vad`, `rtaudio listen`), written once.
    ///
    /// `handle` is called right after the frame that fired the event, with the samples of `input` consumed so far
    /// (the event fired at the end of `input[..<consumed]`) and the detector at that moment, so a `speech_started`
    /// handler can take the turn's pre-roll with ``copyTurnAudio(into:)`` on it. All of `input` is consumed.
    /// Allocation-free; `handle` must not use the detector being run other than through its third argument.
    public mutating func process(
        _ input: UnsafeBufferPointer<Float>, events handle: (_ event: TurnEvent, _ consumed: Int, _ detector: ServerVAD) throws -> Void
    ) rethrows {
        var offset = 0
        while offset < input.count {
            let (used, event) = process(UnsafeBufferPointer(rebasing: input[offset...]))
            offset += used
            if let event { try handle(event, offset, self) }
        }
    }
}

extension ServerVAD {
    /// How late `speech_started` fires after the speech it reports began, in seconds: the confirmation frames
    /// (``startLatencyMs``). Events carry the audio's own times, so this delays decisions, not what they say.
    public var latencySeconds: Double { Double(startLatencyMs) / 1000 }

    /// The most events one ``process(_:into:)`` call with `count` samples fires (one per 10 ms frame it
    /// completes), and with `count` 0 the most ``finish(into:)`` fires (one), in any state.
    public func maximumOutputCount(forInput count: Int) -> Int { max(0, count) / analyzer.frameLength + 1 }

    /// Runs a chunk through the detector, writing the events it fires in order.
    ///
    /// Once `events` is full it stops before the next frame that could fire another, and returns what it consumed
    /// (call again with the rest). To act on each event at the frame that fired it (a `speech_started` handler
    /// taking the turn's pre-roll with ``copyTurnAudio(into:)``), use ``process(_:events:)``.
    /// - Returns: the samples consumed (all of `input` when `events` holds ``maximumOutputCount(forInput:)``) and
    ///   the events written.
    /// - Complexity: O(`consumed`); no allocation.
    public mutating func process(_ input: UnsafeBufferPointer<Float>, into events: UnsafeMutableBufferPointer<TurnEvent>) -> (consumed: Int, produced: Int) {
        var consumed = 0
        var produced = 0
        while consumed < input.count {
            // Full: go on only through what completes no frame (so fires nothing).
            if produced == events.count, input.count - consumed >= analyzer.remainingInFrame { break }
            let (used, event) = process(UnsafeBufferPointer(rebasing: input[consumed...]))
            consumed += used
            if let event {
                events[produced] = event
                produced += 1
            }
        }
        return (consumed, produced)
    }

    /// ``finish()`` in the stream shape: writes the `speech_stopped` of a turn still open, if any.
    ///
    /// - Precondition: `events` holds one event when a turn is open (the caller's own buffer).
    public mutating func finish(into events: UnsafeMutableBufferPointer<TurnEvent>) -> Int {
        precondition(!inTurn || !events.isEmpty, "ServerVAD.finish: no room for the turn's end")
        guard let event = finish() else { return 0 }
        events[0] = event
        return 1
    }
}

// MARK: - Array conveniences (they allocate)

extension ServerVAD {
    /// Runs a whole signal through the detector and finishes it: every event, in order.
    public mutating func events(in signal: [Float]) -> [TurnEvent] { processAll(signal) }
}
