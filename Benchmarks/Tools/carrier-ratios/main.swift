import BenchSupport

// The carrier adapter's hot path against Foundation's JSONSerialization and JSONDecoder/JSONEncoder, interleaved
// in one process (best of N each, as everywhere here): ns per message and the ratio of each peer to ours.

let trials = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 15
let kernels = carrierKernels()
var best = [Double](repeating: .infinity, count: kernels.count)
for _ in 0..<3 {
    for (k, kernel) in kernels.enumerated() { best[k] = min(best[k], nanosecondsPerRun(kernel.run, trials: trials)) }
}
print("| Twilio media message (20 ms µ-law) | ns/message | x ours |")
print("|---|---:|---:|")
for (k, kernel) in kernels.enumerated() {
    let ours = kernel.name.contains("-decode-") ? best[0] : best[3]
    print("| \(kernel.name.replacingOccurrences(of: "carrier-twilio-media-", with: "")) | \(fixed(best[k], 0)) | \(fixed(best[k] / ours, 1)) |")
}
