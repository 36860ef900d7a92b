import BenchSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Times every codec kernel and a memcpy of the same number of bytes, interleaved in one process, and prints each
// kernel's throughput as a ratio to that memcpy. Interleaving and best-of-N make the ratio steady on a shared,
// noisy machine even when absolute times move by 2x between runs.

func time(_ kernel: Kernel, trials: Int) -> Double { nanosecondsPerRun(kernel.run, trials: trials) }

let trials = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 15
print("| kernel | chunk | ns/chunk | Msamples/s | streams/core | memcpy ns | x memcpy |")
print("|---|---|---:|---:|---:|---:|---:|")
for size in ChunkSize.allCases {
    for kernel in codecKernels(size) {
        let baseline = memcpyKernel(bytes: kernel.bytesMoved)
        var k = Double.infinity, m = Double.infinity
        for _ in 0..<3 {   // interleave: kernel, memcpy, kernel, memcpy ...
            k = min(k, time(kernel, trials: trials))
            m = min(m, time(baseline, trials: trials))
        }
        let perSecond = Double(kernel.items) / k * 1e9
        let streams = perSecond / Double(kernel.rate)
        let name = String(kernel.name.dropLast(size.rawValue.count + 1))
        print("| \(name) | \(size.rawValue) | \(fmt(k, 1)) | \(fmt(perSecond / 1e6, 1)) | \(fmt(streams, 0)) | \(fmt(m, 1)) | \(fmt(m / k, 2)) |")
    }
}

// The streaming stages have no memcpy equivalent: their figure is how many realtime streams one core carries.
print()
print("| stage | chunk | ns/chunk | input Msamples/s | x realtime (streams/core) |")
print("|---|---|---:|---:|---:|")
for size in ChunkSize.allCases {
    for kernel in dspKernels(size) + sessionKernels(size) {
        let k = (0..<3).map { _ in time(kernel, trials: trials) }.min()!
        let perSecond = Double(kernel.items) / k * 1e9
        let name = String(kernel.name.dropLast(size.rawValue.count + 1))
        print("| \(name) | \(size.rawValue) | \(fmt(k, 1)) | \(fmt(perSecond / 1e6, 1)) | \(fmt(perSecond / Double(kernel.rate), 0)) |")
    }
}

func fmt(_ x: Double, _ digits: Int) -> String { fixed(x, digits) }
