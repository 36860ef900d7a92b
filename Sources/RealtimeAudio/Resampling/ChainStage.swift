/// A ``DealtDecimator`` prestage feeding a ``Resampler`` at a half or a third of the input rate: the two-stage
/// form of a large downsampling (see ``ResamplerFilter``).
///
/// Both stages are exact and delay compensated, so the chain is too. `process` hands the prestage only as much input
/// as the output can take: the largest slice whose outputs, through both stages' exact ``outputCapacity``, fit the
/// room left; so a full output still takes the input that completes no further output, as every stage does, and
/// nothing waits in between.
struct ChainStage: BlockStage {
    private var pre: DealtDecimator
    /// The second stage, in a one-element array: a `Resampler` cannot hold a `Resampler` inline, and an array keeps
    /// value semantics where a class box would share one stream between copies.
    private var rest: [Resampler]
    /// The prestage's output for one slice.
    private var middle: [Float]
    /// The overall reduced ratio `L / M`, for the outputs owed.
    private let phases: Int
    private let step: Int
    private static let slice = 1024

    init(pre: DealtDecimatorBank, next: ResamplerFilter, phases: Int, step: Int) {
        self.pre = DealtDecimator(bank: pre)
        // The prestage hands on only finite samples (it zeroes NaN and ±infinity as they enter).
        rest = [Resampler(filter: next, cleanInput: true)]
        middle = [Float](repeating: 0, count: Self.slice / pre.step + 8)
        self.phases = phases
        self.step = step
    }

    var consumed: Int { pre.consumed }
    /// Outputs written since the start of the stream, counted here: reading the second stage's own count goes
    /// through the array and copies the resampler.
    private(set) var produced = 0

    func outputCapacity(forInput count: Int) -> Int {
        rest[0].outputCapacity(forInput: pre.outputCapacity(forInput: count))
    }

    var pendingOutputCount: Int { max(0, (2 * consumed * phases + step) / (2 * step) - produced) }

    mutating func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> (consumed: Int, produced: Int) {
        var used = 0, written = 0
        // The buffer out of `self` while the stages run (they are `self`'s too); swapping moves no samples.
        var buffer: [Float] = []
        swap(&buffer, &self.middle)
        defer { swap(&buffer, &self.middle) }
        buffer.withUnsafeMutableBufferPointer { middle in
            while used < input.count {
                let room = output.count - written
                var n = min(input.count - used, Self.slice)
                // Output k needs input past k × M / L, so n more inputs yield at most (consumed + n) L / M + 1 - produced
                // outputs in all: where that fits, the exact count (through both stages) is not needed.
                if ((pre.consumed + n) * phases) / step + 1 - produced > room, outputCapacity(forInput: n) > room {
                    // The largest slice that fits (outputCapacity grows with the input).
                    var low = 0, high = n
                    while low < high {
                        let mid = (low + high + 1) / 2
                        if outputCapacity(forInput: mid) <= room { low = mid } else { high = mid - 1 }
                    }
                    n = low
                }
                if n == 0 { break }
                let (_, halved) = pre.process(UnsafeBufferPointer(rebasing: input[used..<(used + n)]), into: middle)
                let (_, made) = rest[0].process(UnsafeBufferPointer(rebasing: middle[..<halved]),
                                                into: UnsafeMutableBufferPointer(rebasing: output[written...]))
                used += n
                written += made
                produced += made
            }
        }
        return (used, written)
    }

    mutating func reset() {
        pre.reset()
        rest[0].reset()
        produced = 0
    }
}
