import JumpLabel
import JumpLabelFixtures
import TextPoke
import Testing

/// The sites are real: in a release build every recorded site of a fixture
/// key holds the NOP or JMP its entry says, and follows the key.
@Suite(.serialized) struct SiteBytesTests {
  /// Sites of a key declared in the fixture module, compiled in this one.
  @inline(never) static func crossModuleUnlikely() -> Bool { StaticKey.fixtureCrossModule.isEnabled }
  @inline(never) static func crossModuleLikely() -> Bool { StaticKey.fixtureCrossModule.isEnabled(likely: true) }

  @Test(.enabled(if: Fixture.compiledWithSites, "debug builds have no NOP sites; run `swift test -c release`"))
  func recordedSitesHoldTheExpectedInstruction() throws {
    let key = StaticKey.fixtureFalse
    let sites = try StaticKeys.sites(named: key.nameString)
    // falseUnlikely, falseLikely in the fixture module; at least two closures
    // in SemanticsTests in this module.
    #expect(sites.count >= 4, "\(sites)")
    #expect(sites.contains { $0.likely } && sites.contains { !$0.likely })
    func check(_ enabled: Bool) {
      for s in sites {
        #expect(s.currentBytes == s.expectedBytes(enabled: enabled), "\(s)")
        let isNop = s.currentBytes == StaticKeySite.nop5
        #expect(isNop == (enabled == s.likely), "\(s)")
        if !isNop {
          #expect(X86Instruction.jumpTarget(of: s.currentBytes, at: s.address) == s.target)
        }
      }
    }
    check(false)
    try key.enable()
    check(true)
    try key.disable()
    check(false)
  }

  /// No site's first two bytes straddle a cache line (the site header
  /// pads when needed), so the self-loop protocol can always be used.
  @Test(.enabled(if: Fixture.compiledWithSites, "debug builds have no NOP sites; run `swift test -c release`"))
  func noSiteStraddlesACacheLine() throws {
    var n = 0
    for k in StaticKeys.list() {
      for s in try StaticKeys.sites(named: k.name) {
        #expect(s.address & 63 != 63, "\(s)")
        n += 1
      }
    }
    #expect(n > 20)
  }

  @Test(.enabled(if: Fixture.compiledWithSites, "debug builds have no NOP sites; run `swift test -c release`"))
  func defaultTrueUnlikelyStartsAsJump() throws {
    _ = Fixture.trueUnlikely()
    let sites = try StaticKeys.sites(named: "fixture.true")
    let unlikely = sites.filter { !$0.likely }
    #expect(!unlikely.isEmpty)
    for s in unlikely { #expect(s.currentBytes.first == 0xE9, "\(s)") }
  }

  @Test(.enabled(if: Fixture.compiledWithSites, "debug builds have no NOP sites; run `swift test -c release`"))
  func crossModuleSitesAreRealAndNeverFallBack() throws {
    // The fixture module never uses this key, so all its sites are here.
    var n = 0
    for i in 0..<1000 {
      if Self.crossModuleUnlikely() { n += 1 }
      if Self.crossModuleLikely() { n += 1 }
      if i == 500 { try StaticKey.fixtureCrossModule.enable() }
    }
    try StaticKey.fixtureCrossModule.disable()
    #expect(n == 2 * 499)
    let sites = try StaticKeys.sites(named: "fixture.cross-module")
    #expect(sites.count >= 2 && sites.contains { $0.likely } && sites.contains { !$0.likely }, "\(sites)")
    for s in sites { #expect(s.currentBytes == s.expectedBytes(enabled: false)) }
    // Every execution so far, in either module, was a NOP/JMP site.
    _ = Fixture.falseUnlikely()
    _ = Fixture.trueUnlikely()
    for name in ["fixture.cross-module", "fixture.false", "fixture.true"] {
      #expect(try StaticKeys.info(named: name).fallbackHits == 0, "\(name) took the fallback path")
    }
  }

  @Test func nonLiteralKeyUsesTheFallbackAndCountsIt() throws {
    // A key passed through an opaque function is not a literal at the site,
    // so the site must be the fallback, and still be correct.
    @inline(never) func opaque(_ k: StaticKey) -> StaticKey { k }
    let k = opaque(.fixtureUnused)
    #expect(k.isEnabled == false)
    let before = try StaticKeys.info(named: "fixture.unused").fallbackHits
    try k.enable()
    #expect(k.isEnabled == true)
    try k.disable()
    #expect(k.isEnabled == false)
    #expect(try StaticKeys.info(named: "fixture.unused").fallbackHits == before + 2)
  }

  @Test(.enabled(if: !Fixture.compiledWithSites, "release builds are checked by the NOP-site tests"))
  func debugBuildSitesAreFallbacks() throws {
    _ = Fixture.falseUnlikely()
    #expect(try StaticKeys.info(named: "fixture.false").fallbackHits > 0)
    #expect(try StaticKeys.sites(named: "fixture.false").isEmpty)
  }
}
