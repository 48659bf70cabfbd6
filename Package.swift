// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "JumpLabel",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "JumpLabel", targets: ["JumpLabel"]),
    .library(name: "TextPoke", targets: ["TextPoke"]),
    .executable(name: "jumplabel", targets: ["jumplabel"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
  ],
  targets: [
    // C shim of the patch engine: SIGTRAP handler, published batch, membarrier.
    .target(name: "CTextPoke"),
    // The patch engine: int3 + core-sync protocol, writers, lock.
    .target(name: "TextPoke", dependencies: ["CTextPoke"]),
    // C shim of the keys: the asm-goto branch site and the table layout.
    .target(name: "CJumpLabel"),
    // Static keys: tables, registry, counting, fallback.
    .target(name: "JumpLabel", dependencies: ["CJumpLabel", "TextPoke"]),
    // Keys declared in one module and used in another (tests, stress).
    .target(name: "JumpLabelFixtures", dependencies: ["JumpLabel"], path: "Tests/Fixtures"),
    // C shim of the command-line tool (prctl).
    .target(name: "CJumpLabelCLI"),
    // The command-line tool: stress test, key listing.
    .executableTarget(
      name: "jumplabel",
      dependencies: ["JumpLabel", "TextPoke", "CJumpLabelCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    .testTarget(name: "TextPokeTests", dependencies: ["TextPoke", "JumpLabelFixtures"]),
    .testTarget(name: "JumpLabelTests", dependencies: ["JumpLabel", "JumpLabelFixtures", "TextPoke"]),
    // Runs the real `jumplabel` binary; the dependency makes sure it is built.
    .testTarget(name: "StressTests", dependencies: ["jumplabel", "JumpLabelFixtures"]),
    // Model-checks the patch protocol with spin (Model/).
    .testTarget(name: "ModelTests"),
  ],
  swiftLanguageModes: [.v6]
)
