/// Decodes a base64 payload (`audio` or `delta`) into `scratch`, sized once for the pipeline's largest chunk.
///
/// - Returns: the decoded byte count.
/// - Throws: ``PipelineError/chunkTooLarge(bytes:maximum:)`` or ``PipelineError/base64(_:)`` with the offset.
func decodeBase64Payload(_ characters: UnsafeBufferPointer<UInt8>, into scratch: inout [UInt8], maximum: Int) throws(PipelineError) -> Int {
    let capacity = Base64.decodedCapacity(forCharacterCount: characters.count)
    guard capacity <= scratch.count else { throw .chunkTooLarge(bytes: capacity, maximum: maximum) }
    let decoded: Result<Int, Base64Error> = scratch.withUnsafeMutableBufferPointer { buffer in
        do throws(Base64Error) { return .success(try Base64.decode(characters, into: buffer)) } catch { return .failure(error) }
    }
    switch decoded {
    case .success(let count): return count
    case .failure(let error): throw .base64(error)
    }
}

/// `body` over the first `count` bytes of `bytes`, keeping its typed error (the standard library's
/// `withUnsafeBufferPointer` rethrows untyped).
func withPayload<R>(_ bytes: [UInt8], count: Int, _ body: (UnsafeBufferPointer<UInt8>) throws(PipelineError) -> R) throws(PipelineError) -> R {
    let result: Result<R, PipelineError> = bytes.withUnsafeBufferPointer { all in
        do throws(PipelineError) { return .success(try body(UnsafeBufferPointer(rebasing: all[..<count]))) } catch { return .failure(error) }
    }
    return try result.get()
}
