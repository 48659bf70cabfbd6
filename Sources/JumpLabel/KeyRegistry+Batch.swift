import TextPoke

/// Several keys switched in one batch, for control tools: `jumplabel ctl
/// enable 'http.*'` changes every matched key with one patch of all their
/// sites (three syncs), or none of them.
extension KeyRegistry {
  /// Sets every key in `names` to `enabled` (boolean semantics per key:
  /// enable is count 0 → 1, disable is 1 → 0 and refuses a count above
  /// 1). All or nothing: a key with a problem, or held by increments,
  /// throws before anything changes. Names no image has declared yet are
  /// refused, or, with `undeclared`, remembered: the key takes that state
  /// when a table or a use declares it, and its sites follow from their
  /// first instruction. Lock held.
  func setManyLocked(_ names: [String], enabled: Bool, undeclared: Bool, dryRun: Bool) throws(JumpLabelError) -> [StaticKeyChange] {
    var changes: [StaticKeyChange] = []
    var records: [KeyRecord] = []
    var pending: [String] = []
    for name in Set(names).sorted() {
      guard let r = keys[name] else {
        guard undeclared else { throw .unknownKey(name) }
        let before = pendingStates[name] ?? false
        changes.append(StaticKeyChange(name: name, before: before, after: enabled, declared: false))
        pending.append(name)
        continue
      }
      if let p = problems[name] { throw p }
      let c = r.count.load(ordering: .acquiring)
      let before = c != 0
      if enabled != before {
        if !enabled && c > 1 { throw .heldByIncrements(key: name, count: c) }
        records.append(r)
      }
      changes.append(StaticKeyChange(name: name, before: before, after: enabled, declared: true))
    }
    // Remembered names are bounded (a peer of the control server names
    // them): beyond the limit, a clear error and no change.
    if let first = pending.first(where: { pendingStates[$0] == nil }),
       pendingStates.count + pending.filter({ pendingStates[$0] == nil }).count > KeyRegistry.undeclaredLimit {
      throw .tooManyUndeclared(key: first, limit: KeyRegistry.undeclaredLimit)
    }
    if dryRun { return changes }
    for name in pending { pendingStates[name] = enabled }
    if records.isEmpty { return changes }
    // The counts move first, as in incrementLocked/decrementLocked: to -1
    // ("in progress", reads as enabled) before enabling, to 0 before
    // disabling. Slow paths wait for the lock we hold; fast paths never
    // move a count off 0 or cross 1 → 0.
    var moved: [KeyRecord] = []
    func undoMoves() { for r in moved { r.count.store(enabled ? 0 : 1, ordering: .releasing) } }
    for r in records {
      let (from, to) = enabled ? (0, -1) : (1, 0)
      if !r.count.compareExchange(expected: from, desired: to, ordering: .acquiringAndReleasing).exchanged {
        // Only a fast-path increment can have moved it (1 → 2).
        undoMoves()
        throw .heldByIncrements(key: r.name, count: r.count.load(ordering: .acquiring))
      }
      moved.append(r)
    }
    do {
      try patchSites(of: records, to: enabled)
    } catch {
      undoMoves()
      throw error
    }
    if enabled { for r in records { r.count.store(1, ordering: .releasing) } }
    return changes
  }

  /// Makes every site of every key in `records` follow `enabled`, in one
  /// batch. Lock held.
  func patchSites(of records: [KeyRecord], to enabled: Bool) throws(JumpLabelError) {
    var batch: [TextPatch] = []
    batch.reserveCapacity(records.reduce(0) { $0 + (self.sites[$1.name]?.siteCount ?? 0) })
    for r in records {
      (self.sites[r.name] ?? []).appendPatches(to: enabled, into: &batch)
    }
    guard !batch.isEmpty else { return }
    if let f = foreignRuntime { throw f }
    do {
      try TextPoke.apply(batch)
    } catch {
      throw .patch(key: records.map(\.name).joined(separator: ", "), error)
    }
  }
}

/// One key's part in a batch change.
public struct StaticKeyChange: Sendable, Hashable, CustomStringConvertible {
  /// The key's name.
  public let name: String
  /// Its state before the change.
  public let before: Bool
  /// Its state after the change.
  public let after: Bool
  /// False if no image declared the key yet: the state is remembered and
  /// applied when one does.
  public let declared: Bool

  public init(name: String, before: Bool, after: Bool, declared: Bool) {
    self.name = name
    self.before = before
    self.after = after
    self.declared = declared
  }

  public var description: String {
    "\(name): \(before) -> \(after)\(declared ? "" : " (not declared yet: remembered)")"
  }
}
