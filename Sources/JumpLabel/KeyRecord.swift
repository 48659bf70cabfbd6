import Synchronization

/// The run-time state of one key. Records are created once per name and
/// never freed, so a pointer to one may be cached anywhere, lock-free.
final class KeyRecord: @unchecked Sendable {
  // @unchecked: `book` is guarded by the registry lock; the rest is
  // immutable or atomic.
  let name: String
  let defaultValue: Bool
  /// Who first mentioned the key, and so set its default: an image's path
  /// (its site table), "a fallback read in <image>", or a control call.
  let origin: String
  /// Kernel semantics: enabled iff count > 0. -1 means "first enable in
  /// progress": the sites are being patched; readers treat it as enabled,
  /// and increments wait for the lock, so none returns before the patch.
  let count: Atomic<Int>
  /// Set once the key has a problem (its control calls throw).
  let hasProblem = Atomic<Bool>(false)
  /// How often a non-NOP site of this key read the state instead.
  let fallbackHits = Atomic<Int>(0)

  /// The origin of a key first mentioned by a control call.
  static let controlOrigin = "a control call"

  /// The number of labelled holds (`book.held.count`), readable without
  /// the lock by the anonymous `decrement()` fast path, which may only take
  /// the count down to it (Holders/KeyHolds.swift explains the ordering).
  /// Written under the registry lock only.
  let labelled: Atomic<Int>
  /// The labelled holders (registry lock).
  var book: HolderBook

  /// A declared default of `true` is the `.enabled` holder's share.
  init(name: String, defaultValue: Bool, origin: String) {
    self.name = name
    self.defaultValue = defaultValue
    self.origin = origin
    count = Atomic(defaultValue ? 1 : 0)
    labelled = Atomic(defaultValue ? 1 : 0)
    book = HolderBook(held: defaultValue ? [.enabled] : [])
  }

  /// The state as a boolean query (the transient -1 counts as enabled).
  var state: Bool { count.load(ordering: .acquiring) != 0 }

  /// Of those, the reads from optimised code (the key was not a literal
  /// where it was used): a problem `StaticKeys.problems()` reports.
  let optimizedFallbackHits = Atomic<Int>(0)
  /// The `#dsohandle` of the first image that made such a read (0: none).
  let optimizedFallbackImage = Atomic<UInt>(0)

  /// The key belongs to a tracepoint (a site of it says so, or a read
  /// from one did).
  let isTracepoint = Atomic<Bool>(false)

  /// The fallback site: counts the hit, reads the state.
  func readForFallback(tracepoint: Bool = false) -> Bool {
    fallbackHits.wrappingAdd(1, ordering: .relaxed)
    if tracepoint && !isTracepoint.load(ordering: .relaxed) { isTracepoint.store(true, ordering: .relaxed) }
    return state
  }

  /// A fallback read, from optimised code in the image of `dso` if given.
  func readForFallback(tracepoint: Bool, optimizedFrom dso: UnsafeRawPointer?) -> Bool {
    if let dso { noteOptimizedFallback(from: UInt(bitPattern: dso)) }
    return readForFallback(tracepoint: tracepoint)
  }

  /// A fallback read from optimised code in the image `dso` belongs to.
  func readForOptimizedFallback(from dso: UnsafeRawPointer, tracepoint: Bool = false) -> Bool {
    noteOptimizedFallback(from: UInt(bitPattern: dso))
    return readForFallback(tracepoint: tracepoint)
  }

  func noteOptimizedFallback(from dso: UInt) {
    optimizedFallbackHits.wrappingAdd(1, ordering: .relaxed)
    if optimizedFallbackImage.load(ordering: .relaxed) == 0 {
      _ = optimizedFallbackImage.compareExchange(expected: 0, desired: dso, ordering: .relaxed)
    }
  }
}
