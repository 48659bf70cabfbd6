import Synchronization

/// Maps the address of a name literal to its key record, lock-free.
///
/// A site that could not be compiled as a NOP calls the fallback with the
/// key's `StaticString`. Every literal has a fixed address, so after the
/// first call from a literal, the fallback is a hash of that address, one
/// or two acquire loads, and the state load: no lock, no allocation.
/// Entries are set once and never removed; records are immortal.
final class FallbackCache: Sendable {
  static let shared = FallbackCache()

  private final class Entry: Sendable {
    let pointer: UInt
    let length: Int
    let record: KeyRecord
    init(pointer: UInt, length: Int, record: KeyRecord) {
      self.pointer = pointer
      self.length = length
      self.record = record
    }
  }

  private final class Slot: Sendable {
    let entry = AtomicLazyReference<Entry>()
  }

  private static let bits = 12
  private static let probes = 32
  private let slots: [Slot]

  private init() {
    slots = (0..<(1 << Self.bits)).map { _ in Slot() }
  }

  /// The record of `key` if this literal is cached already; never creates
  /// one, never takes a lock.
  func cachedRecord(for key: StaticKey) -> KeyRecord? {
    guard key.name.hasPointerRepresentation else { return nil }
    let pointer = UInt(bitPattern: key.name.utf8Start)
    let length = key.name.utf8CodeUnitCount
    let mask = (1 << Self.bits) - 1
    var i = slotIndex(pointer)
    for _ in 0..<Self.probes {
      guard let e = slots[i].entry.load() else { return nil }
      if e.pointer == pointer && e.length == length { return e.record }
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
      return KeyRegistry.shared.recordForFallback(key).record
    }
    let pointer = UInt(bitPattern: key.name.utf8Start)
    let length = key.name.utf8CodeUnitCount
    let mask = (1 << Self.bits) - 1
    var i = slotIndex(pointer)
    for _ in 0..<Self.probes {
      let slot = slots[i]
      if let e = slot.entry.load() {
        if e.pointer == pointer && e.length == length { return e.record }
      } else {
        let (record, registered) = KeyRegistry.shared.recordForFallback(key)
        // A throw-away record (re-entered lookup) is never cached.
        if !registered { return record }
        let e = slot.entry.storeIfNil(Entry(pointer: pointer, length: length, record: record))
        if e.pointer == pointer && e.length == length { return e.record }
      }
      i = (i + 1) & mask
    }
    // Neighbourhood full: correct, just not cached.
    return KeyRegistry.shared.recordForFallback(key).record
  }
}
