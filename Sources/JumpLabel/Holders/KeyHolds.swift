import Synchronization

/// The labelled holders of one key (`KeyRecord.book`, registry lock).
struct HolderBook: Sendable {
  /// Holders holding a share of the count now.
  var held: Set<StaticKeyHolder> = []
  /// Of those, the ones whose release is deferred and queued: a new hold by
  /// the same holder before it is due cancels it.
  var releasing: Set<StaticKeyHolder> = []
  /// Holders whose share a forced disable dropped, and why. Cleared when
  /// the holder releases (its release is then a no-op) or holds again.
  var dropped: [StaticKeyHolder: String] = [:]
  /// The reason of the last forced disable of this key.
  var forced: String?
}

// Holds and releases, all under the registry lock, in the primary runtime.
//
// Ordering against the lock-free anonymous decrement (KeyCounting.swift):
// a hold raises `labelled` *before* the count; a release lowers the count
// *before* `labelled`. Between the two steps the anonymous part
// (count - labelled) looks one smaller than it is, never larger, so an
// anonymous decrement can refuse spuriously (it then takes the lock and
// checks exactly) but never takes a labelled share.
extension KeyRegistry {
  /// The holders of `r` now: every labelled one (1 each) and `.code` with
  /// the anonymous part of the count, if any.
  func holdersLocked(_ r: KeyRecord) -> [StaticKeyHolder: Int] {
    var out: [StaticKeyHolder: Int] = [:]
    for h in r.book.held { out[h] = 1 }
    let anonymous = r.count.load(ordering: .acquiring) - r.labelled.load(ordering: .acquiring)
    if anonymous > 0 { out[.code] = anonymous }
    return out
  }

  /// Adds `holder`'s share (idempotent: a holder holds at most one). A
  /// pending deferred release of the same holder is cancelled instead.
  /// `.code` is an anonymous increment.
  func holdLocked(_ r: KeyRecord, by holder: StaticKeyHolder) throws(JumpLabelError) {
    if holder.kind == .code { return try incrementLocked(r) }
    if r.book.held.contains(holder) {
      r.book.releasing.remove(holder)
      return
    }
    r.labelled.wrappingAdd(1, ordering: .releasing)  // first: see above
    do {
      try incrementLocked(r)
    } catch {
      r.labelled.wrappingSubtract(1, ordering: .releasing)
      throw error
    }
    r.book.held.insert(holder)
    r.book.dropped[holder] = nil
  }

  /// Removes `holder`'s share. Returns false, changing nothing, if a
  /// forced disable dropped it (and forgets that it was dropped); throws
  /// ``JumpLabelError/notHeld(key:holder:)`` if it held nothing.
  func releaseLocked(_ r: KeyRecord, by holder: StaticKeyHolder) throws(JumpLabelError) -> Bool {
    if holder.kind == .code {
      try decrementAnonymousLocked(r)
      return true
    }
    guard r.book.held.contains(holder) else {
      if r.book.dropped.removeValue(forKey: holder) != nil { return false }
      throw .notHeld(key: r.name, holder: holder)
    }
    try decrementLocked(r)  // first: see above
    r.labelled.wrappingSubtract(1, ordering: .releasing)
    r.book.held.remove(holder)
    r.book.releasing.remove(holder)
    return true
  }

  /// A release deferred by `nanoseconds` (the kernel's deferred keys): at
  /// once if that does not switch the key off, queued otherwise (the hold
  /// stays listed until then). Same answers as `releaseLocked`.
  func releaseDeferredLocked(_ r: KeyRecord, by holder: StaticKeyHolder, nanoseconds: UInt64) throws(JumpLabelError) -> Bool {
    guard holder.kind != .code, r.book.held.contains(holder), nanoseconds > 0,
          r.count.load(ordering: .acquiring) == 1 else {
      return try releaseLocked(r, by: holder)
    }
    r.book.releasing.insert(holder)
    DeferredDecrements.shared.schedule(KeyReference(name: r.name, defaultValue: nil), holder: holder, after: nanoseconds)
    return true
  }

  /// A deferred release that is due: performed only if still wanted (no
  /// new hold by the same holder, no forced disable, in between).
  func releaseDueLocked(_ r: KeyRecord, by holder: StaticKeyHolder) throws(JumpLabelError) {
    guard r.book.releasing.contains(holder) else { return }
    _ = try releaseLocked(r, by: holder)
  }
}

/// Observers of forced disables in this runtime copy (Tracepoints marks
/// its probes forced off). Called by the primary after the batch, with no
/// lock of ours held.
enum DroppedHoldObservers {
  static let all = Mutex<[@Sendable (String, [StaticKeyHolder], String) -> Void]>([])

  static func notify(_ drops: [StaticKeyDrop]) {
    guard !drops.isEmpty else { return }
    let observers = all.withLock { $0 }
    for d in drops { for o in observers { o(d.key, d.holders, d.reason) } }
  }
}

/// Holders that one forced disable dropped from one key.
struct StaticKeyDrop: Sendable {
  let key: String
  let holders: [StaticKeyHolder]
  let reason: String
}
