import Foundation
import Synchronization
import JumpLabel
import JumpLabelFixtures
import TextPoke
import Testing

@Suite(.serialized) struct BatchAndDeferredTests {
  /// Several keys in one batch: one patch of all their sites, or nothing.
  @Test func severalKeysChangeInOneBatch() throws {
    _ = Fixture.batchSites()
    try StaticKey.fixtureBatchB.disable()  // both change below
    // Other suites toggle in parallel, so the global batch counter proves
    // nothing: a hook looks at this key's sites in the middle of every
    // batch. A batch that patches them shows a site that holds neither a
    // NOP nor a JMP (int3 or self-loop head), and must show all of them so.
    let addresses = try ["fixture.batch-a", "fixture.batch-b"].flatMap { try StaticKeys.sites(named: $0).map(\.address) }
    let midPatch = Mutex<[Int]>([])  // per batch that touched them: how many were mid-patch
    let token = TextPoke._addBatchHook {
      let n = addresses.filter { a in
        let b = UnsafePointer<UInt8>(bitPattern: a)!.pointee
        return b != 0x0F && b != 0xE9
      }.count
      if n > 0 { midPatch.withLock { $0.append(n) } }
    }
    let changes = try StaticKeys.set(names: ["fixture.batch-a", "fixture.batch-b"], enabled: true)
    TextPoke._removeBatchHook(token)
    #expect(changes.map(\.description) == ["fixture.batch-a: false -> true", "fixture.batch-b: false -> true"])
    #expect(Fixture.batchSites() == (true, true))
    if Fixture.compiledWithSites { #expect(midPatch.withLock { $0 } == [addresses.count], "batches that patched the sites, and how many each") }
    // Dry run: reports, changes nothing.
    let dry = try StaticKeys.set(names: ["fixture.batch-a", "fixture.batch-b"], enabled: false, dryRun: true)
    #expect(dry.map(\.after) == [false, false] && Fixture.batchSites() == (true, true))
    // All or nothing: one key held by increments stops the whole batch.
    try StaticKey.fixtureBatchB.increment()
    #expect(throws: JumpLabelError.heldBy(key: "fixture.batch-b", holders: [.code: 1])) {
      try StaticKeys.set(names: ["fixture.batch-a", "fixture.batch-b"], enabled: false)
    }
    #expect(Fixture.batchSites() == (true, true))
    try StaticKey.fixtureBatchB.decrement()
    try StaticKeys.set(names: ["fixture.batch-a", "fixture.batch-b"], enabled: false)
    #expect(Fixture.batchSites() == (false, false))
    try StaticKey.fixtureBatchB.enable()
  }

  /// A key no image has declared yet can be switched by name when asked:
  /// the state is remembered and applied when something declares it.
  @Test func undeclaredKeysAreRememberedWhenAsked() throws {
    #expect(throws: JumpLabelError.unknownKey("fixture.declared-later")) {
      try StaticKeys.set(names: ["fixture.declared-later"], enabled: true)
    }
    let c = try StaticKeys.set(names: ["fixture.declared-later"], enabled: true, undeclared: true)
    #expect(c == [StaticKeyChange(name: "fixture.declared-later", before: false, after: true, declared: false)])
    let listed = try #require(StaticKeys.list().first { $0.name == "fixture.declared-later" })
    #expect(!listed.declared && listed.state, "\(listed)")
    // Declared now, by a read through a key value the compiler cannot see.
    @inline(never) func opaque(_ k: StaticKey) -> StaticKey { k }
    #expect(opaque(StaticKey("fixture.declared-later")).isEnabled)
    #expect(try StaticKeys.info(named: "fixture.declared-later").declared)
  }

  /// The kernel's deferred keys: a decrement that would disable waits;
  /// an increment in between keeps the key enabled; the last one disables
  /// it after the delay.
  @Test func deferredDecrementsWaitAndCoalesce() throws {
    let k = StaticKey.fixtureDeferred
    try k.increment()
    // Held back, so that the increment comes within the delay whatever
    // the machine's load.
    try StaticKeys._withDeferredDecrementsPaused {
      try k.decrement(deferredBy: .milliseconds(150))
      #expect(k.state && k.count == 1 && Fixture.deferredSite())
      try k.increment()  // within the delay: 1 -> 2, no patching
      #expect(k.count == 2)
    }
    // The deferred decrement runs (2 -> 1) when it is due; no time is
    // asserted, only that it happens (hang guard: 10 s).
    let due = Date().addingTimeInterval(60)
    while k.count != 1 && Date() < due { usleep(10_000) }
    #expect(k.count == 1 && Fixture.deferredSite())
    try StaticKeys._withDeferredDecrementsPaused {
      try k.decrement(deferredBy: .milliseconds(50))
      #expect(k.state)
    }
    let deadline = Date().addingTimeInterval(60)
    // The count reaches 0 just before the sites are patched (as in the
    // kernel), so wait for both.
    while (k.state || Fixture.deferredSite()) && Date() < deadline { usleep(10_000) }
    #expect(!k.state && !Fixture.deferredSite())
    #expect(throws: JumpLabelError.underflow(key: "fixture.deferred")) { try k.decrement(deferredBy: .milliseconds(10)) }
  }
}
