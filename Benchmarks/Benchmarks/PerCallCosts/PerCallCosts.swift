// Per-call cost of a feature check, side by side: static-key sites against
// the usual alternatives. Each benchmark calls one non-inlined function of
// PerCallSubjects (another module, so the calls cannot be optimised away)
// `scaledIterations` = 1,000,000 times per measured iteration.
//
// Run with `--scale` (Benchmarks/README.md), each row is one iteration, a
// million calls: microseconds per million calls = nanoseconds per call x
// 1000, and exact malloc counts per million calls (the harness itself adds
// a constant few per iteration: compare with empty-call). Without it the
// tool divides by the scaling factor and rounds to whole units per call.

import Benchmark
import PerCallSubjects

/// Wall clock, CPU time and mallocs of each check, one million calls per
/// measured iteration.
let benchmarks: @Sendable () -> Void = {
  Benchmark.defaultConfiguration = .init(
    metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .throughput],
    timeUnits: .microseconds,
    warmupIterations: 3,
    scalingFactor: .mega,
    maxDuration: .seconds(2),
    maxIterations: 1_000)

  let logger = PerCallSetup.makeLogger()

  /// Registers the benchmark of `variant`, prepared once before it runs.
  func perCall(_ variant: Variant, _ body: @escaping (Benchmark) -> Void) {
    Benchmark("\(variant.rawValue): \(variant.summary)", closure: body) {
      try PerCallSetup.prepare(variant, logger: logger)
    }
  }

  perCall(.disabledKey) { benchmark in
    for _ in benchmark.scaledIterations { disabledKeySite() }
  }
  perCall(.enabledKey) { benchmark in
    for _ in benchmark.scaledIterations { enabledKeySite() }
    blackHole(guardedWorkCount)
  }
  perCall(.globalBool) { benchmark in
    for _ in benchmark.scaledIterations { globalBoolCheck() }
  }
  perCall(.atomicRelaxed) { benchmark in
    for _ in benchmark.scaledIterations { atomicRelaxedCheck() }
  }
  perCall(.swiftLogTrace) { benchmark in
    for _ in benchmark.scaledIterations { swiftLogTrace(logger) }
  }
  perCall(.optionalHook) { benchmark in
    for _ in benchmark.scaledIterations { optionalHookCall() }
  }
  perCall(.fallbackRead) { benchmark in
    for _ in benchmark.scaledIterations { fallbackRead() }
  }
  perCall(.emptyCall) { benchmark in
    for _ in benchmark.scaledIterations { emptyCall() }
  }
  perCall(.tracepointRing) { benchmark in
    for _ in benchmark.scaledIterations { tracepointRingEmit() }
    blackHole(PerCallSetup.ringWritten)
  }
  perCall(.tracepointDisabled) { benchmark in
    for _ in benchmark.scaledIterations { tracepointDisabledEmit() }
  }
  perCall(.dyndbgDisabled) { benchmark in
    for _ in benchmark.scaledIterations { disabledDebugStatement() }
  }
  perCall(.liveDebugDisabled) { benchmark in
    for _ in benchmark.scaledIterations { liveDebugDisabled(logger) }
  }
  perCall(.swiftLogDebug) { benchmark in
    for _ in benchmark.scaledIterations { swiftLogDebug(logger) }
  }
  perCall(.swiftLogInfoEnabled) { benchmark in
    for _ in benchmark.scaledIterations { swiftLogInfoEnabled(countingLogger) }
  }
  perCall(.liveInfoEnabled) { benchmark in
    for _ in benchmark.scaledIterations { liveInfoEnabled(countingLogger) }
  }
  perCall(.framePlain) { benchmark in
    for _ in benchmark.scaledIterations { framePlain() }
  }
  perCall(.frameDyndbg) { benchmark in
    for _ in benchmark.scaledIterations { frameDyndbg() }
  }
  perCall(.frameLiveTrace) { benchmark in
    for _ in benchmark.scaledIterations { frameLiveTrace(logger) }
  }
  perCall(.frameSwiftLogTrace) { benchmark in
    for _ in benchmark.scaledIterations { frameSwiftLogTrace(logger) }
  }
}
