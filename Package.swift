// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "JumpLabel",
  platforms: [.macOS(.v15)],
  products: [
    // Keys, and with them tracepoints and the control server (linked into
    // every program that uses keys, so that JUMPLABEL_CONTROL=1 works in a
    // program whose only contact with the library is its NOP sites).
    .library(name: "JumpLabel", targets: ["JumpLabel", "Tracepoints", "JumpLabelControl"]),
    .library(name: "TextPoke", targets: ["TextPoke"]),
    .library(name: "Tracepoints", targets: ["Tracepoints"]),
    // swift-log on static keys: NOP call sites per module and level, live
    // levels per module and label, a LogHandler wrapper. Needs the
    // "Logging" trait (off by default: a consumer of JumpLabel alone
    // neither resolves nor builds swift-log).
    .library(name: "JumpLabelLogging", targets: ["JumpLabelLogging"]),
    .executable(name: "jumplabel", targets: ["jumplabel"]),
    // Test fixtures, built as real shared libraries (Tests/SharedLibraries).
    .library(name: "JumpLabelTestPairA", type: .dynamic, targets: ["PairA"]),
    .library(name: "JumpLabelTestPairB", type: .dynamic, targets: ["PairB"]),
    .library(name: "JumpLabelTestChurn", type: .dynamic, targets: ["ChurnSites"]),
    .library(name: "JumpLabelTestLinkedC", type: .dynamic, targets: ["LinkedCSites"]),
    .library(name: "JumpLabelTestForeignRuntime", type: .dynamic, targets: ["ForeignRuntime"]),
    .library(name: "JumpLabelTestUSDTLib", type: .dynamic, targets: ["USDTLib"]),
    .library(name: "JumpLabelTestDynDbgPlugin", type: .dynamic, targets: ["DynDbgPlugin"]),
    .library(name: "JumpLabelTestDynDbgMany", type: .dynamic, targets: ["DynDbgMany"]),
  ],
  traits: [
    .trait(name: "Logging", description: "JumpLabelLogging: swift-log call sites and levels on static keys (adds swift-log)."),
    .default(enabledTraits: []),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    // `swift package generate-documentation` (Scripts/check-docs). A root
    // package's plugin dependency: packages that depend on JumpLabel do not
    // resolve it.
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    // C shim of the patch engine: SIGTRAP handler, published batch, membarrier.
    .target(name: "CTextPoke"),
    // The patch engine: int3 + core-sync protocol, writers, lock.
    .target(name: "TextPoke", dependencies: ["CTextPoke"]),
    // The branch site (asm goto), the table layout, the per-image note and
    // hooks, and the contract between runtime copies. Header-only in effect:
    // C libraries with sites include it without linking the runtime.
    .target(name: "CJumpLabelSite"),
    // C side of the runtime: its descriptor and a few loader calls.
    .target(name: "CJumpLabel", dependencies: ["CJumpLabelSite"]),
    // Static keys: tables, registry, counting, fallback, shared libraries.
    .target(name: "JumpLabel", dependencies: ["CJumpLabel", "CJumpLabelSite", "TextPoke"]),
    // swift-log bridge (trait "Logging"); without the trait it is empty.
    // It links the whole core, as the JumpLabel product does (the runtime's
    // load hook calls into Tracepoints and JumpLabelControl when linked).
    .target(name: "JumpLabelLogging", dependencies: [
      "JumpLabel", "Tracepoints", "JumpLabelControl", .product(name: "Logging", package: "swift-log", condition: .when(traits: ["Logging"])),
    ]),
    // Its test program: logging call sites in an optimised module, driven
    // by the tests (Tests/LoggingHarness).
    .target(name: "LoggingFixtures", dependencies: [
      "JumpLabelLogging", .product(name: "Logging", package: "swift-log", condition: .when(traits: ["Logging"])),
    ], path: "Tests/LoggingFixtures", swiftSettings: [.unsafeFlags(["-O"])]),
    .executableTarget(name: "jumplabel-logging-harness", dependencies: [
      "JumpLabelLogging", "LoggingFixtures", "JumpLabel", "TextPoke",
      .product(name: "Logging", package: "swift-log", condition: .when(traits: ["Logging"])),
    ], path: "Tests/LoggingHarness"),
    // C side of tracepoints: the grace period of probe lists, thread ids.
    .target(name: "CTracepoints"),
    // Tracepoints on static keys: probes, sinks, the JSON writer.
    .target(name: "Tracepoints", dependencies: ["JumpLabel", "CTracepoints"]),
    // C side of the control server: sockets, peer credentials, autostart.
    .target(name: "CJumpLabelControl"),
    // Live control from outside: the socket server and its protocol.
    .target(name: "JumpLabelControl", dependencies: ["JumpLabel", "Tracepoints", "CJumpLabelControl", "CJumpLabelSite"]),
    // Keys declared in one module and used in another (tests, stress).
    .target(name: "JumpLabelFixtures", dependencies: ["JumpLabel", "Tracepoints"], path: "Tests/Fixtures"),
    // Tracepoints with USDT probe points, optimised in every configuration
    // (probe points exist only in optimised code).
    .target(name: "USDTFixtures", dependencies: ["Tracepoints"], path: "Tests/USDTFixtures",
            swiftSettings: [.unsafeFlags(["-O"])]),
    // A Swift library with a USDT tracepoint, dlopened by the harness.
    .target(name: "USDTLib", dependencies: ["Tracepoints"], path: "Tests/SharedLibraries/USDTLib",
            swiftSettings: [.unsafeFlags(["-O"])]),
    // Debug statements in two modules and a dlopened library, optimised in
    // every configuration (statements are NOP sites only in optimised code).
    .target(name: "DynDbgCache", dependencies: ["JumpLabel"], path: "Tests/DynDbgFixtures/Cache",
            swiftSettings: [.unsafeFlags(["-O"])]),
    .target(name: "DynDbgNet", dependencies: ["JumpLabel"], path: "Tests/DynDbgFixtures/Net",
            swiftSettings: [.unsafeFlags(["-O"])]),
    .target(name: "DynDbgPlugin", dependencies: ["JumpLabel"], path: "Tests/SharedLibraries/DynDbgPlugin",
            swiftSettings: [.unsafeFlags(["-O"])]),
    // 1,000 statements in a library the harness dlopens for `dyndbg --many`
    // (Scripts/generate-dyndbg-statements.py).
    .target(name: "DynDbgMany", dependencies: ["JumpLabel"], path: "Tests/DynDbgFixtures/Many",
            swiftSettings: [.unsafeFlags(["-O"])]),
    // Shared-library fixtures. Optimised in every configuration, so that
    // their sites are real NOP/JMP sites in debug test runs too.
    .target(name: "PairKeys", dependencies: ["JumpLabel"], path: "Tests/SharedLibraries/PairKeys",
            swiftSettings: [.unsafeFlags(["-O"])]),
    .target(name: "PairAInit", path: "Tests/SharedLibraries/PairAInit"),
    .target(name: "PairA", dependencies: ["JumpLabel", "PairKeys", "PairAInit"], path: "Tests/SharedLibraries/PairA",
            swiftSettings: [.unsafeFlags(["-O"])]),
    .target(name: "PairBInit", path: "Tests/SharedLibraries/PairBInit"),
    .target(name: "PairB", dependencies: ["JumpLabel", "PairKeys", "PairBInit"], path: "Tests/SharedLibraries/PairB",
            swiftSettings: [.unsafeFlags(["-O"])]),
    // Linked without swiftrt.o (-nostartfiles): otherwise the Swift runtime
    // keeps a pointer into the library after dlclose, and it is pinned.
    .target(name: "ChurnSites", dependencies: ["CJumpLabelSite"], path: "Tests/SharedLibraries/ChurnSites",
            cSettings: [.unsafeFlags(["-O2"])], linkerSettings: [.unsafeFlags(["-nostartfiles"])]),
    .target(name: "LinkedCSites", dependencies: ["CJumpLabelSite"], path: "Tests/SharedLibraries/LinkedCSites",
            cSettings: [.unsafeFlags(["-O2"])]),
    .target(name: "ForeignRuntime", dependencies: ["CJumpLabelSite"], path: "Tests/SharedLibraries/ForeignRuntime",
            cSettings: [.unsafeFlags(["-O2"])], linkerSettings: [.unsafeFlags(["-nostartfiles"])]),
    // C shim of the stress workload (prctl, signal masks).
    .target(name: "CStressWorkload"),
    // The stress workload of `jumplabel stress`: generated sites, the
    // linearizability probe, the dlopen churn, the watchdog.
    // Its 384 sites (StressSites.swift) are generated at build time.
    .target(name: "StressWorkload", dependencies: ["JumpLabel", "TextPoke", "CStressWorkload"],
            plugins: ["StressSitesPlugin"]),
    // Writes the stress workload's sites; run by StressSitesPlugin.
    .executableTarget(name: "generate-stress-sites"),
    .plugin(name: "StressSitesPlugin", capability: .buildTool(), dependencies: ["generate-stress-sites"]),
    // The sites `jumplabel bench` toggles (11,111 sites of five keys,
    // written out by the preprocessor), optimised in every configuration so
    // that they are real sites.
    .target(name: "BenchSites", dependencies: ["CJumpLabelSite"], cSettings: [.unsafeFlags(["-O2"])]),
    // 1,000 debug statements that `jumplabel bench --only dyndbg` switches
    // with one query (Scripts/generate-dyndbg-statements.py), optimised in
    // every configuration so that they are real NOP sites.
    .target(name: "BenchStatements", dependencies: ["JumpLabel"], swiftSettings: [.unsafeFlags(["-O"])]),
    // C side of `jumplabel bench`: the physical floor, and two patchers that
    // exist only to be compared with (the Rust static-key crate's design).
    .target(name: "CBench"),
    // The command-line tool: user-facing commands only.
    .executableTarget(
      name: "jumplabel",
      dependencies: ["JumpLabel", "TextPoke", "StressWorkload", "CStressWorkload", "JumpLabelControl", "BenchSites", "BenchStatements", "CBench",
                     .product(name: "ArgumentParser", package: "swift-argument-parser"),
                     .product(name: "Histogram", package: "hdrhistogram-swift")]),
    // Test support: the scenarios the tests run in child processes
    // (hazards, shared libraries, signal handlers). Not shipped.
    .target(name: "CHarness", path: "Tests/CHarness"),
    .executableTarget(
      name: "jumplabel-harness",
      dependencies: ["JumpLabel", "TextPoke", "StressWorkload", "CStressWorkload", "CHarness", "JumpLabelFixtures", "JumpLabelControl", "Tracepoints",
                     "USDTFixtures", "DynDbgCache", "DynDbgNet",
                     .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Tests/Harness"),
    .testTarget(name: "TextPokeTests", dependencies: ["TextPoke", "JumpLabelFixtures"]),
    .testTarget(name: "JumpLabelTests", dependencies: ["JumpLabel", "JumpLabelFixtures", "TextPoke"]),
    .testTarget(name: "TracepointTests", dependencies: ["Tracepoints", "JumpLabel", "JumpLabelFixtures", "TextPoke", "USDTFixtures"]),
    // Runs the real `jumplabel` and `jumplabel-harness` binaries; the
    // dependencies make sure they are built.
    .testTarget(name: "StressTests", dependencies: ["jumplabel", "jumplabel-harness", "JumpLabelFixtures", "JumpLabelControl",
                                                    "jumplabel-logging-harness"]),
    // The control protocol's decoder: property tests and a regression corpus.
    .testTarget(name: "ControlProtocolTests", dependencies: ["JumpLabelControl"], exclude: ["Corpus", "Fuzz"]),
    // Model-checks the patch protocol with spin (Model/).
    .testTarget(name: "ModelTests", dependencies: ["JumpLabelFixtures"]),
  ],
  swiftLanguageModes: [.v6]
)
