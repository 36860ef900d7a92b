// swift-tools-version:6.1
// The reference gateway: Twilio Media Streams to the Realtime API, and the offline harness that drives whole calls
// through it. A nested package, so the library stays light: its dependencies (swift-nio, metrics, crypto) are
// this package's, not RealtimeAudio's.
import PackageDescription

let package = Package(
    name: "Gateway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "realtime-gateway", targets: ["realtime-gateway"]),
        .executable(name: "gateway-harness", targets: ["gateway-harness"]),
    ],
    dependencies: [
        .package(name: "swift-realtime-audio", path: "../.."),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // The call logic without networking: the Twilio leg, the Realtime events, the signature, the bridge.
        .target(name: "GatewayCore", dependencies: [
            .product(name: "RealtimeAudio", package: "swift-realtime-audio"),
            .product(name: "RealtimeCarrier", package: "swift-realtime-audio"),
            .product(name: "RealtimeSession", package: "swift-realtime-audio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // WebSockets on swift-nio with callbacks on the connection's event loop: a call's two sockets and its
        // bridge share one loop, so a frame costs no thread hop (the gateway and both fakes run on it).
        .target(name: "GatewayNet", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // The server: the carrier's WebSocket in, the model's WebSocket out, one bridge per call; metrics.
        .target(name: "GatewayServer", dependencies: [
            "GatewayCore", "GatewayNet",
            .product(name: "RealtimeCarrier", package: "swift-realtime-audio"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(name: "realtime-gateway", dependencies: [
            "GatewayServer",
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The fakes: a Twilio carrier that streams and plays WAVs in real time, a Realtime model that records.
        .target(name: "GatewayHarness", dependencies: [
            "GatewayCore", "GatewayNet",
            .product(name: "SoundFile", package: "swift-realtime-audio"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(name: "gateway-harness", dependencies: [
            "GatewayHarness", "GatewayCore", "GatewayServer", "GatewayNet",
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "RealtimeSession", package: "swift-realtime-audio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "GatewayTests", dependencies: [
            "GatewayCore", "GatewayServer", "GatewayHarness", "GatewayNet",
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
    ]
)
