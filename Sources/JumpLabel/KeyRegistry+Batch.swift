import TextPoke

/// Several keys switched in one batch, for control tools: `jumplabel ctl
/// enable 'http.*'` changes every matched key with one patch of all their
/// sites (three syncs), or none of them.
extension KeyRegistry {
  /// What one switch did: the per-key changes, and the holders a forced
  /// disable dropped (to tell their observers once the lock is released).
  struct SwitchOutcome {
    var changes: [StaticKeyChange] = []
    var drops: [StaticKeyDrop] = []
  }

  /// Sets every key in `names` to `enabled`, as the `.enabled` holder (see
  /// `switchLocked`). Names no image has declared yet are refused, or,
  /// with `undeclared`, remembered: the key takes that state when a table
  /// or a use declares it, and its sites follow from their first
  /// instruction. Lock held.
  func setManyLocked(_ names: [String], enabled: Bool, undeclared: Bool, dryRun: Bool,
                     force: String?) throws(JumpLabelError) -> SwitchOutcome {
    var records: [KeyRecord] = []
    var pending: [StaticKeyChange] = []
    for name in Set(names).sorted() {
      guard let r = keys[name] else {
        guard undeclared else { throw .unknownKey(name) }
        pending.append(StaticKeyChange(name: name, before: pendingStates[name] ?? false, after: enabled, declared: false))
        continue
      }
      records.append(r)
    }
    // Remembered names are bounded (a peer of the control server names
    // them): beyond the limit, a clear error and no change.
    let new = pending.filter { pendingStates[$0.name] == nil }
    if let first = new.first, pendingStates.count + new.count > KeyRegistry.undeclaredLimit {
      throw .tooManyUndeclared(key: first.name, limit: KeyRegistry.undeclaredLimit)
    }
    var outcome = try switchLocked(records, enabled: enabled, dryRun: dryRun, force: force)
    if !dryRun { for c in pending { pendingStates[c.name] = enabled } }
    outcome.changes = (outcome.changes + pending).sorted { $0.name < $1.name }
    return outcome
  }

  /// The boolean form on several keys, one batch, all or nothing. Lock held.
  ///
  /// Enable adds the `.enabled` share where it is missing (count 0 → 1
  /// patches). Disable removes it; while any other holder holds a key (code,
  /// a probe, a trace client, a USDT tracer, a lease) it throws
  /// ``JumpLabelError/heldBy(key:holders:)`` before anything changes. With
  /// `force` (the reason, recorded: "disabled by pid 4242 (jumplabel ctl
  /// --force)"), disable drops every share of every key instead: the count
  /// goes to 0, each dropped labelled holder's later release is a no-op
  /// that can ask why, and the anonymous increments of code are gone (a
  /// later `decrement()` of them is an underflow).
  func switchLocked(_ records: [KeyRecord], enabled: Bool, dryRun: Bool, force: String?) throws(JumpLabelError) -> SwitchOutcome {
    var outcome = SwitchOutcome()
    var toPatch: [KeyRecord] = []   // 0 → 1 or → 0
    var toCount: [KeyRecord] = []   // enable of a key on already: count + 1
    for r in records {
      if let p = problems[r.name] { throw p }
      let c = r.count.load(ordering: .acquiring)
      let before = c != 0
      if enabled {
        if r.book.held.contains(.enabled) {
          if !dryRun { r.book.releasing.remove(.enabled) }  // a deferred release of it is cancelled
        } else if c == 0 {
          toPatch.append(r)
        } else {
          toCount.append(r)
        }
      } else if c != 0 {
        var others = holdersLocked(r)
        others[.enabled] = nil
        if !others.isEmpty && force == nil { throw .heldBy(key: r.name, holders: others) }
        toPatch.append(r)
      }
      outcome.changes.append(StaticKeyChange(name: r.name, before: before, after: enabled, declared: true))
    }
    if dryRun { return outcome }
    // The counts move first, as in incrementLocked/decrementLocked: to -1
    // ("in progress", reads as enabled) before enabling, to 0 before
    // disabling. Slow paths wait for the lock we hold; fast paths never
    // move a count off 0 or cross 1 → 0. A forced disable swaps whatever
    // count there is (fast-path increments may still raise it until the
    // swap lands; after it, none moves it off 0).
    var moved: [(KeyRecord, Int)] = []
    func undoMoves() { for (r, c) in moved { r.count.store(c, ordering: .releasing) } }
    for r in toPatch {
      if enabled {
        r.count.store(-1, ordering: .releasing)  // at 0 nothing else moves it
        moved.append((r, 0))
        continue
      }
      var c = r.count.load(ordering: .acquiring)
      while true {
        if force == nil && c != 1 {
          // A fast-path increment got in (1 → 2) since the check above.
          undoMoves()
          var others = holdersLocked(r)
          others[.enabled] = nil
          throw .heldBy(key: r.name, holders: others)
        }
        let (done, now) = r.count.compareExchange(expected: c, desired: 0, ordering: .acquiringAndReleasing)
        if done { break }
        c = now
      }
      moved.append((r, c))
    }
    let cost: StaticKeyBatchCost?
    do {
      cost = try patchSites(of: toPatch, to: enabled)
    } catch {
      undoMoves()
      throw error
    }
    if let cost { for i in outcome.changes.indices { outcome.changes[i].cost = cost } }
    if enabled {
      // The `.enabled` share: `labelled` first, then the count (KeyHolds.swift).
      for r in toPatch {
        r.labelled.wrappingAdd(1, ordering: .releasing)
        r.count.store(1, ordering: .releasing)
      }
      for r in toCount {
        r.labelled.wrappingAdd(1, ordering: .releasing)
        r.count.wrappingAdd(1, ordering: .acquiringAndReleasing)
      }
      for r in toPatch + toCount { r.book.held.insert(.enabled) }
      return outcome
    }
    // Disabled: the count is 0 already, so `labelled` may drop now.
    for r in toPatch {
      let dropped = r.book.held.subtracting([.enabled]).sorted()
      if let force {
        for h in dropped { r.book.dropped[h] = force }
        r.book.forced = force
        if !dropped.isEmpty { outcome.drops.append(StaticKeyDrop(key: r.name, holders: dropped, reason: force)) }
      }
      r.book.held = []
      r.book.releasing = []
      r.labelled.store(0, ordering: .releasing)
    }
    return outcome
  }

  /// Makes every site of every key in `records` follow `enabled`, in one
  /// batch, and says what that cost (nil: no site to patch). Lock held.
  @discardableResult
  func patchSites(of records: [KeyRecord], to enabled: Bool) throws(JumpLabelError) -> StaticKeyBatchCost? {
    var batch: [TextPatch] = []
    batch.reserveCapacity(records.reduce(0) { $0 + (self.sites[$1.name]?.siteCount ?? 0) })
    for r in records {
      (self.sites[r.name] ?? []).appendPatches(to: enabled, into: &batch)
    }
    guard !batch.isEmpty else { return nil }
    if let f = foreignRuntime { throw f }
    do {
      let started = StaticKeys.monotonicNanoseconds()
      let report = try TextPoke.apply(batch)
      let ns = StaticKeys.monotonicNanoseconds() - started
      return StaticKeyBatchCost(
        sitesPatched: report.sitesWritten, protocol: report.protocol.rawValue, syncs: report.syncs, nanoseconds: ns)
    } catch {
      throw .patch(key: records.map(\.name).joined(separator: ", "), error)
    }
  }
}

/// What one batch of patches cost, measured in the target process.
public struct StaticKeyBatchCost: Sendable, Hashable, CustomStringConvertible {
  /// Sites whose bytes changed.
  public var sitesPatched: Int
  /// The patch protocol used: "int3", "self-loop", "parked" or "valgrind"
  /// (TextPoke's `PatchProtocol`).
  public var `protocol`: String
  /// Core syncs (`membarrier` or signals) issued.
  public var syncs: Int
  /// The batch's own duration in the target process: `TextPoke.apply`,
  /// from the first write to the last sync.
  public var nanoseconds: UInt64

  /// A cost as a batch reported it.
  public init(sitesPatched: Int, protocol: String, syncs: Int, nanoseconds: UInt64) {
    self.sitesPatched = sitesPatched
    self.protocol = `protocol`
    self.syncs = syncs
    self.nanoseconds = nanoseconds
  }

  /// "3 sites, int3, 3 syncs, 41 us".
  public var description: String {
    let us = Double(nanoseconds) / 1000
    let t = us < 10 ? String(Double(Int(us * 10)) / 10) : String(Int(us))
    return "\(sitesPatched) site\(sitesPatched == 1 ? "" : "s"), \(self.protocol), \(syncs) sync\(syncs == 1 ? "" : "s"), \(t) us"
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
  /// What the batch this change was part of cost (the same for every key
  /// of the batch); nil if it patched no site.
  public var cost: StaticKeyBatchCost?

  /// A change, with no cost (nothing patched).
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
