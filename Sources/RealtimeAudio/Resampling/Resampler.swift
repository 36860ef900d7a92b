/// A streaming, band-limited sample-rate converter between any two integer rates.
///
/// Design (see ``ResamplerFilter`` for the filters and ``ResamplerQuality`` for their measured figures):
/// - **One FIR stage**: a polyphase filter with exact phases for the reduced ratio `L / M`; ratios with small `L`
///   and `M` compute sixteen outputs per pass (decimations by 2 and 3 thirty-two), four per vector (decimations
///   with the symmetric filter folded, exact halvings on a ÷2 half-band when that is shorter); `high` runs its long
///   filters by FFT convolution, in frames;
///   downsamplings by 3.4 or more divide the rate first with a short ÷2 or ÷3 prestage.
/// - **Delay compensated**: output sample `k` is the signal at input time `k × inRate / outRate`, not later; the
///   filters' half-lengths are held back as lookahead instead (``latency``). A file converted in one go therefore
///   lines up with its input sample for sample, and a live stream is late by only that lookahead.
/// - **Exact counts, no drift**: output `k` is computed from the integer pair `(k × M) / L`, so the
///   cumulative output follows the exact rational ratio over any length. ``finish(into:)`` drains the tail
///   (reading zeros past the end) so a stream of `n` inputs yields exactly `round(n × outRate / inRate)` outputs.
/// - **Chunking never changes the output**: each output is computed from the same samples in the same order
///   whatever the chunk boundaries (FFT frames sit at fixed positions of the stream), so any chunking is
///   bit-identical to one block. An empty output is a normal result.
/// - **Equal rates** are accepted and run the preset's low-pass at that rate (not a copy): `rtaudio` and the
///   pipelines skip the resampler when the rates match.
/// - **Non-finite input** (NaN, ±infinity) is replaced by 0 as it enters: one bad sample costs a click, never a
///   stream of NaN.
///
/// One instance per stream (a value type; copying it copies its history). `process` allocates nothing; the
/// history buffers are allocated once at `init`, and filter tables are shared between instances.
public struct Resampler: Sendable {
    /// The filters, shared read-only with every resampler of the same configuration.
    public let filter: ResamplerFilter

    /// The polyphase stage, the folded or dealt decimator, the block polyphase stage, the FFT convolution or a
    /// prestage chain (see ``ResamplerFilter``): one is set.
    private var polyphase: PolyphaseStage?
    private var folded: FoldedDecimator?
    private var block: BlockPolyphase?
    private var fast: FastConvolution?
    private var chain: ChainStage?
    private var dealt: DealtDecimator?

    /// Creates a resampler, sharing the filter bank of its configuration (built on first use).
    ///
    /// - Throws: ``ResamplerError/ratioTooFine(input:output:)`` for rates with almost no common factor.
    /// - Complexity: one or two allocations (history buffers); the filter bank is built once per process.
    public init(from input: SampleRate, to output: SampleRate, quality: ResamplerQuality = .voice) throws(ResamplerError) {
        self.init(filter: try ResamplerFilter.shared(from: input.hertz, to: output.hertz, quality: quality))
    }

    /// Creates a resampler on a filter bank the caller holds.
    public init(filter: ResamplerFilter) {
        self.init(filter: filter, cleanInput: false)
    }

    /// With `cleanInput`, the input is known free of NaN and ±infinity (a prestage's output) and is not checked by
    /// the direct stages a chain ends in (polyphase, folded, block); FFT convolution keeps its check, fused into its
    /// de-interleave, and no chain ends in one.
    init(filter: ResamplerFilter, cleanInput: Bool) {
        self.filter = filter
        switch filter.stage {
        case .polyphase(let bank): polyphase = PolyphaseStage(bank: bank, cleanInput: cleanInput)
        case .folded(let bank): folded = FoldedDecimator(bank: bank, cleanInput: cleanInput)
        case .block(let bank): block = BlockPolyphase(bank: bank, cleanInput: cleanInput)
        case .fast(let bank): fast = FastConvolution(bank: bank)
        case .dealt(let bank): dealt = DealtDecimator(bank: bank, cleanInput: cleanInput)
        case .chain(let pre, let next): chain = ChainStage(pre: pre, next: next, phases: filter.phases, step: filter.step)
        }
    }

    /// The input rate in hertz.
    public var inputRate: Int { filter.inputRate }
    /// The output rate in hertz.
    public var outputRate: Int { filter.outputRate }

    /// The lookahead, in output samples: how far output lags, at most, the input it has been given (the filters'
    /// half lengths; for `high`'s FFT convolution, that plus the frames it waits for, the lag then varying between
    /// the two). Content is not delayed (see the type's documentation); this is the streaming latency, and one
    /// `process` call never writes more than `count × outRate / inRate + latency` (rounded up) outputs.
    public var latency: Double { filter.latencySeconds * Double(filter.outputRate) }

    /// ``latency`` in seconds.
    public var latencySeconds: Double { filter.latencySeconds }

    /// Input samples consumed since the start of the stream (or the last `finish` / `reset`).
    public var inputCount: Int {
        polyphase?.consumed ?? folded?.consumed ?? block?.consumed ?? fast?.consumed ?? dealt?.consumed ?? chain!.consumed
    }
    /// Output samples produced since the start of the stream (or the last `finish` / `reset`).
    public var outputCount: Int {
        polyphase?.produced ?? folded?.produced ?? block?.produced ?? fast?.produced ?? dealt?.produced ?? chain!.produced
    }

    /// The most samples `process` can write for `count` input samples, **in any state** of the stream: size an output
    /// buffer once with it (for the largest chunk you will pass) and every call consumes its whole input.
    ///
    /// The bound is `ceil(count × outRate / inRate)` plus a fixed burst: the outputs one input sample can complete
    /// (upsampling), and for `high`'s FFT convolution the frames it releases at once. It does not depend on what the
    /// stream has seen, so a buffer sized at the start of a stream stays large enough for its whole life.
    /// A smaller buffer is valid too: `process` then stops when it is full and returns what it consumed.
    /// - Complexity: O(1).
    public func outputCapacity(forInput count: Int) -> Int {
        polyphase?.maximumOutputCount(forInput: count) ?? folded?.maximumOutputCount(forInput: count)
            ?? block?.maximumOutputCount(forInput: count) ?? fast?.maximumOutputCount(forInput: count)
            ?? dealt?.maximumOutputCount(forInput: count) ?? chain!.maximumOutputCount(forInput: count)
    }

    /// The samples `process` writes **now** for `count` more input samples, given room for them: exact, and
    /// dependent on the stream's state (what it holds back). For sizing buffers use ``outputCapacity(forInput:)``.
    /// - Complexity: O(1).
    public func readyCount(forInput count: Int) -> Int {
        polyphase?.readyCount(forInput: count) ?? folded?.readyCount(forInput: count)
            ?? block?.readyCount(forInput: count) ?? fast?.readyCount(forInput: count)
            ?? dealt?.readyCount(forInput: count) ?? chain!.readyCount(forInput: count)
    }

    /// The most samples ``finish(into:)`` can write, in any state of the stream: the lookahead and the burst of
    /// ``outputCapacity(forInput:)``. Size the drain buffer once with it.
    /// - Complexity: O(1).
    public var finishCapacity: Int { outputCapacity(forInput: 0) + Int(latency.rounded(.up)) + 2 }

    /// The number of samples ``finish(into:)`` writes now: `round(inputCount × outRate / inRate)` (ties up) minus
    /// ``outputCount``; never more than ``finishCapacity``.
    public var pendingOutputCount: Int {
        polyphase?.pendingOutputCount ?? folded?.pendingOutputCount ?? block?.pendingOutputCount
            ?? fast?.pendingOutputCount ?? dealt?.pendingOutputCount ?? chain!.pendingOutputCount
    }

    /// Converts a chunk.
    ///
    /// Consumes input until it runs out or `output` is full, and writes every output sample the input so far
    /// determines. With `output.count >= outputCapacity(forInput: input.count)` all input is consumed; with less,
    /// call again with the rest (every call with input and room makes progress).
    /// - Returns: input samples consumed and output samples written; `(n, 0)` is normal while the first
    ///   ``latency`` samples fill.
    /// - Complexity: ``ResamplerFilter/multiplyAddsPerOutput`` multiply-adds per output sample; no allocation.
    public mutating func process(
        _ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>
    ) -> (consumed: Int, produced: Int) {
        if polyphase != nil { return polyphase!.process(input, into: output) }
        if folded != nil { return folded!.process(input, into: output) }
        if block != nil { return block!.process(input, into: output) }
        if fast != nil { return fast!.process(input, into: output) }
        if dealt != nil { return dealt!.process(input, into: output) }
        return chain!.process(input, into: output)
    }

    /// Ends the stream: writes the outputs still owed (``pendingOutputCount``), reading zeros past the end, then
    /// resets for a new stream.
    ///
    /// - Returns: the samples written.
    /// - Precondition: `output.count >= pendingOutputCount` (``finishCapacity`` always is); the buffer is the
    ///   caller's own, sized from the configuration, so no input data can reach this check.
    public mutating func finish(into output: UnsafeMutableBufferPointer<Float>) -> Int {
        let owed = pendingOutputCount
        precondition(output.count >= owed, "Resampler.finish: output buffer too small")
        let room = UnsafeMutableBufferPointer(rebasing: output[..<owed])
        if polyphase != nil { return polyphase!.finish(into: room, count: owed) }
        if folded != nil { return folded!.finish(into: room, count: owed) }
        if block != nil { return block!.finish(into: room, count: owed) }
        if fast != nil { return fast!.finish(into: room, count: owed) }
        if dealt != nil { return dealt!.finish(into: room, count: owed) }
        return chain!.finish(into: room, count: owed)
    }

    /// Drops the history and starts a new stream (barge-in). Allocation-free.
    public mutating func reset() {
        polyphase?.reset()
        folded?.reset()
        block?.reset()
        fast?.reset()
        chain?.reset()
        dealt?.reset()
    }
}

/// The streaming state of one polyphase filter, one dot product per output, eight outputs per pass where their
/// windows have arrived (``dot8``; the rest one at a time, with the same result). Like `FoldedDecimator`:
/// `process` consumes input until it runs out or the output is full (a full output still takes the input that
/// completes no further output), and `finish(into:count:)` writes exactly `count` more outputs, reading zeros past
/// the end, then resets.
struct PolyphaseStage {
    let bank: PolyphaseBank

    /// Input samples the buffer takes per refill beyond one filter window.
    private static let block = 1024

    private var buffer: [Float]
    /// Valid samples in `buffer`.
    private var filled: Int
    /// Absolute input index of `buffer[0]` (negative at the start: the zeros before the stream).
    private var bufferStart: Int
    /// Index `k` of the next output sample, its input position `(k × M) / L`, and its output-order row `k mod L`.
    private(set) var produced = 0
    private var position = 0
    private var row = 0
    /// Input samples consumed since the start of the stream.
    private(set) var consumed = 0

    /// Input another stage has already cleaned of NaN and ±infinity (in a ``ChainStage``): not checked again.
    private let cleanInput: Bool

    init(bank: PolyphaseBank, cleanInput: Bool = false) {
        self.bank = bank
        self.cleanInput = cleanInput
        buffer = [Float](repeating: 0, count: bank.taps + Self.block)
        filled = bank.taps / 2 - 1
        bufferStart = -filled
    }

    func readyCount(forInput count: Int) -> Int {
        // Output k is ready once input index floor(k M / L) + taps/2 has arrived.
        let lastInput = consumed + count - 1 - bank.taps / 2
        guard lastInput >= 0 else { return 0 }
        // The largest k with floor(k M / L) <= lastInput.
        let lastOutput = ((lastInput + 1) * bank.phases - 1) / bank.step
        return max(0, lastOutput + 1 - produced)
    }

    var pendingOutputCount: Int { max(0, (2 * consumed * bank.phases + bank.step) / (2 * bank.step) - produced) }

    func maximumOutputCount(forInput count: Int) -> Int {
        directStageBound(count, phases: bank.phases, step: bank.step)
    }

    mutating func process(
        _ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>
    ) -> (consumed: Int, produced: Int) {
        var used = 0
        var written = 0
        let clean = cleanInput
        run(into: output, written: &written) { room in
            let n = min(room.count, input.count - used)
            if n > 0, let src = input.baseAddress, let dst = room.baseAddress {
                dst.update(from: src + used, count: n)
                if !clean { zeroNonFinite(dst, n) }
            }
            used += n
            return n
        }
        consumed += used
        return (used, written)
    }

    mutating func finish(into output: UnsafeMutableBufferPointer<Float>, count: Int) -> Int {
        precondition(output.count >= count, "Resampler.finish: output buffer too small")
        var written = 0
        run(into: UnsafeMutableBufferPointer(rebasing: output[..<count]), written: &written) { room in
            room.update(repeating: 0)
            return room.count
        }
        reset()
        return written
    }

    mutating func reset() {
        let zeros = bank.taps / 2 - 1
        buffer.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        filled = zeros
        bufferStart = -zeros
        produced = 0
        position = 0
        row = 0
        consumed = 0
    }

    /// Computes outputs while the buffer holds their windows, refilling it from `refill` (which writes up to
    /// `room.count` samples and returns how many) until `refill` gives nothing or `output` is full.
    private mutating func run(
        into output: UnsafeMutableBufferPointer<Float>, written: inout Int,
        refill: (UnsafeMutableBufferPointer<Float>) -> Int
    ) {
        let taps = bank.taps, half = taps / 2
        let capacity = buffer.count
        var filled = self.filled, bufferStart = self.bufferStart
        var produced = self.produced, position = self.position, row = self.row
        let h = UnsafeRawPointer(bank.ordered), stride = 16 * bank.orderedRows, rows = bank.phases
        bank.steps.withUnsafeBufferPointer { steps in
        bank.octets.withUnsafeBufferPointer { octets in
            buffer.withUnsafeMutableBufferPointer { buf in
                let x = buf.baseAddress!
                while true {
                    // Tight loops: a pointer to the next output's window, and its row's precomputed steps.
                    if written < output.count, position + half - bufferStart < filled {
                        var window = x + (position - half + 1 - bufferStart)
                        let lastWindow = x + (filled - taps)
                        let out = output.baseAddress!
                        var n = written
                        let end = output.count
                        var j = row
                        // Eight outputs per pass while their windows have all arrived: they share the loop, one
                        // coefficient pointer and the final reductions (see `dot8`). The last few go one at a
                        // time; they come out the same.
                        while end &- n >= 8 {
                            let g = octets[j]
                            let w7 = window + Int(g.offset7)
                            if w7 > lastWindow || g.copies != 0 { break }
                            let (low, high) = dot8(window, window + Int(g.offset1), window + Int(g.offset2),
                                                   window + Int(g.offset3), window + Int(g.offset4),
                                                   window + Int(g.offset5), window + Int(g.offset6), w7,
                                                   h + 16 &* j, stride, taps)
                            UnsafeMutableRawPointer(out + n).storeBytes(of: low, as: SIMD4<Float>.self)
                            UnsafeMutableRawPointer(out + n + 4).storeBytes(of: high, as: SIMD4<Float>.self)
                            n &+= 8
                            window += Int(g.advance)
                            j = Int(g.next)
                        }
                        while n < end, window <= lastWindow {
                            let step = steps[j]
                            out[n] = step.impulse >= 0 ? window[Int(step.impulse)] : dot(window, h + 16 &* j, stride, taps)
                            n &+= 1
                            window += Int(step.advance)
                            j = j &+ 1 == rows ? 0 : j &+ 1
                            // Back to octets after a copy.
                            if step.impulse >= 0, end &- n >= 8, window + Int(octets[j].offset7) <= lastWindow { break }
                        }
                        let made = n - written
                        written = n
                        produced += made
                        position = window - x + half - 1 + bufferStart
                        row = j
                        if made > 0 { continue }
                    }
                    // A full output still takes the input that completes no further window, so a caller who
                    // sized `output` with `outputCapacity(forInput:)` always has all input consumed.
                    // Never past the input that completes the outputs the room holds (see `inputLimit`).
                    let allowed = inputLimit(produced: produced, room: output.count - written) { ($0 * bank.step) / bank.phases + half }
                    let limit = allowed - (bufferStart + filled)
                    if limit <= 0 { break }
                    // Keep only what the next window needs, then refill.
                    let keepFrom = min(position - half + 1 - bufferStart, filled)
                    if keepFrom > 0 {
                        UnsafeMutableRawPointer(x).copyMemory(from: x + keepFrom, byteCount: 4 * (filled - keepFrom))
                        filled -= keepFrom
                        bufferStart += keepFrom
                    }
                    let added = refill(UnsafeMutableBufferPointer(start: x + filled, count: min(capacity - filled, limit)))
                    if added == 0 { break }
                    filled += added
                    // Windows past the buffered data (only with extreme downsampling): skip what they never read.
                    let skip = position - half + 1 - bufferStart
                    if skip > filled {
                        bufferStart += filled
                        filled = 0
                    }
                }
            }
        }
        }
        self.filled = filled
        self.bufferStart = bufferStart
        self.produced = produced
        self.position = position
        self.row = row
    }
}

// MARK: - Array conveniences (they allocate)

extension Resampler {
    /// Converts a whole signal in one go: `process` then `finish`, so the result has exactly
    /// `round(input.count × outRate / inRate)` samples aligned with the input.
    public mutating func convert(_ input: [Float]) -> [Float] {
        var output = [Float](repeating: 0, count: outputCapacity(forInput: input.count))
        let n = input.withUnsafeBufferPointer { src in output.withUnsafeMutableBufferPointer { process(src, into: $0).produced } }
        output.removeLast(output.count - n)
        var tail = [Float](repeating: 0, count: pendingOutputCount)
        _ = tail.withUnsafeMutableBufferPointer { finish(into: $0) }
        return output + tail
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
