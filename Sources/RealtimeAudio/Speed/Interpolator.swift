/// Reads a signal between its samples, to 1/256 of a sample: a 32-tap Kaiser-windowed sinc (β = 10) per
/// fractional phase, built once and shared.
///
/// Why this size: the speed scaler jumps by fractional pitch periods and then reads the input at that fraction
/// for the rest of the turn. The interpolator is then in the path of every output sample, so it must be
/// transparent: its error is under -100 dB up to 8 kHz at 24 kHz and -50 dB at 10 kHz, where voices have little
/// energy. Phase 0 is never used: whole positions are copied.
final class Interpolator: Sendable {
    static let taps = 32
    static let phaseBits = 8
    static let phases = 1 << phaseBits
    static let shared = Interpolator()

    /// `phases × taps` coefficients: row `p`, tap `j` weighs `x[i + j - 15]` for the value at `i + p / 256`.
    private let table: [SIMD8<Float>]

    private init() {
        let beta = 10.0, half = Double(Self.taps) / 2
        let i0Beta = besselI0(beta)
        var rows: [SIMD8<Float>] = []
        rows.reserveCapacity(Self.phases * Self.taps / 8)
        for p in 0..<Self.phases {
            var row = (0..<Self.taps).map { j -> Double in
                let n = Double(j - (Self.taps / 2 - 1)) - Double(p) / Double(Self.phases)
                let r = n / half
                let window = abs(r) >= 1 ? 0 : kaiserShape(r, beta: beta) / i0Beta
                return sinc(n) * window
            }
            let sum = row.reduce(0, +)
            row = row.map { $0 / sum }
            for k in stride(from: 0, to: Self.taps, by: 8) {
                rows.append(SIMD8<Float>((0..<8).map { Float(row[k + $0]) }))
            }
        }
        table = rows
    }

    /// Writes `count` values at `x + i + phase / 256` for `i` in `0..<count`; `x` must have 15 samples before it
    /// and `count + 16` after it.
    func read(_ x: UnsafePointer<Float>, phase: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        table.withUnsafeBufferPointer { t in
            let base = 4 * phase
            let h0 = t[base], h1 = t[base + 1], h2 = t[base + 2], h3 = t[base + 3]
            var p = UnsafeRawPointer(x - (Self.taps / 2 - 1))
            for i in 0..<count {
                var acc = p.loadUnaligned(as: SIMD8<Float>.self) * h0
                acc += (p + 32).loadUnaligned(as: SIMD8<Float>.self) * h1
                var acc2 = (p + 64).loadUnaligned(as: SIMD8<Float>.self) * h2
                acc2 += (p + 96).loadUnaligned(as: SIMD8<Float>.self) * h3
                let s = acc + acc2
                let q = s.lowHalf + s.highHalf
                out[i] = (q[0] + q[2]) + (q[1] + q[3])
                p += 4
            }
        }
    }
}
