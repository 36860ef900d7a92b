import RealModule

/// Accumulates the peak and RMS level of a stream, in dBFS (0 dBFS is a full-scale sample, magnitude 1.0).
///
/// Feed it chunks with ``add(_:)``; read the levels at any time. Sums are kept in `Double`, so hours of audio
/// do not lose precision. A value type with no shared state; allocation-free.
public struct LevelMeter: Sendable {
    /// The largest sample magnitude seen.
    public private(set) var peak: Float = 0
    /// Samples seen.
    public private(set) var sampleCount = 0
    private var sumOfSquares: Double = 0

    /// Creates an empty meter.
    public init() {}

    /// Adds a chunk of samples. NaN samples are ignored.
    public mutating func add(_ samples: UnsafeBufferPointer<Float>) {
        var chunkPeak = peak
        // Four partial sums: a single running sum would not vectorize and would lose precision on long chunks.
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        var i = 0
        let n = samples.count
        while i + 4 <= n {
            let a = samples[i], b = samples[i + 1], c = samples[i + 2], d = samples[i + 3]
            s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d
            chunkPeak = Swift.max(chunkPeak, abs(a), abs(b), abs(c), abs(d))
            i += 4
        }
        var tail: Float = 0
        while i < n {
            let a = samples[i]
            tail += a * a
            chunkPeak = Swift.max(chunkPeak, abs(a))
            i += 1
        }
        let sum = Double(s0) + Double(s1) + Double(s2) + Double(s3) + Double(tail)
        if !sum.isNaN { sumOfSquares += sum }
        if !chunkPeak.isNaN { peak = chunkPeak }
        sampleCount += n
    }

    /// The root mean square of all samples seen (0 when none).
    public var rms: Double { sampleCount == 0 ? 0 : (sumOfSquares / Double(sampleCount)).squareRoot() }

    /// The peak level in dBFS; `-infinity` for digital silence.
    public var peakDBFS: Double { Self.decibels(Double(peak)) }

    /// The RMS level in dBFS (a full-scale square wave reads 0, a full-scale sine -3.01); `-infinity` for silence.
    public var rmsDBFS: Double { Self.decibels(rms) }

    /// Clears the meter.
    public mutating func reset() { self = LevelMeter() }

    private static func decibels(_ amplitude: Double) -> Double {
        amplitude > 0 ? 20 * Double.log10(amplitude) : -.infinity
    }
}
