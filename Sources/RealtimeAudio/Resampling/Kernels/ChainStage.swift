/// A `DealtDecimator` prestage feeding a ``Resampler`` at a half or a third of the input rate: the two-stage
/// form of a large downsampling (see ``ResamplerFilter``).
///
/// Both stages are exact and delay compensated, so the chain is too. The prestage takes the input a slice at a
/// time; the second stage takes its output until the caller's output is full, and what it has not taken waits in
/// `middle` for the next call. Why a held middle and not a slice sized to fit the output: the second stage may
/// release outputs in steps (`FastConvolution` frames), so no slice of input can be sized to fit a room smaller
/// than a step, and a chain that waits for one spins forever (it did: 96 kHz -> 8 kHz `high`, `finish`). Held
/// samples are the prestage's outputs of input already consumed, so the counts (``pendingOutputCount``) and the
/// output do not change: chunking still never changes the result.
struct ChainStage: BlockStage {
    private var pre: DealtDecimator
    /// The second stage, in a one-element array: a `Resampler` cannot hold a `Resampler` inline, and an array keeps
    /// value semantics where a class box would share one stream between copies.
    private var rest: [Resampler]
    /// The prestage's output for one slice; `middle[held..<heldEnd]` waits for the second stage.
    private var middle: [Float]
    private var held = 0
    private var heldEnd = 0
    /// The overall reduced ratio `L / M`, for the outputs owed.
    let phases: Int
    let step: Int
    private static let slice = 1024

    init(pre: DealtDecimatorBank, next: ResamplerFilter, phases: Int, step: Int) {
        self.pre = DealtDecimator(bank: pre)
        // The prestage hands on only finite samples (it zeroes NaN and ±infinity as they enter).
        rest = [Resampler(filter: next, cleanInput: true)]
        middle = [Float](repeating: 0, count: self.pre.maximumOutputCount(forInput: Self.slice))
        self.phases = phases
        self.step = step
    }

    var consumed: Int { pre.consumed }
    /// Outputs written since the start of the stream, counted here: reading the second stage's own count goes
    /// through the array and copies the resampler.
    private(set) var produced = 0

    /// The second stage's bound for what the prestage can make of `count` inputs plus what waits in the middle.
    func maximumOutputCount(forInput count: Int) -> Int {
        rest[0].kernelOutputCount(forInput: min(Int.max / 4, pre.maximumOutputCount(forInput: count) + middle.count))
    }

    func readyCount(forInput count: Int) -> Int {
        rest[0].readyCount(forInput: heldEnd - held + pre.readyCount(forInput: count))
    }


    mutating func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> (consumed: Int, produced: Int) {
        var used = 0, written = 0
        // The buffer out of `self` while the stages run (they are `self`'s too); swapping moves no samples.
        var buffer: [Float] = []
        swap(&buffer, &self.middle)
        defer { swap(&buffer, &self.middle) }
        buffer.withUnsafeMutableBufferPointer { middle in
            while true {
                if held < heldEnd {
                    let (took, made) = rest[0].process(UnsafeBufferPointer(rebasing: middle[held..<heldEnd]),
                                                       into: UnsafeMutableBufferPointer(rebasing: output[written...]))
                    held += took
                    written += made
                    produced += made
                    // The output is full: the rest waits for the next call.
                    if held < heldEnd { break }
                }
                // One more slice even when the output is full: the second stage still takes what completes no
                // further output, and keeps the rest; so a call with room for `maximumOutputCount` consumes all.
                let n = min(input.count - used, Self.slice)
                if n == 0 { break }
                let (_, made) = pre.process(UnsafeBufferPointer(rebasing: input[used..<(used + n)]), into: middle)
                used += n
                held = 0
                heldEnd = made
            }
        }
        return (used, written)
    }

    mutating func reset() {
        pre.reset()
        rest[0].reset()
        held = 0
        heldEnd = 0
        produced = 0
    }
}
