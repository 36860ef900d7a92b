// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "swift-realtime-audio-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "swift-realtime-audio", path: ".."),
        // MallocInterposer only: the default RuntimeInterposer trait needs a package that is not in the mirror.
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
        // The base64 library the foundation issue named, measured side by side with ours.
        .package(url: "https://github.com/swift-extras/swift-extras-base64", exact: "1.2.0"),
    ],
    targets: [
        .target(
            name: "BenchSupport",
            dependencies: [
                .product(name: "RealtimeAudio", package: "swift-realtime-audio"),
                .product(name: "RealtimeCarrier", package: "swift-realtime-audio"),
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
            ],
            path: "Support"
        ),
        // Run by `swift package benchmark` (the plugin finds targets whose folder's parent is `Benchmarks`).
        .executableTarget(
            name: "CodecBenchmarks",
            dependencies: [
                "BenchSupport",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "CodecBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Interleaved timing of every kernel against memcpy in one process: the ratios we quote.
        .executableTarget(name: "codec-ratios", dependencies: ["BenchSupport"], path: "Tools/codec-ratios"),
        // The carrier adapter against Foundation's JSON stacks, interleaved: `make bench-carrier`.
        .executableTarget(name: "carrier-ratios", dependencies: ["BenchSupport"], path: "Tools/carrier-ratios"),
        // The peer libraries (system packages from `make bench-peers`, never needed by `make test` or by users).
        .target(
            name: "PeerShims",
            path: "Peers/PeerShims",
            linkerSettings: [.linkedLibrary("soxr"), .linkedLibrary("speexdsp"), .linkedLibrary("spandsp"),
                             .linkedLibrary("sonic"), .linkedLibrary("SoundTouch")]
        ),
        .executableTarget(name: "peers", dependencies: ["BenchSupport", "PeerShims"], path: "Peers/peers"),
        // Driver for callgrind instruction counts (deterministic on a shared machine): `make bench-instructions`.
        .executableTarget(
            name: "instructions",
            dependencies: [.product(name: "RealtimeAudio", package: "swift-realtime-audio")],
            path: "Tools/instructions"
        ),
    ]
)
