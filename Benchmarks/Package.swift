// swift-tools-version: 6.1
// Benchmarks for JumpLabel, kept in their own package so that the benchmark
// harness and its dependencies never become dependencies of the library.
import PackageDescription

// JUMPLABEL_BENCH_SWIFT_LOG_TRAIT=MaxLogLevelInfo (say) builds swift-log with
// that trait, which compiles trace and debug out of the whole graph: the
// "compiled out" column of the logging benchmarks: run Scripts/instruction-counts
// with it set (a second build).
let swiftLogTraits: Set<Package.Dependency.Trait> =
  Context.environment["JUMPLABEL_BENCH_SWIFT_LOG_TRAIT"].map { [Package.Dependency.Trait(name: $0)] } ?? [.defaults]

let package = Package(
  name: "JumpLabelBenchmarks",
  platforms: [.macOS(.v15)],
  dependencies: [
    // The library itself, from the folder above. A path package's identity
    // is its folder's name, so its products are named through
    // `jumpLabelPackage` below (a clone in any folder builds).
    .package(path: "..", traits: ["Logging"]),
    // Only the malloc interposer trait: the runtime interposer the default
    // traits add on Swift 6.3 is not needed for these metrics.
    .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2", traits: swiftLogTraits),
  ],
  targets: [
    // The code under measurement: one non-inlined function per variant,
    // shared by the benchmark and by the instruction-count executable so
    // that both measure the same machine code.
    .target(
      name: "PerCallSubjects",
      dependencies: [
        .product(name: "JumpLabel", package: jumpLabelPackage),
        .product(name: "JumpLabelLogging", package: jumpLabelPackage),
        .product(name: "Logging", package: "swift-log"),
      ]),
    // Wall clock, CPU time and mallocs per call (package-benchmark).
    .executableTarget(
      name: "PerCallCosts",
      dependencies: [
        "PerCallSubjects",
        .product(name: "Benchmark", package: "benchmark"),
      ],
      path: "Benchmarks/PerCallCosts",
      plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    // A plain executable that runs one variant N times, for callgrind
    // (Scripts/instruction-counts). No benchmark harness, no interposer.
    .executableTarget(
      name: "InstructionCounts",
      dependencies: ["PerCallSubjects"]),
    // Times of several variants side by side, interleaved round by round
    // so that their ratios hold on a noisy machine (Scripts/frame-workload).
    .executableTarget(
      name: "SideBySide",
      dependencies: ["PerCallSubjects", .product(name: "Logging", package: "swift-log")]),
  ],
  swiftLanguageModes: [.v6]
)

/// The identity of the package in the folder above: that folder's name.
var jumpLabelPackage: String {
  let here = #filePath.split(separator: "/").dropLast()  // .../Benchmarks
  return String(here.dropLast().last ?? "JumpLabel")
}
