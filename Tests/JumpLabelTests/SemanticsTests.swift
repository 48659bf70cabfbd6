import JumpLabel
import JumpLabelFixtures
import Testing

/// The kernel's static-key self-test matrix (lib/test_static_keys.c):
/// keys true/false × layouts likely/unlikely; verify, invert all, verify,
/// invert all, verify.
@Suite(.serialized) struct SemanticsTests {
  /// Each case: the site, and the key state it must follow.
  static let matrix: [(String, @Sendable () -> Bool, StaticKey)] = [
    ("false/unlikely", Fixture.falseUnlikely, .fixtureFalse),
    ("false/likely", Fixture.falseLikely, .fixtureFalse),
    ("true/likely", Fixture.trueLikely, .fixtureTrue),
    ("true/unlikely", Fixture.trueUnlikely, .fixtureTrue),
    // The same keys, with sites compiled in this module. (Not as closures
    // written right here: Swift marks calls inside a static initializer's
    // closures `noinline`, which turns such sites into fallbacks.)
    ("false/unlikely (test module)", falseUnlikely, .fixtureFalse),
    ("false/likely (test module)", falseLikely, .fixtureFalse),
    ("true/likely (test module)", trueLikely, .fixtureTrue),
    ("true/unlikely (test module)", trueUnlikely, .fixtureTrue),
  ]

  @inline(never) static func falseUnlikely() -> Bool { StaticKey.fixtureFalse.isEnabled }
  @inline(never) static func falseLikely() -> Bool { StaticKey.fixtureFalse.isEnabled(likely: true) }
  @inline(never) static func trueLikely() -> Bool { StaticKey.fixtureTrue.isEnabled }
  @inline(never) static func trueUnlikely() -> Bool { StaticKey.fixtureTrue.isEnabled(likely: false) }

  func verify(_ expectFalse: Bool, _ expectTrue: Bool) {
    for (name, site, key) in Self.matrix {
      let expected = key == .fixtureFalse ? expectFalse : expectTrue
      #expect(site() == expected, "\(name) should be \(expected)")
      #expect(key.state == expected, "\(name): state should be \(expected)")
    }
  }

  @Test func matrixInvertsAndRestores() throws {
    verify(false, true)
    for _ in 0..<2 {
      try StaticKey.fixtureFalse.enable()
      try StaticKey.fixtureTrue.disable()
      verify(true, false)
      try StaticKey.fixtureFalse.disable()
      try StaticKey.fixtureTrue.enable()
      verify(false, true)
    }
  }

  @Test func countingFollowsKernelSemantics() throws {
    let key = StaticKey.fixtureFalse
    #expect(key.count == 0)
    try key.increment()
    try key.increment()
    #expect(key.count == 2)
    #expect(Fixture.falseUnlikely() && Fixture.falseLikely())
    try key.decrement()
    #expect(key.count == 1 && Fixture.falseUnlikely())
    // disable() refuses to drop increments it does not own, and names them.
    #expect(throws: JumpLabelError.heldBy(key: "fixture.false", holders: [.code: 2])) {
      try key.increment()
      try key.disable()
    }
    #expect(key.count == 2 && Fixture.falseUnlikely())
    try key.decrement()
    try key.decrement()
    #expect(key.count == 0 && !Fixture.falseUnlikely() && !Fixture.falseLikely())
    // Underflow: an error, and nothing changes.
    #expect(throws: JumpLabelError.underflow(key: "fixture.false")) { try key.decrement() }
    #expect(key.count == 0 && !key.state && !Fixture.falseUnlikely())
    // A default-true key starts at count 1: the `.enabled` holder's share,
    // which code's decrement() may not take; disable() may.
    #expect(StaticKey.fixtureTrue.count == 1)
    #expect(StaticKeys.holders(of: "fixture.true") == [.enabled: 1])
    #expect(throws: JumpLabelError.underflow(key: "fixture.true")) { try StaticKey.fixtureTrue.decrement() }
    #expect(Fixture.trueLikely() && Fixture.trueUnlikely())
    try StaticKey.fixtureTrue.disable()
    #expect(!Fixture.trueLikely() && !Fixture.trueUnlikely())
    try StaticKey.fixtureTrue.enable()
    #expect(Fixture.trueLikely() && Fixture.trueUnlikely())
  }

  @Test func enableAndDisableAreIdempotent() throws {
    try StaticKey.fixtureFalse.enable()
    try StaticKey.fixtureFalse.enable()
    #expect(StaticKey.fixtureFalse.count == 1)
    try StaticKey.fixtureFalse.set(false)
    try StaticKey.fixtureFalse.set(false)
    #expect(StaticKey.fixtureFalse.count == 0 && !Fixture.falseUnlikely())
  }

  @Test func byNameControlAndErrors() throws {
    try StaticKeys.set(named: "fixture.false", enabled: true)
    #expect(Fixture.falseUnlikely() && Fixture.falseLikely())
    #expect(try StaticKeys.info(named: "fixture.false").state)
    try StaticKeys.increment(named: "fixture.false")
    #expect(try StaticKeys.info(named: "fixture.false").count == 2)
    try StaticKeys.decrement(named: "fixture.false")
    try StaticKeys.set(named: "fixture.false", enabled: false)
    #expect(!Fixture.falseUnlikely() && !Fixture.falseLikely())

    #expect(throws: JumpLabelError.unknownKey("no.such.key")) {
      try StaticKeys.set(named: "no.such.key", enabled: true)
    }
    #expect(throws: JumpLabelError.unknownKey("no.such.key")) { try StaticKeys.increment(named: "no.such.key") }
    #expect(throws: JumpLabelError.unknownKey("no.such.key")) { try StaticKeys.sites(named: "no.such.key") }
    #expect(!StaticKeys.list().contains { $0.name == "no.such.key" })
  }

  @Test func conflictingDefaultIsAnErrorAndChangesNothing() throws {
    _ = StaticKeys.list()  // the tables are read: the key's default comes from them (release)
    let wrong = StaticKey("fixture.false", default: true)
    do {
      try wrong.enable()
      Issue.record("a conflicting default was accepted")
    } catch {
      guard case let .conflictingDefaults(key, declared, recorded, declaredAt, recordedAt) = error else {
        Issue.record("wrong error: \(error)")
        return
      }
      #expect(key == "fixture.false" && declared && !recorded)
      // Both sides are named: this call, and where the default came from
      // (the test executable's site table, or a read in it in debug).
      #expect(declaredAt == "a control call", "\(error)")
      #expect(recordedAt == "<main program>" || recordedAt.hasPrefix("a read in /"), "\(error)")
      #expect(error.description.contains(declaredAt) && error.description.contains(recordedAt))
    }
    #expect(!Fixture.falseUnlikely() && StaticKey.fixtureFalse.count == 0)
  }

  /// A `static let` key used from another module compiles, in optimised
  /// code, into a fallback read at every execution: counted, and reported
  /// by problems() naming the image (not blocking toggles). The same key
  /// as an @inlinable computed property is a NOP site and is not reported.
  @Test(.enabled(if: Fixture.compiledWithSites, "debug builds have no NOP sites; run `swift test -c release`"))
  func staticLetKeysAreReportedInOptimisedCode() throws {
    @inline(never) func storedKeySite() -> Bool { StaticKey.fixtureStaticLet.isEnabled }
    @inline(never) func literalKeySite() -> Bool { StaticKey.fixtureCrossModule.isEnabled }
    for _ in 0..<10 { _ = storedKeySite(); _ = literalKeySite() }
    let info = try StaticKeys.info(named: "fixture.static-let")
    #expect(info.fallbackHitsInOptimizedCode >= 10 && info.problem == nil, "\(info)")
    let reported = StaticKeys.problems().filter { if case .fallbackInOptimizedCode = $0 { return true } else { return false } }
    let mine = reported.first { if case let .fallbackInOptimizedCode(key, _, _) = $0 { return key == "fixture.static-let" } else { return false } }
    let found = try #require(mine, "\(reported)")
    #expect(!found.blocksToggling)
    if case let .fallbackInOptimizedCode(_, hits, image) = found {
      #expect(hits >= 10 && image.hasSuffix(".xctest"), "\(found)")
    }
    #expect(found.description.contains("@inlinable"))
    // Negative control: the literal key is not reported, and toggling the
    // stored one works (only its cost is wrong).
    #expect(!reported.contains { if case let .fallbackInOptimizedCode(key, _, _) = $0 { return key == "fixture.cross-module" } else { return false } })
    try StaticKey.fixtureStaticLet.enable()
    #expect(storedKeySite())
    try StaticKey.fixtureStaticLet.disable()
    #expect(!storedKeySite())
  }

  @Test func listReportsKeys() throws {
    let infos = StaticKeys.list()
    let f = try #require(infos.first { $0.name == "fixture.false" })
    let t = try #require(infos.first { $0.name == "fixture.true" })
    #expect(!f.defaultValue && t.defaultValue)
    #expect(!f.state && t.state && f.count == 0 && t.count == 1)
    #expect(f.problem == nil && t.problem == nil)
    #expect(StaticKeys.problems().filter(\.blocksToggling).isEmpty, "\(StaticKeys.problems())")
    #expect(StaticKey.fixtureFalse.description == "fixture.false")
    #expect(StaticKey.fixtureFalse == StaticKey("fixture.false"))
    #expect(Set([StaticKey.fixtureFalse, StaticKey("fixture.false")]).count == 1)
  }
}
