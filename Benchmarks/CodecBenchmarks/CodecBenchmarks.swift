import Benchmark
import BenchSupport

/// Throughput and mallocs of every codec kernel on 20 ms chunks and 1 s blocks, with memcpy of the same bytes as
/// the physical baseline. `Tools/codec-ratios` times the same kernels interleaved to report ratios.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration.maxDuration = .seconds(1)
    Benchmark.defaultConfiguration.maxIterations = 10_000_000
    Benchmark.defaultConfiguration.metrics = [.throughput, .wallClock, .mallocCountTotal]
    Benchmark.defaultConfiguration.scalingFactor = .kilo
    // Allocations are deterministic where times are not (shared machines): 0 per chunk is the threshold CI checks.
    Benchmark.defaultConfiguration.thresholds = [.mallocCountTotal: .init(absolute: [.p100: 0])]

    for size in ChunkSize.allCases {
        var kernels = codecKernels(size)
        let baselines = Set(kernels.map(\.bytesMoved)).sorted().map(memcpyKernel(bytes:))
        kernels += baselines
        kernels += dspKernels(size) + sessionKernels(size)
        for kernel in kernels {
            Benchmark(kernel.name) { benchmark in
                for _ in benchmark.scaledIterations { kernel.run() }
            }
        }
    }
    // The carrier adapter: ours must allocate nothing per message; Foundation's stacks are measured beside it.
    for kernel in carrierKernels() {
        let ours = kernel.name.hasSuffix("-ours")
        Benchmark(kernel.name, configuration: ours ? .init() : .init(thresholds: [:])) { benchmark in
            for _ in benchmark.scaledIterations { kernel.run() }
        }
    }
}
