// What the kernels share: the stage protocol, the input refill loop, output bounds, the dot products and the
// transposes their inner loops are built from.

/// The input count a stage may hold with room for `room` more outputs, `produced` written so far: every input up
/// to the one that completes the last output the room holds, none that completes the output after it; with no
/// room, only the input that completes no further output. `lastQuiet(k)` is the largest input count that does not
/// complete output `k`. When one input completes several outputs (upsampling), those past the room wait in the
/// stage: at most `ceil(L / M)`, which ``directStageBound(_:phases:step:)`` counts.
///
/// Why one rule for every stage: a stage that took more (a whole refill block whatever the room) owed outputs past
/// any bound, so no buffer sized from the configuration could be trusted after a call with a small one.
@inline(__always)
func inputLimit(produced: Int, room: Int, lastQuiet: (Int) -> Int) -> Int {
    let k = produced + room
    return room == 0 ? lastQuiet(k) : max(lastQuiet(k), lastQuiet(k - 1) + 1)
}

/// The contract of the block stages, as `PolyphaseStage`'s: `process` consumes input until it runs out or the
/// output is full (a full output still takes the input that completes no further output), and
/// `finish(into:count:)` writes exactly `count` more outputs, reading zeros past the end, then resets.
/// The loop of every history-keeping stage's `process`: compute what the history completes, then refill it, until
/// the input runs out or the output is full. A full output still takes the input that completes no further output,
/// so a caller who sized `output` with `maximumOutputCount(forInput:)` always has all input consumed.
/// - `emit(consumed)`: computes the outputs the history completes, as many as the output holds; true when it is full.
/// - `completing()`: the input count, from the stream's start, the stage may hold with the room left
///   (``inputLimit(produced:room:lastQuiet:)``); input is never taken past it.
/// - `makeRoom(consumed)`: drops the history the next outputs no longer read; returns how many samples fit.
/// - `append(source, count, consumed)`: adds `count` samples to the history after the `consumed` it holds.
/// Returns the input samples taken.
@inline(__always)
func refill(from input: UnsafeBufferPointer<Float>, consumed: inout Int, emit: (_ consumed: Int) -> Bool,
            completing: () -> Int, makeRoom: (_ consumed: Int) -> Int,
            append: (_ source: UnsafePointer<Float>, _ count: Int, _ consumed: Int) -> Void) -> Int {
    var used = 0
    while true {
        _ = emit(consumed)
        let limit = min(input.count - used, completing() - consumed)
        if limit <= 0 { break }
        let n = min(limit, makeRoom(consumed))
        if n <= 0 { break }
        append(input.baseAddress! + used, n, consumed)
        used += n
        consumed += n
    }
    return used
}

/// A resampling kernel's streaming state: one way of running a filter (``ResamplerFilter/Stage`` picks which) over
/// one stream, for ``Resampler``.
///
/// The contract every kernel keeps, so the façade and the tests can treat them alike:
/// - **What it owns**: its history (the input its next outputs still need) and counters; its filter lives in a
///   shared, immutable bank. Buffers are allocated in `init`; nothing on the per-chunk path allocates.
/// - **Timing**: output `k` is the input at time `k × step / phases` (input samples), delay compensated: the
///   filter's half-length is held back as lookahead, so an output is written once the input it needs has come.
/// - **`process`** consumes input until it runs out or `output` is full and writes every output the input so far
///   determines; a full output still takes the input that completes no further output. With room for
///   ``maximumOutputCount(forInput:)`` it consumes all its input. Any chunking gives the same outputs, bit for bit.
///   Non-finite input is read as 0 unless the kernel was told its input is clean (a prestage's output).
/// - **`finish(into:count:)`** writes exactly `count` more outputs (reading zeros past the end), then resets;
///   ``pendingOutputCount`` is the `count` that ends the stream at `round(consumed × phases / step)` outputs.
/// - **`reset`** forgets the stream (history, counters) without allocating.
protocol BlockStage {
    /// The reduced ratio `phases / step` (output rate / input rate).
    var phases: Int { get }
    var step: Int { get }
    /// Input samples taken and output samples written since the stream began (or the last reset).
    var consumed: Int { get }
    var produced: Int { get }
    /// The outputs `process` writes now for `count` more inputs, given room: exact, state-dependent.
    func readyCount(forInput count: Int) -> Int
    /// The most outputs `process` can write for `count` inputs in any state: an upper bound for sizing buffers.
    func maximumOutputCount(forInput count: Int) -> Int
    mutating func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> (consumed: Int, produced: Int)
    mutating func reset()
}

/// A kernel with `L = 1` (the dealt and folded decimators): output `k` reads inputs up to `k × step + lookahead`.
protocol DecimatingStage: BlockStage {
    /// Input samples past an output's own position that it reads.
    var lookahead: Int { get }
}

extension DecimatingStage {
    var phases: Int { 1 }

    func readyCount(forInput count: Int) -> Int {
        // Output k is ready once input k × step + lookahead has arrived.
        let lastInput = consumed + count - 1 - lookahead
        return lastInput < 0 ? 0 : max(0, lastInput / step + 1 - produced)
    }

    func maximumOutputCount(forInput count: Int) -> Int { directStageBound(count, phases: 1, step: step) }
}

extension BlockStage {
    /// The outputs still owed: `round(consumed × phases / step)` (ties up) less those written.
    var pendingOutputCount: Int { max(0, (2 * consumed * phases + step) / (2 * step) - produced) }

    mutating func finish(into output: UnsafeMutableBufferPointer<Float>, count: Int) -> Int {
        precondition(output.count >= count, "Resampler.finish: output buffer too small")
        var written = 0
        // The tail reads zeros past the end of the stream.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 64) { z in
            z.initialize(repeating: 0)
            while written < count {
                let (_, made) = process(UnsafeBufferPointer(z), into: UnsafeMutableBufferPointer(rebasing: output[written..<count]))
                written += made
            }
        }
        reset()
        return written
    }
}

/// `ceil(count × L / M)`, saturating at `Int.max / 4` (a bound for any count a caller passes, never a trap);
/// 0 for a negative count.
func ceilRatio(_ count: Int, _ L: Int, _ M: Int) -> Int {
    guard count > 0 else { return 0 }
    let (high, low) = count.multipliedFullWidth(by: L)
    guard high == 0, low < UInt(Int.max / 4) else { return Int.max / 4 }
    return (Int(low) + M - 1) / M
}

/// The bound of a direct stage (polyphase, folded, block, dealt), which emits every output its input determines as
/// room allows: `ceil(count L / M)` new outputs, plus those one input sample completes that a full output left
/// behind, plus rounding.
func directStageBound(_ count: Int, phases L: Int, step M: Int) -> Int {
    let perInput = (L + M - 1) / M
    return min(Int.max / 2, ceilRatio(count, L, M) + 2 * perInput + 2)
}

/// Replaces NaN and ±infinity by 0 in place. `x - x` is 0 for every finite x and NaN otherwise, so the test is
/// one subtract and one compare per sample, which the compiler vectorizes.
@inline(__always)
func zeroNonFinite(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
    for i in 0..<count {
        let v = p[i]
        p[i] = v - v == 0 ? v : 0
    }
}

/// Dot product of `count` (a multiple of 4) floats `x` with a row of ``PolyphaseBank/ordered`` (`h` its first
/// block, the next `stride` bytes on): one four-lane accumulator taking four products per step in order, then
/// `(a0 + a2) + (a1 + a3)`. ``dot8`` computes eight of them with exactly these operations per lane, so an output is
/// the same whichever of the two computes it (chunking never changes the output).
@inline(__always)
func dot(_ x: UnsafePointer<Float>, _ h: UnsafeRawPointer, _ stride: Int, _ count: Int) -> Float {
    let n = count &* 4
    let xp = UnsafeRawPointer(x) + n
    var hp = h
    var i = 0 &- n
    var a = xp.loadUnaligned(fromByteOffset: i, as: SIMD4<Float>.self) * hp.load(as: SIMD4<Float>.self)
    i &+= 16
    while i != 0 {
        hp += stride
        a += xp.loadUnaligned(fromByteOffset: i, as: SIMD4<Float>.self) * hp.load(as: SIMD4<Float>.self)
        i &+= 16
    }
    return (a[0] + a[2]) + (a[1] + a[3])
}

/// Eight dot products of `count` (a multiple of 4) floats, `x0 ... x7` with eight consecutive rows of
/// ``PolyphaseBank/ordered`` from `h` (`stride` bytes per block), as the lanes of two vectors.
///
/// Why: a lone dot product pays its loop control and a horizontal reduction per output (about 25 instructions at
/// baseline x86-64 on top of its taps); eight side by side share the loop and one coefficient pointer (their rows'
/// blocks are one contiguous 128 bytes), and their reductions become two 4x4 transposes and a few adds. Per lane
/// the operations are ``dot(_:_:_:_:)``'s, in its order.
@inline(__always)
func dot8(_ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ x2: UnsafePointer<Float>, _ x3: UnsafePointer<Float>,
          _ x4: UnsafePointer<Float>, _ x5: UnsafePointer<Float>, _ x6: UnsafePointer<Float>, _ x7: UnsafePointer<Float>,
          _ h: UnsafeRawPointer, _ stride: Int, _ count: Int) -> (SIMD4<Float>, SIMD4<Float>) {
    let n = count &* 4
    // Window bases at the ends and one negative byte offset climbing to zero steps all eight windows.
    let p0 = UnsafeRawPointer(x0) + n, p1 = UnsafeRawPointer(x1) + n
    let p2 = UnsafeRawPointer(x2) + n, p3 = UnsafeRawPointer(x3) + n
    let p4 = UnsafeRawPointer(x4) + n, p5 = UnsafeRawPointer(x5) + n
    let p6 = UnsafeRawPointer(x6) + n, p7 = UnsafeRawPointer(x7) + n
    @inline(__always)
    func product(_ p: UnsafeRawPointer, _ i: Int, _ c: UnsafeRawPointer, _ k: Int) -> SIMD4<Float> {
        p.loadUnaligned(fromByteOffset: i, as: SIMD4<Float>.self) * c.load(fromByteOffset: 16 &* k, as: SIMD4<Float>.self)
    }
    var hp = h
    var i = 0 &- n
    var a0 = product(p0, i, hp, 0), a1 = product(p1, i, hp, 1), a2 = product(p2, i, hp, 2), a3 = product(p3, i, hp, 3)
    var a4 = product(p4, i, hp, 4), a5 = product(p5, i, hp, 5), a6 = product(p6, i, hp, 6), a7 = product(p7, i, hp, 7)
    i &+= 16
    while i != 0 {
        hp += stride
        a0 += product(p0, i, hp, 0); a1 += product(p1, i, hp, 1); a2 += product(p2, i, hp, 2); a3 += product(p3, i, hp, 3)
        a4 += product(p4, i, hp, 4); a5 += product(p5, i, hp, 5); a6 += product(p6, i, hp, 6); a7 += product(p7, i, hp, 7)
        i &+= 16
    }
    return (transposedSums(a0, a1, a2, a3), transposedSums(a4, a5, a6, a7))
}

/// Lane `k` is `(a_k[0] + a_k[2]) + (a_k[1] + a_k[3])`, as `dot` sums: half a 4x4 transpose, two adds, the halves
/// moved, one add (eleven instructions).
@inline(__always)
func transposedSums(_ a0: SIMD4<Float>, _ a1: SIMD4<Float>, _ a2: SIMD4<Float>, _ a3: SIMD4<Float>) -> SIMD4<Float> {
    // Half a transpose, the first adds, then the halves moved: u01 = (a0₀+a0₂, a1₀+a1₂, a0₁+a0₃, a1₁+a1₃).
    let u01 = SIMD4(a0[0], a1[0], a0[1], a1[1]) + SIMD4(a0[2], a1[2], a0[3], a1[3])
    let u23 = SIMD4(a2[0], a3[0], a2[1], a3[1]) + SIMD4(a2[2], a3[2], a2[3], a3[3])
    // The halves move as doubles: as float shuffles LLVM moves them ahead of the adds (23 instructions, not 14).
    let d01 = unsafeBitCast(u01, to: SIMD2<Double>.self), d23 = unsafeBitCast(u23, to: SIMD2<Double>.self)
    return unsafeBitCast(SIMD2(d01[0], d23[0]), to: SIMD4<Float>.self) + unsafeBitCast(SIMD2(d01[1], d23[1]), to: SIMD4<Float>.self)
}

/// `E[p] ... E[p + 3]` for `x` at `p` and `M = 2`: row `i` is `x[i], x[i + 2], x[i + 4], x[i + 6]`, the even and
/// odd halves of two eight-sample loads.
@inline(__always)
func evenOddRows(_ x: UnsafePointer<Float>) -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
    let q = UnsafeRawPointer(x)
    let a = q.loadUnaligned(as: SIMD8<Float>.self), b = q.loadUnaligned(fromByteOffset: 8, as: SIMD8<Float>.self)
    return (a.evenHalf, a.oddHalf, b.evenHalf, b.oddHalf)
}

/// `E[p] ... E[p + 3]` for `x` at `p`: row `i` is `x[i], x[i + M], x[i + 2M], x[i + 3M]`, four loads transposed in
/// the unpack/move-halves pattern.
@inline(__always)
func transposed(_ x: UnsafePointer<Float>, _ M: Int) -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
    let q = UnsafeRawPointer(x)
    let v0 = q.loadUnaligned(as: SIMD4<Float>.self), v1 = q.loadUnaligned(fromByteOffset: 4 &* M, as: SIMD4<Float>.self)
    let v2 = q.loadUnaligned(fromByteOffset: 8 &* M, as: SIMD4<Float>.self)
    let v3 = q.loadUnaligned(fromByteOffset: 12 &* M, as: SIMD4<Float>.self)
    let t0 = SIMD4(v0[0], v1[0], v0[1], v1[1]), t1 = SIMD4(v2[0], v3[0], v2[1], v3[1])
    let t2 = SIMD4(v0[2], v1[2], v0[3], v1[3]), t3 = SIMD4(v2[2], v3[2], v2[3], v3[3])
    return (SIMD4(lowHalf: t0.lowHalf, highHalf: t1.lowHalf), SIMD4(lowHalf: t0.highHalf, highHalf: t1.highHalf),
            SIMD4(lowHalf: t2.lowHalf, highHalf: t3.lowHalf), SIMD4(lowHalf: t2.highHalf, highHalf: t3.highHalf))
}

/// Sixteen consecutive outputs, four vectors.
struct OutputBlock {
    var v0 = SIMD4<Float>(), v1 = SIMD4<Float>(), v2 = SIMD4<Float>(), v3 = SIMD4<Float>()

    @inline(__always)
    mutating func add(_ other: OutputBlock) {
        v0 += other.v0
        v1 += other.v1
        v2 += other.v2
        v3 += other.v3
    }

    @inline(__always)
    func store(to p: UnsafeMutablePointer<Float>) {
        let o = UnsafeMutableRawPointer(p)
        o.storeBytes(of: v0, as: SIMD4<Float>.self)
        o.storeBytes(of: v1, toByteOffset: 16, as: SIMD4<Float>.self)
        o.storeBytes(of: v2, toByteOffset: 32, as: SIMD4<Float>.self)
        o.storeBytes(of: v3, toByteOffset: 48, as: SIMD4<Float>.self)
    }
}
