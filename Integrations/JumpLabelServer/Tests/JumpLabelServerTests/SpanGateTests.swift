import InMemoryTracing
import Instrumentation
import JumpLabel
import JumpLabelTracing
import Synchronization
import Testing
import Tracing

/// The tracer of this test process, bootstrapped once.
enum TestTracer {
  static let shared: InMemoryTracer = {
    let tracer = InMemoryTracer()
    InstrumentationSystem.bootstrap(tracer)
    return tracer
  }()
}

/// How many times the span's name was built.
final class NameCount: Sendable {
  let value = Atomic(0)
}

@Suite("withSpan(if:)") struct SpanGateTests {
  /// The gated call, as a user writes it: one site of `svc-test.span-gate`.
  @inline(never) func lookup(_ id: Int, names: NameCount) async -> Int {
    await withSpan(if: .spanGate, { names.value.add(1, ordering: .relaxed); return "lookup" }()) { span in
      span?.attributes["id"] = id
      await Task.yield()  // the async form, as in a request handler
      return id * 2
    }
  }

  @Test func spansAppearOnlyWhileTheKeyIsOn() async throws {
    let tracer = TestTracer.shared
    let names = NameCount()
    // Off: the body runs, gets no span, the name is never built, and the
    // tracer sees nothing (the negative control of the "on" part).
    for i in 0..<10 { #expect(await lookup(i, names: names) == i * 2) }
    #expect(tracer.finishedSpans.filter { $0.operationName == "lookup" }.isEmpty)
    #expect(names.value.load(ordering: .relaxed) == 0)

    try StaticKey.spanGate.enable()
    for i in 0..<3 { #expect(await lookup(i, names: names) == i * 2) }
    try StaticKey.spanGate.disable()
    for i in 0..<5 { _ = await lookup(i, names: names) }

    let spans = tracer.finishedSpans.filter { $0.operationName == "lookup" }
    #expect(spans.count == 3)
    #expect(spans.map { $0.attributes.get("id") } == [.int64(0), .int64(1), .int64(2)])
    #expect(names.value.load(ordering: .relaxed) == 3)

    // In a release build the check is a real site (not a fallback read).
    #if !DEBUG
    let info = try StaticKeys.info(named: "svc-test.span-gate")
    #expect(info.sites >= 1)
    #expect(info.fallbackHitsInOptimizedCode == 0)
    #endif
  }
}
