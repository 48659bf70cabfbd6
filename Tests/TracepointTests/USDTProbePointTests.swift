import JumpLabel
import JumpLabelFixtures
import Testing
import Tracepoints
import USDTFixtures

/// USDT probe points in this process (no external tool): the name
/// mapping, the compile-time guard, and the watcher's view of the
/// fixture's probe points.
@Suite struct USDTProbePointTests {
  @Test func nameMapping() {
    #expect(USDT.probeName(of: "http.request.start")! == ("http", "request_start"))
    #expect(USDT.probeName(of: "db.query-done.v2")! == ("db", "query_done_v2"))
    #expect(USDT.probeName(of: "nodot") == nil)
    #expect(USDT.probeName(of: ".x") == nil)
    #expect(USDT.probeName(of: "x.") == nil)
    #expect(USDT.probeName(of: "a.b c") == nil)
    #expect(USDT.probeName(of: "a." + String(repeating: "b", count: 93)) != nil)  // 95 bytes
    #expect(USDT.probeName(of: "a." + String(repeating: "b", count: 94)) == nil)  // 96 bytes
  }

  /// The guard compiles a probe point for a valid name and refuses the
  /// others (negative controls), in agreement with `probeName(of:)`.
  @Test func compileTimeGuard() {
    #expect(USDTGuard.valid() == 1)
    #expect(USDTGuard.longest() == 1)
    #expect(USDTGuard.dotless() == 0)
    #expect(USDTGuard.badCharacter() == 0)
    #expect(USDTGuard.emptyName() == 0)
    #expect(USDTGuard.tooLong() == 0)
  }

  @Test func probePointsOfTheLoadedImages() {
    let points = USDT.probePoints()
    let ticks = points.filter { $0.tracepoint == "jltest.usdt.tick" }
    #expect(ticks.count == 2)
    #expect(Set(ticks.map(\.address)).count == 2, "the two emit sites must be two probe points")
    #expect(ticks.allSatisfy { $0.provider == "jltest" && $0.name == "usdt_tick" && $0.semaphore == 0 })
    #expect(points.contains { $0.tracepoint == "jltest.usdt.wide-6" && $0.name == "usdt_wide_6" })
    // The probe point is a one-byte NOP.
    for p in ticks { #expect(UnsafePointer<UInt8>(bitPattern: p.address)!.pointee == 0x90) }
  }

  @Test func watcherRunsAndSeesThem() async throws {
    // The watcher starts with the first image that has sites.
    USDTFixture.tickA(0)
    var w = USDT.watcher
    for _ in 0..<3000 where w.probePoints == 0 {  // hang guard: 60 s
      try await Task.sleep(for: .milliseconds(20))
      w = USDT.watcher
    }
    #expect(w.enabled && w.running)
    #expect(w.probePoints >= 3, "\(w)")
    #expect(w.failures == 0)
  }

  /// An operator disables a key while a USDT tracer holds it. A plain
  /// disable refuses and names the tracer (the refusal is this test's
  /// negative control: nothing changes). A forced one drops the watcher's
  /// hold; when the tracer leaves, the watcher's release finds nothing to
  /// take: that must count as done, or the watcher retries forever and
  /// never switches the key on for the next tracer (it did: an underflow
  /// every second). It must not switch the key on again by itself either.
  @Test func anOperatorsDisableDoesNotWedgeTheWatcher() throws {
    let key = StaticKey.fixtureUSDTHeld
    _ = Fixture.usdtHeldSite()
    #expect(USDT.tracerChanged("fixture.usdt-held", traced: true))
    #expect(key.state)
    #expect(StaticKeys.holders(of: "fixture.usdt-held") == [.usdt: 1])
    #expect(throws: JumpLabelError.heldBy(key: "fixture.usdt-held", holders: [.usdt: 1])) { try key.disable() }
    #expect(key.state && Fixture.usdtHeldSite(), "a refused disable changed the key")
    try key.disable(force: "disabled by the test (operator)")  // the operator
    #expect(!key.state && !Fixture.usdtHeldSite())
    #expect(StaticKeys.droppedReason("fixture.usdt-held", holder: .usdt) == "disabled by the test (operator)")
    #expect(USDT.tracerChanged("fixture.usdt-held", traced: false), "the tracer's leaving was refused")
    #expect(!key.state && StaticKeys.holders(of: "fixture.usdt-held").isEmpty, "the leaving tracer moved the count")
    // The next tracer switches it on again.
    #expect(USDT.tracerChanged("fixture.usdt-held", traced: true))
    #expect(key.state && Fixture.usdtHeldSite())
    try key.disable(force: "test cleanup")
  }
}
