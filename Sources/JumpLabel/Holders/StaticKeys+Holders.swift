/// Holders by name (StaticKeyHolder): every call is answered by the
/// process's primary runtime, one batch each.
extension StaticKeys {
  /// Adds `holder`'s share of the key named `name` (the first share
  /// enables it). Idempotent: a holder holds at most one share, and holding
  /// again cancels its deferred release. `.code` is an anonymous
  /// `increment()`. Throws `unknownKey` if nothing declared the name.
  public static func hold(_ name: String, by holder: StaticKeyHolder) throws(JumpLabelError) {
    _ = try ProcessRuntime.perform(.hold(KeyReference(name: name, defaultValue: nil), holder)).get()
  }

  /// Removes `holder`'s share (the last share disables the key). With
  /// `deferredBy`, a release that would disable waits that long first (the
  /// kernel's deferred keys; the holder stays listed meanwhile, and holding
  /// again cancels it). Returns false, changing nothing, if a forced
  /// disable dropped the share: ask ``droppedReason(_:holder:)`` first, the
  /// release forgets it. Throws ``JumpLabelError/notHeld(key:holder:)`` if
  /// `holder` held nothing.
  @discardableResult
  public static func release(_ name: String, by holder: StaticKeyHolder, deferredBy delay: Duration = .zero) throws(JumpLabelError) -> Bool {
    let request = RuntimeRequest.release(KeyReference(name: name, defaultValue: nil), holder, nanoseconds: delay.nanosecondsClamped)
    guard case let .flag(v) = try ProcessRuntime.perform(request).get() else { return true }
    return v
  }

  /// Who holds the key named `name` on, with their shares (`.code`: the
  /// anonymous increments). Empty if it is off or unknown.
  public static func holders(of name: String) -> [StaticKeyHolder: Int] {
    (try? info(named: name))?.holders ?? [:]
  }

  /// Why a forced disable dropped `holder`'s share of the key named
  /// `name`, or nil if it did not (or the holder released since).
  public static func droppedReason(_ name: String, holder: StaticKeyHolder) -> String? {
    guard case let .text(v)? = try? ProcessRuntime.perform(.droppedReason(name, holder)).get() else { return nil }
    return v
  }

  /// Forgets the states remembered for names that nothing has declared
  /// (`set(names:enabled:undeclared: true)`: a typo, or a plugin that
  /// will not be loaded). Returns the names it dropped, sorted; names that
  /// were not remembered are ignored. Refuses, changing nothing, if any
  /// name is declared (``JumpLabelError/declaredKey(_:)``).
  @discardableResult
  public static func forget(names: [String]) throws(JumpLabelError) -> [String] {
    guard case let .names(v) = try ProcessRuntime.perform(.forget(names)).get() else { return [] }
    return v
  }

  /// Calls `observer` (key, dropped holders, reason) after each forced
  /// disable that dropped labelled holders, on the thread that forced it,
  /// with no lock of the runtime held. Observers registered in a copy of
  /// the runtime that is not the primary are not called (the primary
  /// forces); ``droppedReason(_:holder:)`` still answers there. For
  /// Tracepoints, which marks its probes forced off.
  public static func _observeDroppedHolds(_ observer: @escaping @Sendable (String, [StaticKeyHolder], String) -> Void) {
    DroppedHoldObservers.all.withLock { $0.append(observer) }
  }
}

extension StaticKey {
  /// Adds `holder`'s share of this key (see ``StaticKeys/hold(_:by:)``);
  /// declares the key on first use, like ``increment()``.
  public func hold(by holder: StaticKeyHolder) throws(JumpLabelError) {
    _ = try ProcessRuntime.perform(.hold(KeyReference(self), holder)).get()
  }
}

extension KeyRegistry {
  /// Drops remembered states of undeclared names (StaticKeys.forget).
  func forget(_ names: [String]) throws(JumpLabelError) -> [String] {
    ensureLoaded()
    guard let r = try lock.withLockUnlessReentrant({ () throws(JumpLabelError) -> [String] in
      if let declared = names.sorted().first(where: { keys[$0] != nil }) { throw .declaredKey(declared) }
      return Set(names).sorted().filter { pendingStates.removeValue(forKey: $0) != nil }
    }) else { throw .reentrantControl(key: names.first ?? "") }
    return r
  }
}

extension Duration {
  /// Whole nanoseconds, 0 for a negative duration.
  var nanosecondsClamped: UInt64 {
    let (s, a) = components
    return UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, a / 1_000_000_000))
  }
}
