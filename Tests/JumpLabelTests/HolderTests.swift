import JumpLabel
import JumpLabelFixtures
import Testing

/// The holder model: a key's count belongs to its holders.
@Suite(.serialized) struct HolderTests {
  let key = StaticKey.fixtureHolders
  let name = "fixture.holders"
  let probe = StaticKeyHolder(.probe, id: "7")
  let client = StaticKeyHolder(.trace, id: "pid 4242")

  /// Holds are listed, idempotent per holder, and each holder releases
  /// only its own; the last release disables the key.
  @Test func holdersAreListedAndReleaseOnlyTheirOwn() throws {
    _ = Fixture.holdersSite()
    try StaticKeys.hold(name, by: probe)
    try StaticKeys.hold(name, by: probe)  // idempotent
    try key.increment()
    try key.enable()
    #expect(StaticKeys.holders(of: name) == [probe: 1, .code: 1, .enabled: 1])
    #expect(key.count == 3 && Fixture.holdersSite())
    #expect(throws: JumpLabelError.notHeld(key: name, holder: client)) { try StaticKeys.release(name, by: client) }
    #expect(try StaticKeys.release(name, by: .enabled))
    try key.decrement()
    // Code's decrement may not take the probe's share: an underflow, nothing changes.
    #expect(throws: JumpLabelError.underflow(key: name)) { try key.decrement() }
    #expect(StaticKeys.holders(of: name) == [probe: 1] && key.count == 1 && Fixture.holdersSite())
    #expect(try StaticKeys.release(name, by: probe))
    #expect(key.count == 0 && !Fixture.holdersSite() && StaticKeys.holders(of: name).isEmpty)
  }

  /// disable() refuses while others hold the key, naming them, and changes
  /// nothing (negative control: with no other holder it disables); a forced
  /// disable drops every share in one batch and records why; a dropped
  /// holder's release is a no-op that reports it.
  @Test func disableRefusesUnlessForced() throws {
    _ = Fixture.holdersSite()
    try key.enable()
    try StaticKeys.hold(name, by: client)
    try key.increment()
    #expect(throws: JumpLabelError.heldBy(key: name, holders: [client: 1, .code: 1])) { try key.disable() }
    #expect(throws: JumpLabelError.heldBy(key: name, holders: [client: 1, .code: 1])) {
      try StaticKeys.set(names: [name], enabled: false)
    }
    #expect(key.count == 3 && Fixture.holdersSite(), "a refused disable changed the key")
    let change = try #require(try key.disable(force: "disabled by pid 1 (test --force)"))
    #expect(change.before && !change.after)
    #expect(key.count == 0 && !Fixture.holdersSite() && StaticKeys.holders(of: name).isEmpty)
    #expect(try StaticKeys.info(named: name).forcedOff == "disabled by pid 1 (test --force)")
    #expect(StaticKeys.droppedReason(name, holder: client) == "disabled by pid 1 (test --force)")
    #expect(try StaticKeys.release(name, by: client) == false, "a dropped holder's release must be a no-op")
    #expect(StaticKeys.droppedReason(name, holder: client) == nil)
    #expect(throws: JumpLabelError.underflow(key: name)) { try key.decrement() }  // code's share went too
    #expect(key.count == 0 && !Fixture.holdersSite())
    // Negative control: the same disable with only its own share goes ahead.
    try key.enable()
    try key.disable()
    #expect(key.count == 0 && !Fixture.holdersSite())
  }

  /// A deferred release keeps the hold listed until due; holding again in
  /// between cancels it.
  @Test func aDeferredReleaseIsCancelledByANewHold() async throws {
    _ = Fixture.holdersSite()
    try StaticKeys.hold(name, by: client)
    // Held back, so that the hold comes within the 50 ms whatever the load.
    try StaticKeys._withDeferredDecrementsPaused {
      #expect(try StaticKeys.release(name, by: client, deferredBy: .milliseconds(50)))
      #expect(StaticKeys.holders(of: name) == [client: 1])
      try StaticKeys.hold(name, by: client)  // cancels it
    }
    try await Task.sleep(for: .milliseconds(200))
    #expect(StaticKeys.holders(of: name) == [client: 1] && Fixture.holdersSite())
    #expect(try StaticKeys.release(name, by: client, deferredBy: .milliseconds(20)))
    var waited = 0
    while key.state && waited < 6000 { try await Task.sleep(for: .milliseconds(10)); waited += 1 }  // hang guard: 60 s
    #expect(!key.state && StaticKeys.holders(of: name).isEmpty)
  }

  /// Typos: the closest declared names, and forgetting remembered ones.
  @Test func closestNamesAndForget() throws {
    let near = StaticKeys.closestNames(to: "fixture.holdres")
    #expect(near.first?.name == "fixture.holders" && near.first?.distance == 1 && near.first?.isTracepoint == false, "\(near)")
    #expect(StaticKeys.closestNames(to: "fixture.trace.forcde").first?.isTracepoint == true)
    #expect(StaticKeys.closestNames(to: "fixture.holders").isEmpty, "a declared name needs no suggestion")
    #expect(StaticKeys.closestNames(to: "completely.different.thing").isEmpty)
    try StaticKeys.set(names: ["fixture.holdres"], enabled: true, undeclared: true)
    #expect(StaticKeys.list().contains { $0.name == "fixture.holdres" })
    #expect(throws: JumpLabelError.declaredKey("fixture.holders")) { try StaticKeys.forget(names: ["fixture.holdres", "fixture.holders"]) }
    #expect(StaticKeys.list().contains { $0.name == "fixture.holdres" }, "a refused forget dropped something")
    #expect(try StaticKeys.forget(names: ["fixture.holdres", "never.mentioned"]) == ["fixture.holdres"])
    #expect(!StaticKeys.list().contains { $0.name == "fixture.holdres" })
  }

  /// A batch that patched reports its cost; one that patched nothing does not.
  @Test func aBatchReportsItsCost() throws {
    _ = Fixture.holdersSite()
    let on = try StaticKeys.set(names: [name], enabled: true)
    defer { _ = try? StaticKeys.set(names: [name], enabled: false) }
    if Fixture.compiledWithSites {
      let cost = try #require(on.first?.cost)
      #expect(cost.sitesPatched >= 1 && cost.syncs >= 2 && cost.nanoseconds > 0, "\(cost)")
      #expect(["int3", "self-loop", "parked", "valgrind"].contains(cost.protocol), "\(cost)")
    }
    let again = try StaticKeys.set(names: [name], enabled: true)
    #expect(again.first?.cost == nil && again.first?.before == true)
  }
}
