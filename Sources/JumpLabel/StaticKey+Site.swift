import CJumpLabel
import TextPoke

extension StaticKey {
  /// A branch site: `true` while the key is enabled.
  ///
  /// In an optimised build this compiles to one 5-byte instruction (a NOP
  /// while the key is in its default state) and no data access. The layout
  /// follows the default: a default-false key keeps the enabled path out of
  /// line, a default-true key keeps it inline.
  @inlinable @inline(__always)
  public var isEnabled: Bool { isEnabled(likely: defaultValue) }

  /// A branch site with an explicit layout. Pass a literal: `likely: true`
  /// puts the enabled path inline (the site is a NOP while the key is
  /// enabled), `likely: false` puts it out of line.
  ///
  /// When the compiler cannot see a literal name and layout here (a debug
  /// build, a key stored in a variable), the site becomes a read of the
  /// key's state instead; ``StaticKeyInfo/fallbackHits`` counts those.
  @inlinable @inline(__always)
  public func isEnabled(likely: Bool) -> Bool { _site(likely: likely, tracepoint: false) }

  /// The site itself; `tracepoint` marks it in the table as a tracepoint's
  /// (Sources/Tracepoints), so that control tools can tell them apart from
  /// plain keys before any of them ran.
  ///
  /// Public only so that code inlined into other modules can reach it;
  /// not API: do not call it, it may change in any release.
  @inlinable @inline(__always)
  public func _site(likely: Bool, tracepoint: Bool) -> Bool {
    if name.hasPointerRepresentation {
      let attrs: Int32 = (defaultValue ? JL_ATTR_DEFAULT : 0) | (tracepoint ? JL_ATTR_TRACEPOINT : 0)
      let r = __dtrace_jumplabel_site(UnsafeRawPointer(name.utf8Start), name.utf8CodeUnitCount, likely ? 1 : 0, attrs)
      if r == JL_SITE_TRUE { return true }
      if r == JL_SITE_FALSE { return false }
      if r == JL_SITE_FALLBACK_OPTIMIZED { return _fallbackIsEnabledInOptimizedCode(#dsohandle, tracepoint: tracepoint) }
    }
    return _fallbackIsEnabled(tracepoint: tracepoint)
  }

  /// The slow path of a site in optimised code whose key was not a literal
  /// where it was used (a `static let` key from another module, a key
  /// passed through a variable): the same read as ``_fallbackIsEnabled()``,
  /// counted separately, with the image it came from (`dso`), so that
  /// ``StaticKeys/problems()`` can point at it.
  ///
  /// Public only so that code inlined into other modules can reach it;
  /// not API: do not call it, it may change in any release.
  @inline(never)
  public func _fallbackIsEnabledInOptimizedCode(_ dso: UnsafeRawPointer, tracepoint: Bool = false) -> Bool {
    if case let .other(remote) = ProcessRuntime.known {
      return ProcessRuntime.remoteCount(remote, self, countHit: true, optimizedFrom: dso) > 0
    }
    if let r = FallbackCache.readIfReady(self, tracepoint: tracepoint, optimizedFrom: dso) { return r }
    guard ThreadMarks.enter(ThreadMarks.client) else { return defaultValue }
    defer { ThreadMarks.leave(ThreadMarks.client) }
    if let remote = ProcessRuntime.primary {
      return ProcessRuntime.remoteCount(remote, self, countHit: true, optimizedFrom: dso) > 0
    }
    return FallbackCache.sharedReady.record(for: self).readForOptimizedFallback(from: dso, tracepoint: tracepoint)
  }

  /// The slow path of a site that could not be compiled as a NOP: reads the
  /// key's state (lock-free and allocation-free after the first call from a
  /// given name literal).
  ///
  /// Safe on any thread at any time: after the first read from a given
  /// literal it is lock-free and never waits. A first read on a thread
  /// that interrupted the runtime (a signal handler) cannot look the key
  /// up without risking a wait on itself, and answers the key's default.
  ///
  /// Public only so that code inlined into other modules can reach it;
  /// not API: do not call it, it may change in any release.
  @inline(never)
  public func _fallbackIsEnabled(tracepoint: Bool = false) -> Bool {
    if case let .other(remote) = ProcessRuntime.known { return ProcessRuntime.remoteCount(remote, self, countHit: true) > 0 }
    if let r = FallbackCache.readIfReady(self, tracepoint: tracepoint) { return r }
    guard ThreadMarks.enter(ThreadMarks.client) else { return defaultValue }
    defer { ThreadMarks.leave(ThreadMarks.client) }
    if let remote = ProcessRuntime.primary { return ProcessRuntime.remoteCount(remote, self, countHit: true) > 0 }
    return FallbackCache.sharedReady.record(for: self).readForFallback(tracepoint: tracepoint)
  }
}
