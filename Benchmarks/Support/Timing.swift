#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic nanoseconds.
public func monotonicNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Nanoseconds per call of `run`: the best of `trials`, each timing enough calls to last about 2 ms. Best-of-N
/// interleaved with the baseline is what keeps a ratio steady on a shared machine.
public func nanosecondsPerRun(_ run: () -> Void, trials: Int) -> Double {
    var reps = 1
    while true {
        let start = monotonicNow()
        for _ in 0..<reps { run() }
        if monotonicNow() - start > 2_000_000 || reps > 1 << 26 { break }
        reps *= 2
    }
    var best = Double.infinity
    for _ in 0..<trials {
        let start = monotonicNow()
        for _ in 0..<reps { run() }
        best = min(best, Double(monotonicNow() - start) / Double(reps))
    }
    return best
}

/// `x` with `digits` decimals, without Foundation.
public func fixed(_ x: Double, _ digits: Int) -> String {
    var s = String(Int((x * pow(10, Double(digits))).rounded()))
    guard digits > 0 else { return s }
    while s.count <= digits { s = "0" + s }
    s.insert(".", at: s.index(s.endIndex, offsetBy: -digits))
    return s
}
