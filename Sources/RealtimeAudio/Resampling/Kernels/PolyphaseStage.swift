/// The streaming state of one polyphase filter, one dot product per output, eight outputs per pass where their
/// windows have arrived (``dot8``; the rest one at a time, with the same result). Like `FoldedDecimator`:
/// `process` consumes input until it runs out or the output is full (a full output still takes the input that
/// completes no further output), and `finish(into:count:)` writes exactly `count` more outputs, reading zeros past
/// the end, then resets.
struct PolyphaseStage: BlockStage {
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

    var phases: Int { bank.phases }
    var step: Int { bank.step }

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
                    // sized `output` with `maximumOutputCount(forInput:)` always has all input consumed.
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
