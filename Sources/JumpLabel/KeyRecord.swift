import Synchronization

/// The run-time state of one key. Records are created once per name and
/// never freed, so a pointer to one may be cached anywhere, lock-free.
final class KeyRecord: Sendable {
  let name: String
  let defaultValue: Bool
  /// Kernel semantics: enabled iff count > 0. -1 means "first enable in
  /// progress": the sites are being patched; readers treat it as enabled,
  /// and increments wait for the lock, so none returns before the patch.
  let count: Atomic<Int>
  /// Set once the key has a problem (its control calls throw).
  let hasProblem = Atomic<Bool>(false)
  /// How often a non-NOP site of this key read the state instead.
  let fallbackHits = Atomic<Int>(0)

  init(name: String, defaultValue: Bool) {
    self.name = name
    self.defaultValue = defaultValue
    count = Atomic(defaultValue ? 1 : 0)
  }

  /// The state as a boolean query (the transient -1 counts as enabled).
  var state: Bool { count.load(ordering: .acquiring) != 0 }

  /// The fallback site: counts the hit, reads the state.
  func readForFallback() -> Bool {
    fallbackHits.wrappingAdd(1, ordering: .relaxed)
    return state
  }
}
