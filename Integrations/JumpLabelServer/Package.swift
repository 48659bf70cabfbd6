// swift-tools-version: 6.2
import PackageDescription

// JumpLabel in a real service: Hummingbird middleware, spans gated by a
// static key, keys that follow swift-configuration, and a sample service.
//
// A package of its own (not a target of the root package) so that a
// program that depends on JumpLabel alone resolves and builds none of
// Hummingbird, SwiftNIO, swift-configuration, swift-distributed-tracing or
// swift-log: SwiftPM resolves every dependency a package declares, and
// only a separate package keeps these out of the root's graph without
// asking every consumer to know about traits.
let package = Package(
  name: "JumpLabelServer",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "JumpLabelHummingbird", targets: ["JumpLabelHummingbird"]),
    .library(name: "JumpLabelTracing", targets: ["JumpLabelTracing"]),
    .library(name: "JumpLabelConfiguration", targets: ["JumpLabelConfiguration"]),
    .executable(name: "jumplabel-sample", targets: ["JumpLabelSample"]),
    .executable(name: "jumplabel-service-bench-server", targets: ["ServiceBenchServer"]),
  ],
  dependencies: [
    // The root package, by path: its identity is its directory's name, so
    // products are named through `jumpLabelPackage` below.
    .package(path: "../..", traits: ["Logging"]),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: ["JSON", "Reloading"]),
    .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.8.0"),
  ],
  targets: [
    // Per-request tracepoints for Hummingbird (USDT-visible).
    .target(name: "JumpLabelHummingbird", dependencies: [
      .product(name: "JumpLabel", package: jumpLabelPackage),
      .product(name: "Hummingbird", package: "hummingbird"),
    ]),
    // Spans opened only while a static key is on.
    .target(name: "JumpLabelTracing", dependencies: [
      .product(name: "JumpLabel", package: jumpLabelPackage),
      .product(name: "Tracing", package: "swift-distributed-tracing"),
    ]),
    // Keys and tracepoints that follow a ConfigReader live.
    .target(name: "JumpLabelConfiguration", dependencies: [
      .product(name: "JumpLabel", package: jumpLabelPackage),
      .product(name: "Configuration", package: "swift-configuration"),
      .product(name: "Logging", package: "swift-log"),
      .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
    ]),
    // The sample service a user copies.
    .executableTarget(name: "JumpLabelSample", dependencies: [
      "JumpLabelHummingbird", "JumpLabelTracing", "JumpLabelConfiguration",
      .product(name: "JumpLabelLogging", package: jumpLabelPackage),
      .product(name: "Hummingbird", package: "hummingbird"),
      .product(name: "Configuration", package: "swift-configuration"),
      .product(name: "Logging", package: "swift-log"),
    ]),
    // The same service in benchmark variants (Scripts/service-bench).
    .executableTarget(name: "ServiceBenchServer", dependencies: [
      "JumpLabelHummingbird",
      .product(name: "Hummingbird", package: "hummingbird"),
      .product(name: "Logging", package: "swift-log"),
    ]),
    .testTarget(name: "JumpLabelServerTests", dependencies: [
      "JumpLabelHummingbird", "JumpLabelTracing", "JumpLabelConfiguration",
      .product(name: "JumpLabel", package: jumpLabelPackage),
      .product(name: "Configuration", package: "swift-configuration"),
      .product(name: "Tracing", package: "swift-distributed-tracing"),
      .product(name: "Instrumentation", package: "swift-distributed-tracing"),
      .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
    ]),
  ]
)

/// The identity SwiftPM gives the root package: the name of the directory
/// two levels up (a path dependency's identity is its last path component,
/// so a clone named `jumplabel` or a worktree named `wt-svc` both work).
var jumpLabelPackage: String {
  let here = #filePath.split(separator: "/").dropLast()  // .../Integrations/JumpLabelServer
  return String(here.dropLast(2).last ?? "JumpLabel")
}
