import CJumpLabel
import Glibc
import Synchronization
import TextPoke

/// Maps the address of a name literal to its key record, lock-free.
///
/// A site that could not be compiled as a NOP reads its key through this
/// cache with the name's address. Every literal has a fixed address, so after
/// the first call from a literal, the fallback is a hash of that address, one
/// or two acquire loads, and the state load: no lock, no allocation.
/// Entries are set once and never removed; records are immortal.
///
/// Addresses from Swift code are stable for the life of the process (Swift
/// images are pinned). Addresses from C images that can be unloaded may be
/// reused by another image with another name, so those lookups also compare
/// the bytes (`verifyName`), and a reused address simply takes a new slot.
final class FallbackCache: Sendable {
  /// The cache. Its one-time initialiser must not be entered from a thread
  /// that may be inside it already (a signal handler): code that is not
  /// inside an entry point uses ``cachedIfReady(for:)`` instead, and entry
  /// points use ``sharedReady``.
  private static let shared = FallbackCache()

  /// The cache, from an entry point (the thread is marked). Records that
  /// it exists now, for ``cachedIfReady(for:)``. The flag is set after
  /// `shared` has returned, so whoever sees it set finds the one-time
  /// initialiser finished and never waits on it.
  static var sharedReady: FallbackCache {
    let c = shared
    jl_fallback_cache_set_ready()
    return c
  }

  /// The cached record of `key`: lock-free, allocation-free, and never
  /// waits, so any thread may call it at any time (a signal handler among
  /// them). Nil if the cache does not exist yet or has no entry for this
  /// literal.
  static func cachedIfReady(for key: StaticKey) -> KeyRecord? {
    guard jl_fallback_cache_ready() != 0 else { return nil }
    return shared.cachedRecord(for: key)
  }

  /// `readCached` on the shared cache if it exists (never waits).
  static func readIfReady(_ key: StaticKey, tracepoint: Bool, optimizedFrom dso: UnsafeRawPointer? = nil) -> Bool? {
    guard jl_fallback_cache_ready() != 0 else { return nil }
    return shared.readCached(key, tracepoint: tracepoint, optimizedFrom: dso)
  }

  private final class Entry: Sendable {
    let pointer: UInt
    let length: Int
    let record: KeyRecord
    /// Made from a name that may be unmapped later: whoever matches this
    /// entry compares the bytes, even a caller whose own name is pinned (a
    /// Swift image may be mapped where a C image was).
    let unpinned: Bool
    init(pointer: UInt, length: Int, record: KeyRecord, unpinned: Bool) {
      self.pointer = pointer
      self.length = length
      self.record = record
      self.unpinned = unpinned
    }

    func matches(_ pointer: UInt, _ length: Int, verifyName: Bool) -> Bool {
      guard self.pointer == pointer, self.length == length else { return false }
      guard verifyName || unpinned else { return true }
      var name = record.name
      guard let p = UnsafeRawPointer(bitPattern: pointer) else { return false }
      return name.withUTF8 { memcmp($0.baseAddress!, p, length) == 0 }
    }
  }

  /// Each slot holds the address of an immortal entry, set once, 0 while
  /// empty. Plain atomics, not AtomicLazyReference: its generic operations
  /// are called unspecialised from the Synchronization library, which made
  /// a cached fallback read cost about 900 instructions; these inline, and
  /// a hit retains nothing.
  private final class Slots: @unchecked Sendable {
    // @unchecked: every slot is an atomic.
    let base: UnsafeMutablePointer<Atomic<UInt>>
    init(_ n: Int) {
      base = .allocate(capacity: n)
      for i in 0..<n { (base + i).initialize(to: Atomic(0)) }
    }

    /// The entry in slot `i`, unretained (entries are immortal).
    func load(_ i: Int) -> Unmanaged<Entry>? {
      let v = base[i].load(ordering: .acquiring)
      return v == 0 ? nil : Unmanaged<Entry>.fromOpaque(UnsafeRawPointer(bitPattern: v)!)
    }

    /// Sets slot `i` to `e` if empty; returns what the slot holds.
    func storeIfNil(_ i: Int, _ e: Entry) -> Entry {
      let v = UInt(bitPattern: Unmanaged.passRetained(e).toOpaque())  // immortal from now on
      let (done, found) = base[i].compareExchange(expected: 0, desired: v, ordering: .acquiringAndReleasing)
      if done { return e }
      Unmanaged<Entry>.fromOpaque(UnsafeRawPointer(bitPattern: v)!).release()
      return Unmanaged<Entry>.fromOpaque(UnsafeRawPointer(bitPattern: found)!).takeUnretainedValue()
    }
  }

  private static let bits = 12
  private static let probes = 32
  private let slots = Slots(1 << FallbackCache.bits)

  private init() {}

  /// The fallback read of `key` if its literal is cached: counts the hit
  /// (and, from optimised code, the image), returns the state. Nil if not
  /// cached. No lock, no allocation, no retain.
  func readCached(_ key: StaticKey, tracepoint: Bool, optimizedFrom dso: UnsafeRawPointer?) -> Bool? {
    cachedEntry(for: key) { $0.record.readForFallback(tracepoint: tracepoint, optimizedFrom: dso) }
  }

  /// The record of `key` if this literal is cached already; never creates
  /// one, never takes a lock.
  func cachedRecord(for key: StaticKey) -> KeyRecord? {
    cachedEntry(for: key) { $0.record }
  }

  /// `body` applied to the cached entry of `key`'s literal; nil if there is
  /// none. Lock-free; the entry is borrowed, not retained (entries live
  /// for the process).
  @inline(__always)
  private func cachedEntry<R>(for key: StaticKey, _ body: (Entry) -> R) -> R? {
    guard key.name.hasPointerRepresentation else { return nil }
    let pointer = UInt(bitPattern: key.name.utf8Start)
    let length = key.name.utf8CodeUnitCount
    let mask = (1 << Self.bits) - 1
    var i = slotIndex(pointer)
    for _ in 0..<Self.probes {
      guard let u = slots.load(i) else { return nil }
      let r: R? = u._withUnsafeGuaranteedRef { e in e.matches(pointer, length, verifyName: false) ? body(e) : nil }
      if let r { return r }
      i = (i + 1) & mask
    }
    return nil
  }

  private func slotIndex(_ pointer: UInt) -> Int {
    Int(truncatingIfNeeded: (pointer &* 0x9E37_79B9_7F4A_7C15) >> UInt(64 - Self.bits)) & ((1 << Self.bits) - 1)
  }

  /// The record of `key`, creating it on first use.
  func record(for key: StaticKey) -> KeyRecord {
    guard key.name.hasPointerRepresentation else {
      return KeyRegistry.shared.recordForFallback(name: key.nameString, defaultValue: key.defaultValue, origin: "a read").record
    }
    return record(
      pointer: UInt(bitPattern: key.name.utf8Start), length: key.name.utf8CodeUnitCount,
      defaultValue: key.defaultValue, verifyName: false)
  }

  /// Enters `record` for the name literal at `pointer` (from a site table,
  /// at indexing, registry lock held): a later read or refusal from code
  /// with that literal finds it lock-free. Does nothing if the literal is
  /// cached already or its neighbourhood is full.
  func prime(pointer: UInt, length: Int, record: KeyRecord, unpinned: Bool) {
    let mask = (1 << Self.bits) - 1
    var i = slotIndex(pointer)
    for _ in 0..<Self.probes {
      if let u = slots.load(i) {
        let e = u.takeUnretainedValue()
        if e.pointer == pointer && e.length == length { return }
      } else {
        let e = slots.storeIfNil(i, Entry(pointer: pointer, length: length, record: record, unpinned: unpinned))
        if e.pointer == pointer && e.length == length { return }
      }
      i = (i + 1) & mask
    }
  }

  /// The record of the key whose name is the `length` bytes at `pointer`.
  func record(pointer: UInt, length: Int, defaultValue: Bool, verifyName: Bool) -> KeyRecord {
    let mask = (1 << Self.bits) - 1
    var i = slotIndex(pointer)
    func lookUp() -> (record: KeyRecord, registered: Bool) {
      let name = String(decoding: UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: pointer), count: length), as: UTF8.self)
      // The name literal lives in the reading image: that names the reader
      // (asks the loader, so before the registry lock is taken).
      let image = CodeLocation(pointer).symbolInfo.image.map { SiteTable.imageName($0) } ?? "an unknown image"
      return KeyRegistry.shared.recordForFallback(name: name, defaultValue: defaultValue, origin: "a read in \(image)")
    }
    for _ in 0..<Self.probes {
      if let u = slots.load(i) {
        let e = u.takeUnretainedValue()
        if e.matches(pointer, length, verifyName: verifyName) { return e.record }
      } else {
        let (record, registered) = lookUp()
        // A throw-away record (re-entered lookup) is never cached.
        if !registered { return record }
        let e = slots.storeIfNil(i, Entry(pointer: pointer, length: length, record: record, unpinned: verifyName))
        if e.matches(pointer, length, verifyName: verifyName) { return e.record }
      }
      i = (i + 1) & mask
    }
    // Neighbourhood full: correct, just not cached.
    return lookUp().record
  }
}
