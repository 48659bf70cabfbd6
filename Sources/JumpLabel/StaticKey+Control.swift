extension StaticKey {
  /// Enables the key (count 0 → 1); no change if it is enabled already.
  /// Returns when every site in the process takes the enabled path.
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
    guard ProcessRuntime.isPrimary else { return try control(.increment) }
    let registry = KeyRegistry.shared
    try registry.increment(try registry.record(self))
  }

  /// Subtracts one from the count; reaching 0 disables the key. Below zero
  /// is ``JumpLabelError/underflow(key:)`` and changes nothing.
  public func decrement() throws(JumpLabelError) {
    guard ProcessRuntime.isPrimary else { return try control(.decrement) }
    let registry = KeyRegistry.shared
    try registry.decrement(try registry.record(self))
  }

  /// The state, read from memory (not a site): count > 0.
  public var state: Bool {
    if let remote = ProcessRuntime.primary { return ProcessRuntime.remoteCount(remote, self, countHit: false) > 0 }
    return FallbackCache.shared.record(for: self).state
  }

  /// The enable count.
  public var count: Int {
    if let remote = ProcessRuntime.primary { return max(ProcessRuntime.remoteCount(remote, self, countHit: false), 0) }
    return max(FallbackCache.shared.record(for: self).count.load(ordering: .acquiring), 0)
  }

  /// A control call, performed by the process's primary runtime.
  private func control(_ op: RuntimeRequest.ControlOperation) throws(JumpLabelError) {
    _ = try ProcessRuntime.perform(.control(op, KeyReference(self))).get()
  }
}
