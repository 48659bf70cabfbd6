import JumpLabel
import JumpLabelFixtures
import TextPoke
import Testing
import Glibc

/// Threads execute the sites of a key in a tight loop while the main thread
/// toggles it; nothing crashes and every execution after a toggle returned
/// follows it.
@Suite(.serialized) struct LiveToggleTests {
  static let toggles = 10_000

  /// Runs `workers` threads that check `site` against `probe` while `toggle`
  /// is called `toggles` times.
  static func run(workers: Int, site: @escaping @Sendable () -> Bool, toggle: (Bool) throws -> Void) throws -> LinearizabilityProbe {
    let probe = LinearizabilityProbe(initial: false)
    var failure: Error?
    withThreads(workers, { _ in
      while !probe.stopped { probe.check(site) }
    }, during: {
      do {
        for i in 0..<toggles {
          let on = i % 2 == 0
          probe.beginToggle()
          try toggle(on)
          probe.endToggle(now: on)
          // Give the workers a chance to check the stable state.
          probe.settle()
        }
        try toggle(false)
      } catch {
        failure = error
      }
      probe.stop()
    })
    if let failure { throw failure }
    return probe
  }

  @Test func toggleWhileThreadsExecuteIsLinearizable() throws {
    let before = TextPoke.statistics
    let probe = try Self.run(workers: 2, site: { Fixture.live() }) {
      try StaticKey.fixtureLive.set($0)
    }
    let after = TextPoke.statistics
    #expect(probe.violations == 0, "\(probe.violations) executions contradicted a returned toggle")
    // The run is meaningful: both paths were taken, many checks were made.
    #expect(probe.trueCount > 0 && probe.falseCount > 0)
    #expect(probe.checks > Self.toggles / 2)
    if Fixture.compiledWithSites {
      #expect(after.batches - before.batches >= UInt64(Self.toggles))
    }
    print("live toggle: \(probe.checks) checked executions, parked batches \(after.parkedBatches - before.parkedBatches), traps emulated \(after.trapsEmulated - before.trapsEmulated), stale \(after.staleTraps - before.staleTraps), retire waits \(after.retireWaits - before.retireWaits)")
  }

  /// Negative control: a "toggle" that announces a state it never sets must
  /// be reported, so the checker above can fail.
  @Test func checkerCatchesAToggleThatDoesNotPatch() throws {
    let probe = try Self.run(workers: 2, site: { Fixture.live() }) { _ in }
    #expect(probe.violations > 0, "the checker missed a toggle that changed nothing")
    #expect(!StaticKey.fixtureLive.state)
  }
}
