/// The shape every stream of the core shares: the resampler, the speed scaler, the detector, the pcm16 stream
/// decoder, the loss concealer and the two per-session pipelines.
///
/// ## Conventions
/// - **Counts** are elements of the stream's own ``Input`` and ``Output`` types: samples for `Float` streams, bytes
///   for the wire-side pipelines and decoders, events for the detector. A count never mixes two rates: each stream
///   states which rate its input and output run at, as a ``SampleRate``.
/// - **Latency** is ``latencySeconds``, in seconds whatever the rates: how far the output lags, at most, the
///   input it has been given (what the stream holds back until more input, or ``finish(into:)``, releases it).
/// - **Buffers belong to the caller.** A stream reads `input` and writes `output` during the call only, and
///   keeps no pointer to either. Size `output` once, when the stream is made, with
///   ``maximumOutputCount(forInput:)`` for the largest chunk you will pass: that bound holds **in every state**
///   of the stream (it is computed from the configuration, never from what has arrived), and
///   `maximumOutputCount(forInput: 0)` bounds ``finish(into:)``, so one buffer serves the stream's whole life.
/// - **An empty output is normal**: while a lookahead fills, or a detector hears no turn change, `process`
///   consumes its input and writes nothing.
/// - **A smaller output buffer** is legal: a stream whose ``Failure`` is `Never` stops when `output` is full and
///   returns what it consumed (call again with the rest; every call with input and room makes progress, where a
///   chain of stages needs room for one input's bound: see ``SpeedResampler``); a stream that can fail throws its
///   "output too small" error instead, having taken nothing.
/// - **Chunking never changes the result**: any split of the same input gives the same output, bit for bit.
/// - **Drain and drop**: ``finish(into:)`` ends the stream, writing what it still holds, and leaves it ready for
///   a new stream; ``reset()`` drops what it holds (a barge-in, a cleared buffer) and starts a new stream.
/// - **No allocation** in `process`, `finish` or `reset`; buffers are sized when the stream is made.
/// - **Threading**: a stream is a value type holding only its own state (filter tables it shares are
///   immutable). Use one instance per session from one task at a time; hand it to another thread freely.
/// - **Bad data from outside never traps**: what a client sends is either processed or refused with a typed
///   ``Failure``. The only traps guard the caller's own code (an output buffer it sized itself too small for
///   `finish`), and each is documented where it can happen.
public protocol AudioStream: Sendable {
    /// What the stream takes: `Float` samples, or wire bytes (`UInt8`).
    associatedtype Input
    /// What the stream writes: `Float` samples, wire bytes (`UInt8`), or detector events.
    associatedtype Output
    /// Why a call can refuse its input (`Never` for streams that take every input).
    associatedtype Failure: Error

    /// How far the output lags, at most, the input given so far, in seconds (what `finish` would release).
    var latencySeconds: Double { get }

    /// The most elements one ``process(_:into:)`` call with `count` inputs writes, **in any state** of the stream;
    /// with `count` 0, the most ``finish(into:)`` writes. Never negative; a negative `count` counts as 0.
    func maximumOutputCount(forInput count: Int) -> Int

    /// Takes a chunk of input and writes the output it determines.
    ///
    /// - Returns: the inputs consumed (all of them when `output` holds ``maximumOutputCount(forInput:)``) and
    ///   the outputs written.
    /// - Throws: ``Failure``, having taken nothing.
    mutating func process(_ input: UnsafeBufferPointer<Input>, into output: UnsafeMutableBufferPointer<Output>) throws(Failure) -> (consumed: Int, produced: Int)

    /// Ends the stream: writes what it still holds, and starts a new stream.
    ///
    /// - Returns: the outputs written (at most `maximumOutputCount(forInput: 0)`).
    mutating func finish(into output: UnsafeMutableBufferPointer<Output>) throws(Failure) -> Int

    /// Drops what the stream holds and starts a new stream. Allocation-free.
    mutating func reset()
}

// MARK: - Array conveniences (they allocate)

extension AudioStream where Failure == Never {
    /// Runs a whole signal through the stream and finishes it: the output of `process` then `finish`, for tests,
    /// scripts and files (it allocates the result; a live stream calls `process` per chunk instead).
    ///
    /// Output types are plain values (samples, bytes, events), so the result is written in place.
    public mutating func processAll(_ input: [Input]) -> [Output] {
        let bound = maximumOutputCount(forInput: input.count)
        let tailBound = maximumOutputCount(forInput: 0)
        return [Output](unsafeUninitializedCapacity: bound + tailBound) { buffer, count in
            let room = UnsafeMutableBufferPointer(rebasing: buffer[..<bound])
            // With room for the bound, `process` takes the whole input in one call (the protocol's contract).
            let produced = input.withUnsafeBufferPointer { process($0, into: room).produced }
            count = produced + finish(into: UnsafeMutableBufferPointer(rebasing: buffer[produced...]))
        }
    }
}
