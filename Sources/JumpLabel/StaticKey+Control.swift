import TextPoke

extension StaticKey {
  /// Enables the key (count 0 → 1); no change if it is enabled already.
  /// Returns when every site in the process takes the enabled path.
  ///
  /// Every control call may be made from a signal handler: if the handler
  /// interrupted the runtime on its own thread, the call throws
  /// ``JumpLabelError/reentrantControl(key:)`` at once, without waiting,
  /// locking or allocating; otherwise it runs normally (README, "Signal
  /// handlers").
  public func enable() throws(JumpLabelError) {
    try control(.enable)
  }

  /// Disables the key (count 1 → 0); no change if it is disabled already.
  /// Throws ``JumpLabelError/heldByIncrements(key:count:)`` if the count is
  /// above 1. Returns when every site takes the disabled path.
  public func disable() throws(JumpLabelError) {
    try control(.disable)
  }

  /// `enable()` or `disable()`.
  public func set(_ enabled: Bool) throws(JumpLabelError) {
    if enabled { try enable() } else { try disable() }
  }

  /// Adds one to the count; the first increment enables the key and does
  /// not return (in any thread) before the sites are patched.
  public func increment() throws(JumpLabelError) {
    guard ThreadMarks.enter(ThreadMarks.client) else { throw .reentrantControl(key: nameForReentrantError) }
    defer { ThreadMarks.leave(ThreadMarks.client) }
    guard ProcessRuntime.isPrimary else { return try forward(.increment) }
    let registry = KeyRegistry.shared
    try registry.increment(try registry.record(self))
  }

  /// Subtracts one from the count; reaching 0 disables the key. Below zero
  /// is ``JumpLabelError/underflow(key:)`` and changes nothing.
  public func decrement() throws(JumpLabelError) {
    guard ThreadMarks.enter(ThreadMarks.client) else { throw .reentrantControl(key: nameForReentrantError) }
    defer { ThreadMarks.leave(ThreadMarks.client) }
    guard ProcessRuntime.isPrimary else { return try forward(.decrement) }
    let registry = KeyRegistry.shared
    try registry.decrement(try registry.record(self))
  }

  /// The state, read from memory (not a site): count > 0. On a thread that
  /// interrupted the runtime (a signal handler), it is read lock-free if
  /// this key was used before, and is the default otherwise.
  public var state: Bool { countForQuery() != 0 }

  /// The enable count (same rules as ``state``).
  public var count: Int { max(countForQuery(), 0) }

  /// The raw count (-1: first enable in progress).
  private func countForQuery() -> Int {
    if let r = FallbackCache.cachedIfReady(for: self) { return r.count.load(ordering: .acquiring) }
    if case let .other(remote) = ProcessRuntime.known { return ProcessRuntime.remoteCount(remote, self, countHit: false) }
    guard ThreadMarks.enter(ThreadMarks.client) else { return defaultValue ? 1 : 0 }
    defer { ThreadMarks.leave(ThreadMarks.client) }
    if let remote = ProcessRuntime.primary { return ProcessRuntime.remoteCount(remote, self, countHit: false) }
    return FallbackCache.sharedReady.record(for: self).count.load(ordering: .acquiring)
  }

  /// A control call, performed by the process's primary runtime.
  private func control(_ op: RuntimeRequest.ControlOperation) throws(JumpLabelError) {
    // The mark before anything allocates, locks or initialises.
    guard ThreadMarks.enter(ThreadMarks.client) else { throw .reentrantControl(key: nameForReentrantError) }
    defer { ThreadMarks.leave(ThreadMarks.client) }
    guard let remote = ProcessRuntime.primary?.pointee else {
      _ = try RuntimeRequest.control(op, KeyReference(self)).performLocally().get()
      // Cache this literal (lock-free from now on), outside the registry
      // lock: a later refusal on this key names it without allocating.
      _ = FallbackCache.sharedReady.record(for: self)
      return
    }
    _ = try ProcessRuntime.call(remote, .control(op, KeyReference(self))).get()
  }

  /// A control call forwarded to the primary (the thread is marked).
  private func forward(_ op: RuntimeRequest.ControlOperation) throws(JumpLabelError) {
    guard let remote = ProcessRuntime.primary?.pointee else { return }
    _ = try ProcessRuntime.call(remote, .control(op, KeyReference(self))).get()
  }

  /// The name as a `String` for an error thrown where allocating is not
  /// safe (a signal handler that interrupted the runtime, maybe inside
  /// malloc): a name of up to 15 bytes is stored inside the `String`
  /// itself; a longer one is the key record's, if the lock-free cache has
  /// it. Only a long name never used before is copied.
  ///
  /// A long name that was never cached (the refusal interrupted the very
  /// first use of that literal) is shortened to its first 12 bytes and
  /// "...", which still fits inside the `String`.
  var nameForReentrantError: String {
    guard name.hasPointerRepresentation else { return nameString }  // one scalar: small
    let n = name.utf8CodeUnitCount
    if n <= 15 {
      return String(decoding: UnsafeBufferPointer(start: name.utf8Start, count: n), as: UTF8.self)
    }
    if let r = FallbackCache.cachedIfReady(for: self) { return r.name }
    var prefix = 12
    while prefix > 0 && name.utf8Start[prefix] & 0xC0 == 0x80 { prefix -= 1 }  // whole scalars
    return String(decoding: UnsafeBufferPointer(start: name.utf8Start, count: prefix), as: UTF8.self) + "..."
  }
}

extension StaticKey {
  /// Subtracts one from the count, but a decrement that would disable the
  /// key (1 → 0) waits `delay` first; an increment in between cancels its
  /// effect (the kernel's deferred keys). A burst of increments and
  /// decrements then patches at most once per `delay`. The key stays
  /// enabled while a decrement is deferred.
  public func decrement(deferredBy delay: Duration) throws(JumpLabelError) {
    let (s, a) = delay.components
    let ns = UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, a / 1_000_000_000))
    guard ThreadMarks.enter(ThreadMarks.client) else { throw .reentrantControl(key: nameForReentrantError) }
    defer { ThreadMarks.leave(ThreadMarks.client) }
    _ = try ProcessRuntime.performMarked(.decrementDeferred(KeyReference(self), nanoseconds: ns)).get()
  }
}

extension StaticKeys {
  /// `decrement(deferredBy:)` on the key named `name`.
  public static func decrement(named name: String, deferredBy delay: Duration) throws(JumpLabelError) {
    let (s, a) = delay.components
    let ns = UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, a / 1_000_000_000))
    _ = try ProcessRuntime.perform(.decrementDeferred(KeyReference(name: name, defaultValue: nil), nanoseconds: ns)).get()
  }

  /// Sets every key in `names` to `enabled` in one batch: one patch of all
  /// their sites, three syncs, or, if any of them cannot change (a
  /// problem, a count held by increments), no change at all. Boolean
  /// semantics per key, as `enable()`/`disable()`.
  ///
  /// A name that no image has declared yet throws `unknownKey`, unless
  /// `undeclared` is true: then the state is remembered, and the key has
  /// it from the moment a loaded image or a use declares it (its sites
  /// follow from their first instruction). `dryRun` reports what would
  /// change and changes nothing.
  @discardableResult
  public static func set(names: [String], enabled: Bool, undeclared: Bool = false, dryRun: Bool = false) throws(JumpLabelError) -> [StaticKeyChange] {
    guard case let .changes(v) = try ProcessRuntime.perform(.setMany(names: names, enabled: enabled, undeclared: undeclared, dryRun: dryRun)).get() else {
      return []
    }
    return v
  }
}
