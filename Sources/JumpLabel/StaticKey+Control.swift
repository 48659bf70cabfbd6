import TextPoke

extension StaticKey {
  /// Enables the key: adds the `.enabled` holder's share (count 0 → 1
  /// patches); no change if that holder holds it already. Returns when
  /// every site in the process takes the enabled path.
  ///
  /// Every control call may be made from a signal handler: if the handler
  /// interrupted the runtime on its own thread, the call throws
  /// ``JumpLabelError/reentrantControl(key:)`` at once, without waiting,
  /// locking or allocating; otherwise it runs normally (README, "Signal
  /// handlers").
  public func enable() throws(JumpLabelError) {
    try control(.enable)
  }

  /// Disables the key; no change if it is disabled already. Returns when
  /// every site takes the disabled path.
  ///
  /// The rule (the kernel's: a key's count belongs to its holders): this
  /// boolean form owns only the `.enabled` share. While anybody else holds
  /// the key (code's `increment()`s, attached probes, `ctl trace`
  /// clients, a USDT tracer, leases) it throws
  /// ``JumpLabelError/heldBy(key:holders:)`` naming them and changes
  /// nothing, so in-process probes are never cut off by accident. To take
  /// back only your own enable, `StaticKeys.release(name, by: .enabled)`;
  /// to switch the key off over its holders, ``disable(force:)``.
  public func disable() throws(JumpLabelError) {
    try control(.disable)
  }

  /// Disables the key whoever holds it: drops every holder's share in one
  /// batch and records `reason` (say who forced it and why: "disabled by
  /// pid 4242 (jumplabel ctl --force)"). Attached probes are marked forced
  /// off (`ProbeHandle.wasForcedOff`) and no longer called; each dropped
  /// holder's later release is a no-op that returns false
  /// (``StaticKeys/droppedReason(_:holder:)``); code's increments are gone
  /// (a later `decrement()` of them is an underflow). Returns the change,
  /// with what the batch cost.
  @discardableResult
  public func disable(force reason: String) throws(JumpLabelError) -> StaticKeyChange? {
    // A read creates the key's record in the primary if nothing used it
    // yet, so that the by-name batch below finds it.
    _ = state
    return try StaticKeys.set(names: [nameString], enabled: false, force: reason).first
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
  /// problem, other holders: ``JumpLabelError/heldBy(key:holders:)``), no
  /// change at all. Boolean semantics per key, as `enable()`/`disable()`;
  /// with `force` (a reason, recorded), a disable drops every holder's
  /// share instead of refusing, as ``StaticKey/disable(force:)``. Each
  /// change carries the batch's cost (sites patched, protocol, syncs, its
  /// duration measured here) if it patched anything.
  ///
  /// A name that no image has declared yet throws `unknownKey`, unless
  /// `undeclared` is true: then the state is remembered, and the key has
  /// it from the moment a loaded image or a use declares it (its sites
  /// follow from their first instruction). `dryRun` reports what would
  /// change and changes nothing.
  @discardableResult
  public static func set(names: [String], enabled: Bool, undeclared: Bool = false, dryRun: Bool = false,
                         force: String? = nil) throws(JumpLabelError) -> [StaticKeyChange] {
    let request = RuntimeRequest.setMany(names: names, enabled: enabled, undeclared: undeclared, dryRun: dryRun, force: force)
    guard case let .changes(v) = try ProcessRuntime.perform(request).get() else {
      return []
    }
    return v
  }
}
