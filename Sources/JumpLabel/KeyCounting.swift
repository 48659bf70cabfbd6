/// The counting semantics of the kernel's `static_key_slow_inc/dec`.
///
/// A key is enabled iff its count is > 0. Going 0 → 1 and 1 → 0 patches the
/// sites under the registry lock; every other change is a lock-free
/// compare-and-swap that refuses to cross those edges.
///
/// Ordering: on 0 → 1 the count is first set to -1 ("in progress"), the
/// sites are patched, then the count is set to 1 with release. A concurrent
/// `increment()` sees -1 or 0, cannot take the fast path, and waits for the
/// lock, so it never returns before the sites are patched; anybody who reads
/// count > 0 with acquire also sees patched text. On 1 → 0 the count goes to
/// 0 *before* the patch (as in the kernel), so a concurrent fast-path
/// increment cannot slip in and be lost while the sites are being disabled.
///
/// The count is the labelled holds (`KeyRecord.labelled`, Holders/) plus
/// the anonymous increments of code. `increment()`/`decrement()` are the
/// anonymous holder: a decrement may take the count down to the labelled
/// holds, never below (Holders/KeyHolds.swift).
extension KeyRegistry {
  func increment(_ r: KeyRecord) throws(JumpLabelError) {
    var v = r.count.load(ordering: .relaxed)
    while v > 0 {
      let (done, now) = r.count.compareExchange(expected: v, desired: v + 1, ordering: .acquiringAndReleasing)
      if done { return }
      v = now
    }
    guard try lock.withLockUnlessReentrant({ () throws(JumpLabelError) in try incrementLocked(r) }) != nil else {
      throw .reentrantControl(key: r.name)
    }
  }

  /// Lock held. 0 → 1 patches; > 0 just counts.
  func incrementLocked(_ r: KeyRecord) throws(JumpLabelError) {
    let v = r.count.load(ordering: .acquiring)
    if v > 0 {
      // Fast paths may move the count meanwhile, but never to 0 (a
      // decrement from 1 takes this lock), so an atomic add is exact.
      r.count.wrappingAdd(1, ordering: .acquiringAndReleasing)
      return
    }
    // v == 0: no fast path moves the count off 0, and every slow path
    // waits for this lock, so a plain store is safe here.
    r.count.store(-1, ordering: .releasing)
    do {
      try patchSites(of: r, to: true)
    } catch {
      r.count.store(0, ordering: .releasing)
      throw error
    }
    r.count.store(1, ordering: .releasing)
  }

  /// An anonymous decrement. The fast path reads the count, *then* the
  /// labelled holds, and only moves the count if one above them remains
  /// (`v - 1 >= labelled`, and v > 1 so it never crosses 1 → 0).
  ///
  /// Why that order cannot take a labelled hold: a hold raises `labelled`
  /// before it raises the count, and a release lowers the count before it
  /// lowers `labelled` (both under the lock, with release ordering). So if
  /// the count we read already includes a hold, the `labelled` we read
  /// after it (acquire) includes that hold too; and a release we see in the
  /// count but not yet in `labelled` only makes `labelled` look larger. The
  /// anonymous part we compute (count - labelled) is therefore never more
  /// than the true one at the time of the read, and the compare-and-swap
  /// fails if the count moved since. The one thing this cannot catch is an
  /// A-B-A on the count (a hold and another anonymous decrement between our
  /// read and our swap), which needs more anonymous decrements than
  /// increments: a bug in the caller, reported as `underflow` whenever it
  /// does not race so.
  func decrement(_ r: KeyRecord) throws(JumpLabelError) {
    var v = r.count.load(ordering: .acquiring)
    while v > 1 && v - 1 >= r.labelled.load(ordering: .acquiring) {
      let (done, now) = r.count.compareExchange(expected: v, desired: v - 1, ordering: .acquiringAndReleasing)
      if done { return }
      v = now
    }
    guard try lock.withLockUnlessReentrant({ () throws(JumpLabelError) in try decrementAnonymousLocked(r) }) != nil else {
      throw .reentrantControl(key: r.name)
    }
  }

  /// Lock held: an anonymous decrement. `labelled` cannot change while
  /// the lock is held, so the check is exact here; only fast-path
  /// increments and decrements move the count meanwhile.
  func decrementAnonymousLocked(_ r: KeyRecord) throws(JumpLabelError) {
    try decrementLocked(r, keeping: r.labelled.load(ordering: .acquiring))
  }

  /// Lock held. 1 → 0 patches; 0 is an underflow and changes nothing. The
  /// count part of a labelled release (the caller checked the hold).
  ///
  /// Every change is a compare-and-swap, never a plain store: lock-free
  /// fast-path increments (2 → 3, 1 → 2) can still happen while we hold the
  /// lock, and a store of 0 after reading 1 would erase one of them.
  ///
  /// `keeping`: the part of the count that must stay (the labelled holds,
  /// for an anonymous decrement: it may take only code's own part). The
  /// labelled count changes only under the lock we hold, so it is read once.
  func decrementLocked(_ r: KeyRecord, keeping: Int = 0) throws(JumpLabelError) {
    while true {
      let v = r.count.load(ordering: .acquiring)
      if v - keeping <= 0 { throw .underflow(key: r.name) }
      if v > 1 {
        if r.count.compareExchange(expected: v, desired: v - 1, ordering: .acquiringAndReleasing).exchanged { return }
        continue
      }
      if r.count.compareExchange(expected: 1, desired: 0, ordering: .acquiringAndReleasing).exchanged {
        try disableSites(r)
        return
      }
    }
  }

  /// Lock held, count just moved 1 → 0: patch the sites to disabled. At 0
  /// no fast path can move the count (they refuse to cross 0), and slow
  /// increments wait for the lock, so restoring 1 on failure loses nothing.
  private func disableSites(_ r: KeyRecord) throws(JumpLabelError) {
    do {
      try patchSites(of: r, to: false)
    } catch {
      r.count.store(1, ordering: .releasing)
      throw error
    }
  }
}
