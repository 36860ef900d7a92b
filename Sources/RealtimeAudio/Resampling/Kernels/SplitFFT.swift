import RealModule

/// A complex FFT of power-of-two size on split data (real and imaginary parts in separate arrays of four-lane
/// vectors), made for FFT convolution.
///
/// ``forward(_:_:)`` is decimation in frequency and leaves the spectrum in a fixed scrambled order (bit-reversed,
/// then its last radix-4 step left with four groups per vector); ``inverse(_:_:)`` undoes exactly those steps with
/// conjugate twiddles. Neither pays for a permutation: a pointwise product between them, with the other operand
/// transformed by the same ``forward(_:_:)`` (or placed by ``bins``), is a circular convolution. The inverse is not
/// normalized (it returns `size` times the signal).
///
/// The stages whose butterflies span whole vectors run two at a time as radix-4 steps (one radix-2 stage first when
/// their count is odd), four butterflies per vector: against radix-2 that saves a third of the loads, stores and
/// additions. The last two stages, within a vector, are one radix-4 step on four groups at a time with their lanes
/// transposed in a pass of their own, so no stage works on fewer than four lanes.
final class SplitFFT: @unchecked Sendable {   // immutable after init: safe to share
    /// Points per transform: a power of two, at least 16.
    let size: Int
    /// Twiddles as floats: for the radix-2 stage (when `log2(size / 4)` is odd, the first one, span `H = size / 2`
    /// points) `cos(π j / H)` then `sin(π j / H)` for `j < H`; then for each radix-4 stage, largest first, with
    /// quarter span `Q` points: for each vector of four `j`, `cos` and `sin` of `π k j / (2Q)` for `k = 1, 2, 3`.
    private let twiddles: UnsafeMutablePointer<Float>
    /// Whether the vector stages start with one radix-2 stage (an odd number of them).
    private let oddStage: Bool
    /// The frequency bin held at each position of the scrambled order.
    let bins: [Int]

    init(size: Int) {
        precondition(size >= 16 && size & (size - 1) == 0, "SplitFFT: size must be a power of two >= 16")
        self.size = size
        let n = size / 4
        oddStage = n.trailingZeroBitCount % 2 == 1
        var table: [Float] = []
        if oddStage {
            let H = size / 2
            table += (0..<H).map { Float(Double.cos(Double.pi * Double($0) / Double(H))) }
            table += (0..<H).map { Float(Double.sin(Double.pi * Double($0) / Double(H))) }
        }
        var hv = oddStage ? n / 4 : n / 2
        while hv >= 2 {
            // Per vector of four points: cos, sin for k = 1, 2, 3, side by side, so one base register reaches all
            // six (with one array each, the loop needs more base registers than x86-64 has and reloads them).
            let Q = 4 * (hv / 2)
            for v in 0..<(Q / 4) {
                for k in 1...3 {
                    table += (0..<4).map { Float(Double.cos(Double.pi * Double(k * (4 * v + $0)) / Double(2 * Q))) }
                    table += (0..<4).map { Float(Double.sin(Double.pi * Double(k * (4 * v + $0)) / Double(2 * Q))) }
                }
            }
            hv /= 4
        }
        twiddles = .allocate(capacity: max(1, table.count))
        twiddles.initialize(from: table, count: table.count)
        // Where each bin lands: transform an impulse at 1, whose bin k is exp(-2πik / size), and read k off the angle.
        var re = [SIMD4<Float>](repeating: .zero, count: size / 4), im = re
        re[0][1] = 1
        let odd = oddStage, t = UnsafePointer(twiddles)
        bins = [Int](unsafeUninitializedCapacity: size) { b, initialized in
            re.withUnsafeMutableBufferPointer { r in
                im.withUnsafeMutableBufferPointer { i in
                    Self.forward(r.baseAddress!, i.baseAddress!, size: size, odd: odd, twiddles: t)
                    let rf = UnsafeRawPointer(r.baseAddress!), imf = UnsafeRawPointer(i.baseAddress!)
                    for p in 0..<size {
                        let angle = Double.atan2(y: -Double(imf.load(fromByteOffset: 4 * p, as: Float.self)),
                                                 x: Double(rf.load(fromByteOffset: 4 * p, as: Float.self)))
                        let k = Int((angle * Double(size) / (2 * .pi)).rounded())
                        b[p] = (k % size + size) % size
                    }
                }
            }
            initialized = size
        }
    }

    deinit { twiddles.deallocate() }

    /// Transforms `size` points in place (`size / 4` vectors each), into the scrambled order.
    @inline(__always)
    func forward(_ re: UnsafeMutablePointer<SIMD4<Float>>, _ im: UnsafeMutablePointer<SIMD4<Float>>) {
        Self.forward(re, im, size: size, odd: oddStage, twiddles: UnsafePointer(twiddles))
    }

    /// The inverse of ``forward(_:_:)`` times `size`: takes the scrambled order, returns the signal in order.
    @inline(__always)
    func inverse(_ re: UnsafeMutablePointer<SIMD4<Float>>, _ im: UnsafeMutablePointer<SIMD4<Float>>) {
        Self.inverse(re, im, size: size, odd: oddStage, twiddles: UnsafePointer(twiddles))
    }

    @inline(__always)
    private static func forward(_ re: UnsafeMutablePointer<SIMD4<Float>>, _ im: UnsafeMutablePointer<SIMD4<Float>>,
                                size: Int, odd: Bool, twiddles: UnsafePointer<Float>) {
        let n = size / 4
        var t = UnsafeRawPointer(twiddles)
        var hv = n / 2
        if odd {
            // One radix-2 stage of span hv vectors.
            let c = t, s = t + 16 &* hv
            var j = 0
            while j < hv {
                let a = re + j, b = im + j
                let ar = a[0], ai = b[0], br = a[hv], bi = b[hv]
                a[0] = ar + br
                b[0] = ai + bi
                let dr = ar - br, di = ai - bi
                let wc = c.load(fromByteOffset: 16 &* j, as: SIMD4<Float>.self)
                let ws = s.load(fromByteOffset: 16 &* j, as: SIMD4<Float>.self)
                a[hv] = dr * wc + di * ws
                b[hv] = di * wc - dr * ws
                j &+= 1
            }
            t += 32 &* hv
            hv /= 2
        }
        // Radix-4 stages: two radix-2 spans (2q and q vectors) at once, the same output positions.
        while hv >= 2 {
            let q = hv / 2, bytes = 16 &* q
            var g = 0
            while g < n {
                let a = re + g, b = im + g
                var j = 0
                while j < q {
                    let x0r = a[j], x0i = b[j], x1r = a[j &+ q], x1i = b[j &+ q]
                    let x2r = a[j &+ 2 &* q], x2i = b[j &+ 2 &* q], x3r = a[j &+ 3 &* q], x3i = b[j &+ 3 &* q]
                    let pr = x0r + x2r, pi = x0i + x2i, sr = x1r + x3r, si = x1i + x3i
                    let cr = x0r - x2r, ci = x0i - x2i, dr = x1r - x3r, di = x1i - x3i
                    a[j] = pr + sr
                    b[j] = pi + si
                    // Each product is by cos - i sin; the twiddles load next to their use, so the live values fit
                    // the sixteen vector registers.
                    let o = 96 &* j
                    let ur = pr - sr, ui = pi - si
                    let c2 = t.load(fromByteOffset: o &+ 32, as: SIMD4<Float>.self)
                    let s2 = t.load(fromByteOffset: o &+ 48, as: SIMD4<Float>.self)
                    a[j &+ q] = ur * c2 + ui * s2
                    b[j &+ q] = ui * c2 - ur * s2
                    // c - i d and c + i d.
                    let vr = cr + di, vi = ci - dr
                    let c1 = t.load(fromByteOffset: o, as: SIMD4<Float>.self)
                    let s1 = t.load(fromByteOffset: o &+ 16, as: SIMD4<Float>.self)
                    a[j &+ 2 &* q] = vr * c1 + vi * s1
                    b[j &+ 2 &* q] = vi * c1 - vr * s1
                    let wr = cr - di, wi = ci + dr
                    let c3 = t.load(fromByteOffset: o &+ 64, as: SIMD4<Float>.self)
                    let s3 = t.load(fromByteOffset: o &+ 80, as: SIMD4<Float>.self)
                    a[j &+ 3 &* q] = wr * c3 + wi * s3
                    b[j &+ 3 &* q] = wi * c3 - wr * s3
                    j &+= 1
                }
                g &+= 4 &* q
            }
            t += 6 &* bytes
            hv /= 4
        }
        // Spans 2 and 1 on four groups of four at once: lane i of vector k is element k of group i. The transposes
        // run as a pass of their own: inside the butterfly loop LLVM moves the additions across the shuffles and
        // splits them into lanes (three times the instructions).
        transposeGroups(re, n)
        transposeGroups(im, n)
        var g = 0
        while g < n {
            let r0 = re[g], r1 = re[g &+ 1], r2 = re[g &+ 2], r3 = re[g &+ 3]
            let i0 = im[g], i1 = im[g &+ 1], i2 = im[g &+ 2], i3 = im[g &+ 3]
            let t0r = r0 + r2, t0i = i0 + i2, t2r = r0 - r2, t2i = i0 - i2
            let t1r = r1 + r3, t1i = i1 + i3
            // (r1 - r3) times -i.
            let t3r = i1 - i3, t3i = r3 - r1
            re[g] = t0r + t1r
            im[g] = t0i + t1i
            re[g &+ 1] = t0r - t1r
            im[g &+ 1] = t0i - t1i
            re[g &+ 2] = t2r + t3r
            im[g &+ 2] = t2i + t3i
            re[g &+ 3] = t2r - t3r
            im[g &+ 3] = t2i - t3i
            g &+= 4
        }
    }

    @inline(__always)
    private static func inverse(_ re: UnsafeMutablePointer<SIMD4<Float>>, _ im: UnsafeMutablePointer<SIMD4<Float>>,
                                size: Int, odd: Bool, twiddles: UnsafePointer<Float>) {
        let n = size / 4
        var g = 0
        while g < n {
            let o0r = re[g], o1r = re[g &+ 1], o2r = re[g &+ 2], o3r = re[g &+ 3]
            let o0i = im[g], o1i = im[g &+ 1], o2i = im[g &+ 2], o3i = im[g &+ 3]
            let u0r = o0r + o1r, u0i = o0i + o1i, u1r = o0r - o1r, u1i = o0i - o1i
            let u2r = o2r + o3r, u2i = o2i + o3i, u3r = o2r - o3r, u3i = o2i - o3i
            // c1 = u1 + i u3, c3 = u1 - i u3; transposed back in a pass of their own (see forward).
            re[g] = u0r + u2r
            re[g &+ 1] = u1r - u3i
            re[g &+ 2] = u0r - u2r
            re[g &+ 3] = u1r + u3i
            im[g] = u0i + u2i
            im[g &+ 1] = u1i + u3r
            im[g &+ 2] = u0i - u2i
            im[g &+ 3] = u1i - u3r
            g &+= 4
        }
        transposeGroups(re, n)
        transposeGroups(im, n)
        // The radix-4 stages, smallest first, their twiddles from the end of the table.
        var stages = 0, hv = odd ? n / 4 : n / 2, total = odd ? 2 * (n / 2) * 4 : 0
        while hv >= 2 { total += 6 * 4 * (hv / 2); stages += 1; hv /= 4 }
        var end = UnsafeRawPointer(twiddles) + 4 &* total
        var q = 1
        for _ in 0..<stages {
            let bytes = 16 &* q
            let t = end - 6 &* bytes
            var g = 0
            while g < n {
                let a = re + g, b = im + g
                var j = 0
                while j < q {
                    // Products by cos + i sin undo the forward ones; each twiddle loads next to its use.
                    let o = 96 &* j
                    let z1r = a[j &+ q], z1i = b[j &+ q]
                    let c2 = t.load(fromByteOffset: o &+ 32, as: SIMD4<Float>.self)
                    let s2 = t.load(fromByteOffset: o &+ 48, as: SIMD4<Float>.self)
                    let ur = z1r * c2 - z1i * s2, ui = z1r * s2 + z1i * c2
                    let z0r = a[j], z0i = b[j]
                    let Ar = z0r + ur, Ai = z0i + ui, Br = z0r - ur, Bi = z0i - ui
                    let z2r = a[j &+ 2 &* q], z2i = b[j &+ 2 &* q]
                    let c1 = t.load(fromByteOffset: o, as: SIMD4<Float>.self)
                    let s1 = t.load(fromByteOffset: o &+ 16, as: SIMD4<Float>.self)
                    let vr = z2r * c1 - z2i * s1, vi = z2r * s1 + z2i * c1
                    let z3r = a[j &+ 3 &* q], z3i = b[j &+ 3 &* q]
                    let c3 = t.load(fromByteOffset: o &+ 64, as: SIMD4<Float>.self)
                    let s3 = t.load(fromByteOffset: o &+ 80, as: SIMD4<Float>.self)
                    let wr = z3r * c3 - z3i * s3, wi = z3r * s3 + z3i * c3
                    let Cr = vr + wr, Ci = vi + wi
                    // 2d = -i (w - v).
                    let Dr = wi - vi, Di = vr - wr
                    a[j] = Ar + Cr
                    b[j] = Ai + Ci
                    a[j &+ 2 &* q] = Ar - Cr
                    b[j &+ 2 &* q] = Ai - Ci
                    a[j &+ q] = Br + Dr
                    b[j &+ q] = Bi + Di
                    a[j &+ 3 &* q] = Br - Dr
                    b[j &+ 3 &* q] = Bi - Di
                    j &+= 1
                }
                g &+= 4 &* q
            }
            end = t
            q &*= 4
        }
        if odd {
            let hv = n / 2
            let c = UnsafeRawPointer(twiddles), s = c + 16 &* hv
            var j = 0
            while j < hv {
                let a = re + j, b = im + j
                let ar = a[0], ai = b[0], br = a[hv], bi = b[hv]
                let wc = c.load(fromByteOffset: 16 &* j, as: SIMD4<Float>.self)
                let ws = s.load(fromByteOffset: 16 &* j, as: SIMD4<Float>.self)
                let tr = br * wc - bi * ws, ti = br * ws + bi * wc
                a[0] = ar + tr
                b[0] = ai + ti
                a[hv] = ar - tr
                b[hv] = ai - ti
                j &+= 1
            }
        }
    }
}

/// Transposes each group of four vectors in place (`n` vectors, a multiple of four). Not inlined: a pass of loads,
/// shuffles and stores that the optimizer cannot mix into the butterflies around it.
@inline(never)
func transposeGroups(_ v: UnsafeMutablePointer<SIMD4<Float>>, _ n: Int) {
    var g = 0
    while g < n {
        let t = transpose(v[g], v[g &+ 1], v[g &+ 2], v[g &+ 3])
        v[g] = t.0
        v[g &+ 1] = t.1
        v[g &+ 2] = t.2
        v[g &+ 3] = t.3
        g &+= 4
    }
}

/// The 4×4 transpose of four row vectors (the unpack / move-halves pattern).
@inline(__always)
func transpose(_ v0: SIMD4<Float>, _ v1: SIMD4<Float>, _ v2: SIMD4<Float>, _ v3: SIMD4<Float>)
    -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
    let t0 = SIMD4(v0[0], v1[0], v0[1], v1[1]), t1 = SIMD4(v2[0], v3[0], v2[1], v3[1])
    let t2 = SIMD4(v0[2], v1[2], v0[3], v1[3]), t3 = SIMD4(v2[2], v3[2], v2[3], v3[3])
    return (SIMD4(lowHalf: t0.lowHalf, highHalf: t1.lowHalf), SIMD4(lowHalf: t0.highHalf, highHalf: t1.highHalf),
            SIMD4(lowHalf: t2.lowHalf, highHalf: t3.lowHalf), SIMD4(lowHalf: t2.highHalf, highHalf: t3.highHalf))
}
