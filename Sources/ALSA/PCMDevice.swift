import CALSA

#if canImport(Glibc)
import Glibc
#endif

/// An error from alsa-lib: the call that failed, ALSA's (negative errno) code and its `snd_strerror` text.
public struct ALSAError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was being done, such as `open capture device 'default'`.
    public let operation: String
    /// alsa-lib's return code: a negative errno.
    public let code: Int32

    /// An error of `operation` with alsa-lib's `code`.
    public init(operation: String, code: Int32) {
        self.operation = operation
        self.code = code
    }

    /// `snd_strerror`'s text for ``code``.
    public var message: String { String(cString: snd_strerror(code)) }

    /// One readable line (what error messages, logs and the CLI show).
    public var description: String { "\(operation): \(message)" }
}

/// Which way samples move.
public enum PCMDirection: Sendable, CustomStringConvertible {
    /// Samples come from the device (recording).
    case capture
    /// Samples go to the device (playing).
    case playback

    var stream: snd_pcm_stream_t { self == .capture ? SND_PCM_STREAM_CAPTURE : SND_PCM_STREAM_PLAYBACK }
    /// One readable line (what error messages, logs and the CLI show).
    public var description: String { self == .capture ? "capture" : "playback" }
}

/// The sample formats the wrapper negotiates: what speech pipelines use.
public enum PCMSampleFormat: Sendable, CustomStringConvertible {
    /// Signed 16-bit little-endian.
    case s16LE
    /// 32-bit float little-endian, -1...1.
    case floatLE

    var alsa: snd_pcm_format_t { self == .s16LE ? SND_PCM_FORMAT_S16_LE : SND_PCM_FORMAT_FLOAT_LE }
    /// One readable line (what error messages, logs and the CLI show).
    public var description: String { self == .s16LE ? "S16_LE" : "FLOAT_LE" }
}

/// What a device granted: it may differ from what was asked (a device that cannot do 24 kHz offers its nearest
/// rate, a stereo-only device two channels).
public struct PCMParameters: Equatable, Sendable {
    /// The sample format the device takes or gives.
    public var format: PCMSampleFormat
    /// Frames per second, in Hz (the nearest the device supports to what was asked).
    public var rate: Int
    /// Samples per frame, interleaved.
    public var channels: Int
    /// Frames per period: the unit the device wakes the program for.
    public var periodFrames: Int
    /// Frames the device buffers: how long the program may be late before an overrun or underrun.
    public var bufferFrames: Int

    /// ``periodFrames`` in milliseconds.
    public var periodMs: Double { Double(periodFrames) * 1000 / Double(rate) }
    /// ``bufferFrames`` in milliseconds.
    public var bufferMs: Double { Double(bufferFrames) * 1000 / Double(rate) }
}

/// One ALSA PCM handle: open, negotiate, read or write interleaved frames, recover from overruns and underruns.
///
/// Confine an instance to one thread (the capture or playback loop): alsa-lib's PCM calls are not safe to
/// interleave on one handle. It is `Sendable` so it can be handed to that thread. The handle is closed on
/// `deinit`.
///
/// Errors are ``ALSAError`` with alsa-lib's code and text. ALSA's own diagnostics on stderr are silenced once per
/// process, so a program prints only what it chooses to.
public final class PCMDevice: @unchecked Sendable {   // one owner thread; the handle never escapes
    /// The device name (`default`, `hw:0,0`, `plughw:1`, or a name from a configuration).
    public let name: String
    /// Whether it records or plays.
    public let direction: PCMDirection
    /// What the device granted, after ``configure(format:rate:channels:periodMs:bufferMs:)``.
    public private(set) var parameters: PCMParameters?
    /// Overruns (capture) or underruns (playback) recovered from so far.
    public private(set) var xrunCount = 0
    /// Set once a capture returned frames it never wrote: the end of a file-backed source.
    public private(set) var reachedEnd = false

    private let handle: OpaquePointer
    /// Fault injection for tests of the layers above: the next read or write fails with this code (for example
    /// `-EPIPE`, an xrun, or `-EIO`) instead of calling alsa-lib, and goes through the same recovery path.
    /// Not part of the API: `@_spi(Testing) import ALSA` to reach it.
    @_spi(Testing) public var injectedFault: Int32?

    private static let silenced: Void = calsa_silence_errors()

    /// Opens a PCM device.
    ///
    /// - Parameters:
    ///   - name: the ALSA device name (`default`, `hw:0,0`, `plughw:1`, or one the configuration defines).
    ///   - direction: capture (record) or playback.
    ///   - configuration: ALSA configuration text to resolve `name` in instead of the system's (for example a
    ///     `file` PCM for tests, see `snd_pcm_open_lconf`); nil uses the system configuration (and
    ///     `ALSA_CONFIG_PATH` if set).
    /// - Throws: ``ALSAError`` (a missing device is `-ENOENT`, a busy one `-EBUSY`).
    public init(name: String, direction: PCMDirection, configuration: String? = nil) throws(ALSAError) {
        _ = Self.silenced
        let operation = "open \(direction) device '\(name)'"
        var pcm: OpaquePointer?
        var rc: Int32
        if let configuration {
            var config: OpaquePointer?
            rc = Self.load(configuration, into: &config)
            guard rc >= 0, let config else { throw ALSAError(operation: "\(operation): read the configuration", code: rc) }
            defer { snd_config_delete(config) }
            rc = snd_pcm_open_lconf(&pcm, name, direction.stream, 0, config)
        } else {
            rc = snd_pcm_open(&pcm, name, direction.stream, 0)
        }
        guard rc >= 0, let pcm else { throw ALSAError(operation: operation, code: rc) }
        handle = pcm
        self.name = name
        self.direction = direction
    }

    deinit { snd_pcm_close(handle) }

    private static func load(_ text: String, into config: inout OpaquePointer?) -> Int32 {
        var input: OpaquePointer?
        var rc = text.withCString { snd_input_buffer_open(&input, $0, strlen($0)) }
        guard rc >= 0, let input else { return rc }
        defer { snd_input_close(input) }
        rc = snd_config_top(&config)
        guard rc >= 0, let top = config else { return rc }
        rc = snd_config_load(top, input)
        if rc < 0 { snd_config_delete(top); config = nil }
        return rc
    }

    /// Negotiates the stream and returns what the device granted (also kept in ``parameters``).
    ///
    /// ALSA's own software resampling is turned off: a device that cannot run at `rate` grants its nearest rate,
    /// and the caller converts with `RealtimeAudio`'s resampler, which is far cleaner than alsa-lib's linear
    /// one. A refused format is retried with the other one; a refused channel count gets the nearest.
    /// - Throws: ``ALSAError`` when the device accepts no configuration near the request.
    @discardableResult
    public func configure(format: PCMSampleFormat = .s16LE, rate: Int, channels: Int = 1,
                          periodMs: Double = 20, bufferMs: Double = 120) throws(ALSAError) -> PCMParameters {
        var hw: OpaquePointer?
        var rc = snd_pcm_hw_params_malloc(&hw)
        guard rc >= 0, let hw else { throw ALSAError(operation: "allocate hardware parameters", code: rc) }
        defer { snd_pcm_hw_params_free(hw) }
        func check(_ rc: Int32, _ what: String) throws(ALSAError) {
            if rc < 0 { throw ALSAError(operation: "\(direction) device '\(name)': \(what)", code: rc) }
        }
        try check(snd_pcm_hw_params_any(handle, hw), "no configuration available")
        try check(snd_pcm_hw_params_set_access(handle, hw, SND_PCM_ACCESS_RW_INTERLEAVED), "interleaved access")
        _ = snd_pcm_hw_params_set_rate_resample(handle, hw, 0)
        var granted = format
        rc = snd_pcm_hw_params_set_format(handle, hw, format.alsa)
        if rc < 0 {
            granted = format == .s16LE ? .floatLE : .s16LE
            try check(snd_pcm_hw_params_set_format(handle, hw, granted.alsa), "neither S16_LE nor FLOAT_LE")
        }
        var count = UInt32(channels)
        try check(snd_pcm_hw_params_set_channels_near(handle, hw, &count), "\(channels) channels")
        var hz = UInt32(rate)
        var dir: Int32 = 0
        try check(snd_pcm_hw_params_set_rate_near(handle, hw, &hz, &dir), "rate \(rate) Hz")
        var bufferUs = UInt32(bufferMs * 1000)
        try check(snd_pcm_hw_params_set_buffer_time_near(handle, hw, &bufferUs, &dir), "buffer of \(bufferMs) ms")
        var periodUs = UInt32(periodMs * 1000)
        try check(snd_pcm_hw_params_set_period_time_near(handle, hw, &periodUs, &dir), "period of \(periodMs) ms")
        try check(snd_pcm_hw_params(handle, hw), "apply the parameters")
        var period = snd_pcm_uframes_t(0), buffer = snd_pcm_uframes_t(0)
        _ = snd_pcm_hw_params_get_rate(hw, &hz, &dir)
        _ = snd_pcm_hw_params_get_channels(hw, &count)
        _ = snd_pcm_hw_params_get_period_size(hw, &period, &dir)
        _ = snd_pcm_hw_params_get_buffer_size(hw, &buffer)
        let result = PCMParameters(format: granted, rate: Int(hz), channels: Int(count),
                                   periodFrames: Int(period), bufferFrames: Int(buffer))
        parameters = result
        try check(snd_pcm_prepare(handle), "prepare")
        return result
    }

    // MARK: - Reading and writing

    /// Reads up to `buffer.count / channels` frames of interleaved S16 samples (the granted format must be
    /// ``PCMSampleFormat/s16LE``). Blocks until a period is available, as the device paces.
    ///
    /// - Returns: the frames read; 0 once a file-backed source has ended (``reachedEnd``). Overruns are
    ///   recovered (and counted in ``xrunCount``): the read then returns what follows the gap.
    public func read(into buffer: UnsafeMutableBufferPointer<Int16>) throws(ALSAError) -> Int {
        try capture(buffer, sentinel: { $0 % 2 == 0 ? Int16.max : Int16.min })
    }

    /// Reads interleaved Float samples (the granted format must be ``PCMSampleFormat/floatLE``).
    public func read(into buffer: UnsafeMutableBufferPointer<Float>) throws(ALSAError) -> Int {
        try capture(buffer, sentinel: { _ in Float(bitPattern: 0x7FC0_5EED) })
    }

    /// Writes interleaved S16 samples, all of them unless an error that cannot be recovered stops it. Underruns
    /// are recovered and counted.
    public func write(_ samples: UnsafeBufferPointer<Int16>) throws(ALSAError) {
        try playback(samples)
    }

    /// Writes interleaved Float samples.
    public func write(_ samples: UnsafeBufferPointer<Float>) throws(ALSAError) {
        try playback(samples)
    }

    /// Lets the device play what it holds, then stops (end of playback).
    public func drain() throws(ALSAError) {
        let rc = snd_pcm_drain(handle)
        if rc < 0 { throw ALSAError(operation: "drain \(direction) device '\(name)'", code: rc) }
    }

    /// Stops at once, dropping what the device holds (Ctrl-C during playback).
    public func drop() {
        _ = snd_pcm_drop(handle)
    }

    private var channels: Int { parameters?.channels ?? 1 }

    /// Before each read the buffer is filled with a pattern no device produces; frames that still hold it after
    /// the read were never written. alsa-lib's `file` PCM does exactly that once its `infile` ends (it keeps
    /// returning frame counts without data), so stale audio is never taken for new capture.
    private func capture<T: Equatable>(_ buffer: UnsafeMutableBufferPointer<T>, sentinel: (Int) -> T) throws(ALSAError) -> Int {
        guard !reachedEnd else { return 0 }
        let channels = self.channels
        let frames = buffer.count / channels
        guard frames > 0, let base = buffer.baseAddress else { return 0 }
        for i in 0..<(frames * channels) { base[i] = sentinel(i) }
        while true {
            let n: Int
            if let fault = injectedFault {
                injectedFault = nil
                n = Int(fault)
            } else {
                n = snd_pcm_readi(handle, base, snd_pcm_uframes_t(frames))
            }
            if n >= 0 {
                var written = n
                // Trailing frames still holding the pattern (two frames at least, so a real sample that happens
                // to equal it cannot end a stream).
                var untouched = 0
                while untouched < written, (0..<channels).allSatisfy({ base[(written - 1 - untouched) * channels + $0] == sentinel((written - 1 - untouched) * channels + $0) }) {
                    untouched += 1
                }
                if untouched >= min(2, written), untouched > 0 {
                    written -= untouched
                    reachedEnd = true
                }
                return written
            }
            try recover(Int32(n), "read from")
        }
    }

    private func playback<T>(_ samples: UnsafeBufferPointer<T>) throws(ALSAError) {
        let channels = self.channels
        var offset = 0
        let frames = samples.count / channels
        while offset < frames {
            let n: Int
            if let fault = injectedFault {
                injectedFault = nil
                n = Int(fault)
            } else {
                n = snd_pcm_writei(handle, samples.baseAddress! + offset * channels, snd_pcm_uframes_t(frames - offset))
            }
            if n >= 0 {
                offset += n
            } else {
                try recover(Int32(n), "write to")
            }
        }
    }

    /// Recovers from an overrun or underrun (`-EPIPE`), a suspend (`-ESTRPIPE`) or an interrupted call
    /// (`-EINTR`) through `snd_pcm_recover`, counting xruns; anything else is thrown.
    private func recover(_ code: Int32, _ verb: String) throws(ALSAError) {
        let rc = snd_pcm_recover(handle, code, 1)
        if rc < 0 { throw ALSAError(operation: "\(verb) \(direction) device '\(name)'", code: code) }
        if code == -EPIPE { xrunCount += 1 }
    }

    // MARK: - Devices

    /// A PCM device ALSA knows, from `snd_device_name_hint`.
    public struct DeviceHint: Sendable, Equatable {
        /// The name to open it by (``PCMDevice/init(name:direction:configuration:)``).
        public let name: String
        /// The description ALSA gives, lines joined by " / ".
        public let description: String
        /// `Input`, `Output`, or nil for both.
        public let direction: String?
    }

    /// The PCM devices the configuration declares (`snd_device_name_hint` for "pcm").
    public static func devices() throws(ALSAError) -> [DeviceHint] {
        _ = silenced
        var hints: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
        let rc = snd_device_name_hint(-1, "pcm", &hints)
        guard rc >= 0, let hints else { throw ALSAError(operation: "list PCM devices", code: rc) }
        defer { snd_device_name_free_hint(hints) }
        func value(_ hint: UnsafeMutableRawPointer, _ key: String) -> String? {
            guard let text = snd_device_name_get_hint(hint, key) else { return nil }
            defer { free(text) }
            return String(cString: text)
        }
        var result: [DeviceHint] = []
        var index = 0
        while let hint = hints[index] {
            index += 1
            guard let name = value(hint, "NAME") else { continue }
            let description = (value(hint, "DESC") ?? "").split(separator: "\n").joined(separator: " / ")
            result.append(DeviceHint(name: name, description: description, direction: value(hint, "IOID")))
        }
        return result
    }
}
