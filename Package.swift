// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "swift-realtime-audio",
    products: [
        .library(name: "RealtimeAudio", targets: ["RealtimeAudio"]),
        .library(name: "SoundFile", targets: ["SoundFile"]),
        .executable(name: "rtaudio", targets: ["rtaudio"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // RealModule: the elementary functions (log, sin, exp) without Foundation, for levels and filter design.
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
    ],
    targets: [
        // The DSP core: pure Swift, no Foundation, no C library.
        .target(name: "RealtimeAudio", dependencies: [.product(name: "RealModule", package: "swift-numerics")]),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .target(name: "SoundFile", dependencies: ["CSndFile"]),
        .executableTarget(
            name: "rtaudio",
            dependencies: [
                "RealtimeAudio", "SoundFile",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "RealtimeAudioTests", dependencies: ["RealtimeAudio"], exclude: ["Fixtures"]),
        .testTarget(name: "SoundFileTests", dependencies: ["SoundFile"]),
        // End to end: runs the built `rtaudio` binary, so it depends on the executable to get it built.
        .testTarget(name: "rtaudioTests", dependencies: ["rtaudio", "SoundFile", "RealtimeAudio"]),
    ]
)
