// Safe entry points: bytes as `[UInt8]` or `Span<UInt8>`, base64 as `String`, output appended to a `[UInt8]` the
// caller keeps. A gateway then never sizes or indexes a raw buffer: the array grows to what a call may write the
// first time, and with its capacity kept (`removeAll(keepingCapacity: true)` between chunks) later calls allocate
// nothing.

/// Runs `body` on `bound` bytes of room at the end of `output`, then trims `output` to what `body` wrote. Allocates
/// only when `output`'s capacity is short of `output.count + bound`.
@inline(__always)
func appending(to output: inout [UInt8], bound: Int,
               _ body: (UnsafeMutableBufferPointer<UInt8>) throws(PipelineError) -> Int) throws(PipelineError) -> Int {
    let start = output.count
    output.append(contentsOf: repeatElement(0, count: bound))
    let result: Result<Int, PipelineError> = output.withUnsafeMutableBufferPointer { all in
        do throws(PipelineError) {
            return .success(try body(UnsafeMutableBufferPointer(rebasing: all[start...])))
        } catch { return .failure(error) }
    }
    switch result {
    case .success(let written):
        output.removeLast(bound - written)
        return written
    case .failure(let error):
        output.removeLast(bound)
        throw error
    }
}

/// What a pipeline checks before a call: nil when `output` holds the call's bound, else that bound. `largest` is the
/// bound for the largest chunk, computed once; a buffer sized with it (as ``InboundAudio/maximumOutputBytes`` says)
/// passes with one compare, so the per-chunk path computes the exact bound (`exact`) only for smaller buffers.
@inline(__always)
func outputShortfall(_ output: UnsafeMutableBufferPointer<UInt8>, largest: Int, exact: () -> Int) -> Int? {
    if output.count >= largest { return nil }
    let needed = exact()
    return output.count >= needed ? nil : needed
}

/// `body` over the bytes of a span, keeping its typed error.
@inline(__always)
func withBytes<R>(_ bytes: Span<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) throws(PipelineError) -> R) throws(PipelineError) -> R {
    let result: Result<R, PipelineError> = bytes.withUnsafeBufferPointer { buffer in
        do throws(PipelineError) { return .success(try body(buffer)) } catch { return .failure(error) }
    }
    return try result.get()
}

/// `body` over the UTF-8 bytes of a string (no copy for a native string), keeping its typed error.
@inline(__always)
func withUTF8<R>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) throws(PipelineError) -> R) throws(PipelineError) -> R {
    var text = text
    let result: Result<R, PipelineError> = text.withUTF8 { buffer in
        do throws(PipelineError) { return .success(try body(buffer)) } catch { return .failure(error) }
    }
    return try result.get()
}

extension InboundAudio {
    /// Appends client audio bytes and appends the model-ready pcm16 (at the model rate, little-endian) to `output`.
    ///
    /// The safe form of ``append(_:into:events:)-(UnsafeBufferPointer<UInt8>,_,_)``: `output` grows as needed (by
    /// at most ``maximumOutputCount(forInput:)``), so no chunk size can make it too small. Keep one array per
    /// session and empty it with `removeAll(keepingCapacity: true)`: after the first calls nothing is allocated.
    /// - Returns: the bytes appended to `output`.
    /// - Throws: ``PipelineError/chunkTooLarge(bytes:maximum:)``; nothing is taken then.
    @discardableResult
    public mutating func append(_ bytes: Span<UInt8>, to output: inout [UInt8], events: inout InboundEvents) throws(PipelineError) -> Int {
        try withBytes(bytes) { (source) throws(PipelineError) -> Int in
            try appending(to: &output, bound: maximumOutputCount(forInput: source.count)) { (room) throws(PipelineError) -> Int in
                try append(source, into: room, events: &events)
            }
        }
    }

    /// ``append(_:to:events:)-(Span<UInt8>,_,_)`` for an array of bytes.
    @discardableResult
    public mutating func append(_ bytes: [UInt8], to output: inout [UInt8], events: inout InboundEvents) throws(PipelineError) -> Int {
        try append(bytes.span, to: &output, events: &events)
    }

    /// Appends base64 client audio (the `audio` field of `input_audio_buffer.append`) and appends the model-ready
    /// pcm16 to `output`.
    /// - Throws: ``PipelineError/base64(_:)`` naming the bad offset, or ``PipelineError/chunkTooLarge(bytes:maximum:)``;
    ///   nothing is taken then.
    @discardableResult
    public mutating func append(base64 text: String, to output: inout [UInt8], events: inout InboundEvents) throws(PipelineError) -> Int {
        try withUTF8(text) { (characters) throws(PipelineError) -> Int in
            let bound = maximumOutputCount(forInput: Base64.decodedCapacity(forCharacterCount: characters.count))
            return try appending(to: &output, bound: bound) { (room) throws(PipelineError) -> Int in
                try append(base64: characters, into: room, events: &events)
            }
        }
    }

    /// Ends the input stream (see ``finish(into:events:)``) and appends the drained model audio to `output`.
    ///
    /// - Throws: ``PipelineError/pcm16(_:)`` when the stream ends inside a sample; nothing changes then.
    @discardableResult
    public mutating func finish(to output: inout [UInt8], events: inout InboundEvents) throws(PipelineError) -> Int {
        try appending(to: &output, bound: maximumOutputCount(forInput: 0)) { (room) throws(PipelineError) -> Int in
            try finish(into: room, events: &events)
        }
    }
}

extension OutboundAudio {
    /// Appends model audio bytes (pcm16 at the model rate) and appends the client-format bytes to `output`.
    ///
    /// The safe form of ``append(_:into:)-(UnsafeBufferPointer<UInt8>,_)``: `output` grows as needed, so neither a
    /// chunk size nor a speed change can make it too small. Keep one array per session and empty it with
    /// `removeAll(keepingCapacity: true)`: after the first calls nothing is allocated.
    /// - Returns: the bytes appended to `output`.
    /// - Throws: ``PipelineError/chunkTooLarge(bytes:maximum:)``; nothing is taken then.
    @discardableResult
    public mutating func append(_ bytes: Span<UInt8>, to output: inout [UInt8]) throws(PipelineError) -> Int {
        try withBytes(bytes) { (source) throws(PipelineError) -> Int in
            try appending(to: &output, bound: maximumOutputCount(forInput: source.count)) { (room) throws(PipelineError) -> Int in
                try append(source, into: room)
            }
        }
    }

    /// ``append(_:to:)-(Span<UInt8>,_)`` for an array of bytes.
    @discardableResult
    public mutating func append(_ bytes: [UInt8], to output: inout [UInt8]) throws(PipelineError) -> Int {
        try append(bytes.span, to: &output)
    }

    /// Appends base64 model audio (the `delta` of `response.output_audio.delta`) and appends the client-format bytes
    /// to `output`.
    /// - Throws: ``PipelineError/base64(_:)`` naming the bad offset, or ``PipelineError/chunkTooLarge(bytes:maximum:)``;
    ///   nothing is taken then.
    @discardableResult
    public mutating func append(base64 text: String, to output: inout [UInt8]) throws(PipelineError) -> Int {
        try withUTF8(text) { (characters) throws(PipelineError) -> Int in
            let bound = maximumOutputCount(forInput: Base64.decodedCapacity(forCharacterCount: characters.count))
            return try appending(to: &output, bound: bound) { (room) throws(PipelineError) -> Int in
                try append(base64: characters, into: room)
            }
        }
    }

    /// Ends the response (see ``finish(into:)``) and appends the rest of its audio to `output`.
    ///
    /// - Throws: ``PipelineError/pcm16(_:)`` when the model's audio ended inside a sample; nothing changes then.
    @discardableResult
    public mutating func finish(to output: inout [UInt8]) throws(PipelineError) -> Int {
        try appending(to: &output, bound: maximumOutputCount(forInput: 0)) { (room) throws(PipelineError) -> Int in
            try finish(into: room)
        }
    }
}
