// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "swift-realtime-audio",
    products: [
        .library(name: "RealtimeAudio", targets: ["RealtimeAudio"]),
        .library(name: "SoundFile", targets: ["SoundFile"]),
        .library(name: "ALSA", targets: ["ALSA"]),
        .library(name: "RealtimeSession", targets: ["RealtimeSession"]),
        .library(name: "RealtimeCarrier", targets: ["RealtimeCarrier"]),
        .executable(name: "rtaudio", targets: ["rtaudio"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // RealModule: the elementary functions (log, sin, exp) without Foundation, for levels and filter design.
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        // `make docs`: DocC archives of the library products, built offline (a plugin: nothing of it links).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // The DSP core: pure Swift, no Foundation, no C library.
        .target(name: "RealtimeAudio", dependencies: [.product(name: "RealModule", package: "swift-numerics")]),
        // The Realtime session and assistant models (validation, normalized JSON) and the pipelines they build.
        .target(name: "RealtimeSession", dependencies: ["RealtimeAudio"]),
        // Carrier legs: wire adapters (Twilio, Telnyx, AudioSocket), the pacer, the playback clock; no networking.
        .target(name: "RealtimeCarrier", dependencies: ["RealtimeAudio", .product(name: "RealModule", package: "swift-numerics")]),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .target(name: "SoundFile", dependencies: ["CSndFile"]),
        .systemLibrary(name: "CALSA", pkgConfig: "alsa", providers: [.apt(["libasound2-dev"])]),
        // Linux only: a thin typed wrapper over alsa-lib's PCM API.
        .target(name: "ALSA", dependencies: ["CALSA"]),
        .executableTarget(
            name: "rtaudio",
            dependencies: [
                "RealtimeAudio", "RealtimeSession", "RealtimeCarrier", "SoundFile", "ALSA",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Test support: counts the calling thread's heap allocations (the zero-allocation checks run in `make test`).
        .target(name: "MallocCounter", path: "Tests/Support/MallocCounter"),
        // Test support: the deterministic signals and generators the test targets share.
        .target(name: "TestSupport", path: "Tests/Support/TestSupport"),
        .testTarget(name: "RealtimeAudioTests", dependencies: ["RealtimeAudio", "MallocCounter", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "SoundFileTests", dependencies: ["SoundFile"]),
        .testTarget(name: "ALSATests", dependencies: ["ALSA"]),
        .testTarget(name: "RealtimeSessionTests", dependencies: ["RealtimeSession", "TestSupport"]),
        .testTarget(name: "RealtimeCarrierTests", dependencies: ["RealtimeCarrier", "RealtimeAudio", "MallocCounter", "TestSupport"]),
        // End to end: runs the built `rtaudio` binary, so it depends on the executable to get it built.
        .testTarget(name: "rtaudioTests", dependencies: ["rtaudio", "SoundFile", "RealtimeAudio"]),
    ]
)
