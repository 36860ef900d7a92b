/// A streaming, band-limited sample-rate converter between any two integer rates.
///
/// Design (see ``ResamplerFilter`` for the filters and ``ResamplerQuality`` for their measured figures):
/// - **One FIR stage**: a polyphase filter with exact phases for the reduced ratio `L / M`; ratios with small `L`
///   and `M` compute sixteen outputs per pass (decimations by 2 and 3 thirty-two), four per vector (decimations
///   with the symmetric filter folded, exact halvings on a ÷2 half-band when that is shorter); `high` runs its long
///   filters by FFT convolution, in frames;
///   downsamplings by 3.4 or more divide the rate first with a short ÷2 or ÷3 prestage.
/// - **Delay compensated**: output sample `k` is the signal at input time `k × inRate / outRate`, not later; the
///   filters' half-lengths are held back as lookahead instead (``latencySeconds``). A file converted in one go therefore
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
/// An ``AudioStream`` of `Float` samples: the conventions there hold (units, buffers, capacity, threading).
/// One instance per stream (a value type; copying it copies its history). `process` allocates nothing; the
/// history buffers are allocated once at `init`, and filter tables are shared between instances.
public struct Resampler: AudioStream {
    /// The filters, shared read-only with every resampler of the same configuration.
    public let filter: ResamplerFilter

    /// Which kernel runs the plan (``ResamplerFilter``): every member switches on it once per call.
    private let kind: Kind
    private enum Kind { case polyphase, folded, block, fast, dealt, chain }

    /// The kernel's state: the one `kind` names is set. Kept as optionals rather than as an enum's payloads
    /// because a payload cannot be mutated in place: taking it out and putting it back retains and releases its
    /// buffers on every call, measured at 1 to 1.5 % more instructions per sample on 20 ms chunks; a forced
    /// optional mutates where it lies. Every kernel keeps the same contract (`BlockStage`), so each member is
    /// the same call in every case, statically dispatched (no `any BlockStage` box on the per-chunk path).
    private var polyphase: PolyphaseStage?
    private var folded: FoldedDecimator?
    private var block: BlockPolyphase?
    private var fast: FastConvolution?
    private var dealt: DealtDecimator?
    private var chain: ChainStage?

    /// Creates a resampler, sharing the filter bank of its configuration (built on first use).
    ///
    /// - Throws: ``ResamplerError/ratioTooFine(input:output:)`` for rates with almost no common factor.
    /// - Complexity: one or two allocations (history buffers); the filter bank is built once per process.
    public init(from input: SampleRate, to output: SampleRate, quality: ResamplerQuality = .voice) throws(ResamplerError) {
        self.init(filter: try ResamplerFilter.shared(from: input, to: output, quality: quality))
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
        tailCount = Int((filter.latencySeconds * Double(filter.outputRate.hertz)).rounded(.up)) + 2
        switch filter.stage {
        case .polyphase(let bank): kind = .polyphase; polyphase = PolyphaseStage(bank: bank, cleanInput: cleanInput)
        case .folded(let bank): kind = .folded; folded = FoldedDecimator(bank: bank, cleanInput: cleanInput)
        case .block(let bank): kind = .block; block = BlockPolyphase(bank: bank, cleanInput: cleanInput)
        case .fast(let bank): kind = .fast; fast = FastConvolution(bank: bank)
        case .dealt(let bank): kind = .dealt; dealt = DealtDecimator(bank: bank, cleanInput: cleanInput)
        case .chain(let pre, let next):
            kind = .chain
            chain = ChainStage(pre: pre, next: next, phases: filter.phases, step: filter.step)
        }
    }

    /// The input rate.
    public var inputRate: SampleRate { filter.inputRate }
    /// The output rate.
    public var outputRate: SampleRate { filter.outputRate }

    /// The lookahead, in seconds: how far output lags, at most, the input it has been given (the filters' half
    /// lengths; for `high`'s FFT convolution, that plus the frames it waits for, the lag then varying between the
    /// two). Content is not delayed (see the type's documentation); this is the streaming latency.
    public var latencySeconds: Double { filter.latencySeconds }

    /// Input samples consumed since the start of the stream (or the last `finish` / `reset`).
    public var inputCount: Int {
        switch kind {
        case .polyphase: polyphase!.consumed
        case .folded: folded!.consumed
        case .block: block!.consumed
        case .fast: fast!.consumed
        case .dealt: dealt!.consumed
        case .chain: chain!.consumed
        }
    }
    /// Output samples produced since the start of the stream (or the last `finish` / `reset`).
    public var outputCount: Int {
        switch kind {
        case .polyphase: polyphase!.produced
        case .folded: folded!.produced
        case .block: block!.produced
        case .fast: fast!.produced
        case .dealt: dealt!.produced
        case .chain: chain!.produced
        }
    }

    /// The most samples ``process(_:into:)`` can write for `count` input samples, and with `count` 0 the most
    /// ``finish(into:)`` writes, **in any state** of the stream: size an output buffer once with it (for the largest
    /// chunk you will pass) and every call consumes its whole input.
    ///
    /// The bound is `ceil(count × outRate / inRate)` plus a fixed burst (the outputs one input sample can complete
    /// when upsampling; for `high`'s FFT convolution, the frames it releases at once) plus the lookahead `finish`
    /// releases. It does not depend on what the stream has seen, so a buffer sized at the start of a stream stays
    /// large enough for its whole life. A smaller buffer is valid too: `process` then stops when it is full and
    /// returns what it consumed.
    /// - Complexity: O(1).
    public func maximumOutputCount(forInput count: Int) -> Int {
        kernelOutputCount(forInput: count) + tailCount
    }

    /// What the kernel's `process` can write for `count` inputs, in any state.
    func kernelOutputCount(forInput count: Int) -> Int {
        switch kind {
        case .polyphase: polyphase!.maximumOutputCount(forInput: count)
        case .folded: folded!.maximumOutputCount(forInput: count)
        case .block: block!.maximumOutputCount(forInput: count)
        case .fast: fast!.maximumOutputCount(forInput: count)
        case .dealt: dealt!.maximumOutputCount(forInput: count)
        case .chain: chain!.maximumOutputCount(forInput: count)
        }
    }

    /// The lookahead in output samples, rounded up, and the rounding of the stream's total: what `finish` owes
    /// beyond a chunk's burst.
    private let tailCount: Int

    /// The samples `process` writes **now** for `count` more input samples, given room for them: exact, and
    /// dependent on the stream's state (what it holds back). For sizing buffers use ``maximumOutputCount(forInput:)``.
    /// - Complexity: O(1).
    public func readyCount(forInput count: Int) -> Int {
        switch kind {
        case .polyphase: polyphase!.readyCount(forInput: count)
        case .folded: folded!.readyCount(forInput: count)
        case .block: block!.readyCount(forInput: count)
        case .fast: fast!.readyCount(forInput: count)
        case .dealt: dealt!.readyCount(forInput: count)
        case .chain: chain!.readyCount(forInput: count)
        }
    }

    /// The number of samples ``finish(into:)`` writes now: `round(inputCount × outRate / inRate)` (ties up) minus
    /// ``outputCount``; never more than `maximumOutputCount(forInput: 0)`.
    public var pendingOutputCount: Int {
        switch kind {
        case .polyphase: polyphase!.pendingOutputCount
        case .folded: folded!.pendingOutputCount
        case .block: block!.pendingOutputCount
        case .fast: fast!.pendingOutputCount
        case .dealt: dealt!.pendingOutputCount
        case .chain: chain!.pendingOutputCount
        }
    }

    /// Converts a chunk.
    ///
    /// Consumes input until it runs out or `output` is full, and writes every output sample the input so far
    /// determines. With `output.count >= maximumOutputCount(forInput: input.count)` all input is consumed; with less,
    /// call again with the rest (every call with input and room makes progress).
    /// - Returns: input samples consumed and output samples written; `(n, 0)` is normal while the
    ///   lookahead (``latencySeconds``) fills.
    /// - Complexity: ``ResamplerFilter/multiplyAddsPerOutput`` multiply-adds per output sample; no allocation.
    public mutating func process(
        _ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>
    ) -> (consumed: Int, produced: Int) {
        switch kind {
        case .polyphase: return polyphase!.process(input, into: output)
        case .folded: return folded!.process(input, into: output)
        case .block: return block!.process(input, into: output)
        case .fast: return fast!.process(input, into: output)
        case .dealt: return dealt!.process(input, into: output)
        case .chain: return chain!.process(input, into: output)
        }
    }

    /// Ends the stream: writes the outputs still owed (``pendingOutputCount``), reading zeros past the end, then
    /// resets for a new stream.
    ///
    /// - Returns: the samples written.
    /// - Precondition: `output.count >= pendingOutputCount` (`maximumOutputCount(forInput: 0)` always is); the buffer is the
    ///   caller's own, sized from the configuration, so no input data can reach this check.
    public mutating func finish(into output: UnsafeMutableBufferPointer<Float>) -> Int {
        let owed = pendingOutputCount
        precondition(output.count >= owed, "Resampler.finish: output buffer too small")
        let room = UnsafeMutableBufferPointer(rebasing: output[..<owed])
        switch kind {
        case .polyphase: return polyphase!.finish(into: room, count: owed)
        case .folded: return folded!.finish(into: room, count: owed)
        case .block: return block!.finish(into: room, count: owed)
        case .fast: return fast!.finish(into: room, count: owed)
        case .dealt: return dealt!.finish(into: room, count: owed)
        case .chain: return chain!.finish(into: room, count: owed)
        }
    }

    /// Drops the history and starts a new stream (barge-in). Allocation-free.
    public mutating func reset() {
        switch kind {
        case .polyphase: polyphase!.reset()
        case .folded: folded!.reset()
        case .block: block!.reset()
        case .fast: fast!.reset()
        case .dealt: dealt!.reset()
        case .chain: chain!.reset()
        }
    }
}

// MARK: - Array conveniences (they allocate)

extension Resampler {
    /// Converts a whole signal in one go: `process` then `finish`, so the result has exactly
    /// `round(input.count × outRate / inRate)` samples aligned with the input.
    public mutating func convert(_ input: [Float]) -> [Float] { processAll(input) }
}

