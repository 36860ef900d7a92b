/// Mixes interleaved multi-channel audio down to mono, the only layout the Realtime API carries.
///
/// Each mono sample is the mean of its frame's channels, so a signal present in every channel keeps its level
/// and no sum can clip. Stateless and thread-safe; allocation-free.
public enum Downmix {
    /// Averages each frame of `interleaved` into one sample.
    ///
    /// - Parameters:
    ///   - interleaved: frames of `channels` samples each; a trailing partial frame is ignored.
    ///   - channels: channels per frame, at least 1. With 1 the samples are copied.
    ///   - output: where the mono samples go, from its start.
    /// - Returns: the number of mono samples written, `interleaved.count / channels`.
    /// - Precondition: `channels >= 1` and `output.count >= interleaved.count / channels` (traps otherwise).
    @discardableResult
    public static func mono(
        _ interleaved: UnsafeBufferPointer<Float>, channels: Int, into output: UnsafeMutableBufferPointer<Float>
    ) -> Int {
        precondition(channels >= 1, "Downmix.mono: channels must be at least 1")
        let frames = interleaved.count / channels
        precondition(output.count >= frames, "Downmix.mono: output buffer too small")
        guard frames > 0, let src = interleaved.baseAddress, let dst = output.baseAddress else { return 0 }
        switch channels {
        case 1:
            dst.update(from: src, count: frames)
        case 2:
            for i in 0..<frames { dst[i] = (src[2 * i] + src[2 * i + 1]) * 0.5 }
        default:
            let k = 1 / Float(channels)
            for i in 0..<frames {
                var sum: Float = 0
                for c in 0..<channels { sum += src[i * channels + c] }
                dst[i] = sum * k
            }
        }
        return frames
    }
}
