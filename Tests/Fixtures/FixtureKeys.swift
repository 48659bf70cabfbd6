import JumpLabel

// Keys declared in this module and used both here and, through the
// @inlinable accessors, in the test modules. In a release build every use
// below is a real NOP/JMP site, in whichever module it is compiled.
extension StaticKey {
  /// Default false.
  @inlinable public static var fixtureFalse: StaticKey { StaticKey("fixture.false") }
  /// Default true.
  @inlinable public static var fixtureTrue: StaticKey { StaticKey("fixture.true", default: true) }
  /// Toggled by the live test while threads run its sites.
  @inlinable public static var fixtureLive: StaticKey { StaticKey("fixture.live") }
  /// Counted by many threads at once.
  @inlinable public static var fixtureCounted: StaticKey { StaticKey("fixture.counted") }
  /// Two keys whose sites sit on one page, toggled by two threads.
  @inlinable public static var fixturePageA: StaticKey { StaticKey("fixture.page-a") }
  /// See `fixturePageA`.
  @inlinable public static var fixturePageB: StaticKey { StaticKey("fixture.page-b") }
  /// Declared here, never used here: every site of it is compiled in
  /// another module through this @inlinable accessor.
  @inlinable public static var fixtureCrossModule: StaticKey { StaticKey("fixture.cross-module") }
  /// Toggled by the parent in the fork test.
  @inlinable public static var fixtureForkParent: StaticKey { StaticKey("fixture.fork-parent") }
  /// Toggled by the forked children in the fork test.
  @inlinable public static var fixtureForkChild: StaticKey { StaticKey("fixture.fork-child") }
  /// Toggled only by the re-entrancy test.
  @inlinable public static var fixtureReentrant: StaticKey { StaticKey("fixture.reentrant") }
  /// Its site is overwritten behind the runtime's back by the verify test.
  @inlinable public static var fixtureVerify: StaticKey { StaticKey("fixture.verify") }
  /// Toggled from a signal handler by the signal-toggle scenario.
  @inlinable public static var fixtureSignal: StaticKey { StaticKey("fixture.signal-handler") }
  /// The mistake the README warns about: a stored `static let` key. Used
  /// from another module, its name is not a literal at the site, so every
  /// site of it there is a fallback read (reported by problems()).
  public static let fixtureStaticLet = StaticKey("fixture.static-let")
  /// Switched together by the batch test.
  @inlinable public static var fixtureBatchA: StaticKey { StaticKey("fixture.batch-a") }
  /// See `fixtureBatchA`.
  @inlinable public static var fixtureBatchB: StaticKey { StaticKey("fixture.batch-b", default: true) }
  /// Counted and decremented with a deferral by the deferred-key test.
  @inlinable public static var fixtureDeferred: StaticKey { StaticKey("fixture.deferred") }
  /// Held by the USDT watcher's entry point and disabled by an "operator"
  /// in the USDT tests.
  @inlinable public static var fixtureUSDTHeld: StaticKey { StaticKey("fixture.usdt-held") }
  /// Switched from outside by the control tests (`jumplabel ctl`).
  @inlinable public static var fixtureCtlVerbose: StaticKey { StaticKey("fixture.ctl.verbose") }
  /// See `fixtureCtlVerbose`.
  @inlinable public static var fixtureCtlAudit: StaticKey { StaticKey("fixture.ctl.audit") }
  /// Used only by name lookups and the "not a literal" test.
  @inlinable public static var fixtureUnused: StaticKey { StaticKey("fixture.unused") }
  /// Held and released by the holder tests.
  @inlinable public static var fixtureHolders: StaticKey { StaticKey("fixture.holders") }
}

/// Functions whose bodies are sites compiled in this module.
public enum Fixture {
  /// Default false, default layout (unlikely): starts as NOP.
  @inline(never) public static func falseUnlikely() -> Bool { StaticKey.fixtureFalse.isEnabled }
  /// Default false, likely layout: starts as JMP.
  @inline(never) public static func falseLikely() -> Bool { StaticKey.fixtureFalse.isEnabled(likely: true) }
  /// Default true, default layout (likely): starts as NOP.
  @inline(never) public static func trueLikely() -> Bool { StaticKey.fixtureTrue.isEnabled }
  /// Default true, unlikely layout: starts as JMP.
  @inline(never) public static func trueUnlikely() -> Bool { StaticKey.fixtureTrue.isEnabled(likely: false) }

  /// Site of the live key.
  @inline(never) public static func live() -> Bool { StaticKey.fixtureLive.isEnabled }
  /// Site of the counted key.
  @inline(never) public static func counted() -> Bool { StaticKey.fixtureCounted.isEnabled }
  /// Sites of the two page keys, next to each other in the text.
  @inline(never) public static func pageA() -> Bool { StaticKey.fixturePageA.isEnabled }
  /// See `pageA`.
  @inline(never) public static func pageB() -> Bool { StaticKey.fixturePageB.isEnabled }

  /// Sites of the fork test's keys.
  @inline(never) public static func forkParent() -> Bool { StaticKey.fixtureForkParent.isEnabled }
  /// See `forkParent`.
  @inline(never) public static func forkChild() -> Bool { StaticKey.fixtureForkChild.isEnabled(likely: true) }

  /// Site of the re-entrancy test's key.
  @inline(never) public static func reentrantSite() -> Bool { StaticKey.fixtureReentrant.isEnabled }
  /// Sites of the batch test's keys.
  @inline(never) public static func batchSites() -> (Bool, Bool) { (StaticKey.fixtureBatchA.isEnabled, StaticKey.fixtureBatchB.isEnabled) }
  /// Site of the deferred-key test's key.
  @inline(never) public static func deferredSite() -> Bool { StaticKey.fixtureDeferred.isEnabled }
  /// Sites of the control tests' keys: how many of them are on.
  @inline(never) public static func ctlSites() -> Int {
    (StaticKey.fixtureCtlVerbose.isEnabled ? 1 : 0) + (StaticKey.fixtureCtlAudit.isEnabled ? 1 : 0)
  }
  /// Site of the signal-toggle scenario's key.
  @inline(never) public static func signalSite() -> Bool { StaticKey.fixtureSignal.isEnabled }
  /// Site of the USDT test's held key.
  @inline(never) public static func usdtHeldSite() -> Bool { StaticKey.fixtureUSDTHeld.isEnabled }
  /// Site of the holder tests' key.
  @inline(never) public static func holdersSite() -> Bool { StaticKey.fixtureHolders.isEnabled }
  /// Site of the verify test's key.
  @inline(never) public static func verifySite() -> Bool { StaticKey.fixtureVerify.isEnabled }

  /// Whether this module was compiled with real sites (an optimised build).
  public static var compiledWithSites: Bool {
    #if DEBUG
      return false
    #else
      return true
    #endif
  }
}
