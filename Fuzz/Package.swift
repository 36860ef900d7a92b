// swift-tools-version: 6.1
import PackageDescription

// libFuzzer targets for every input surface (`make fuzz`). Built with `--sanitize fuzzer --sanitize address`, so
// every module is instrumented; libFuzzer supplies `main`, hence `-parse-as-library`.
let package = Package(
    name: "swift-realtime-audio-fuzz",
    dependencies: [.package(name: "swift-realtime-audio", path: "..")],
    targets: [
        .executableTarget(
            name: "fuzz",
            dependencies: [
                .product(name: "RealtimeAudio", package: "swift-realtime-audio"),
                .product(name: "RealtimeSession", package: "swift-realtime-audio"),
                .product(name: "SoundFile", package: "swift-realtime-audio"),
            ],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
