import Glibc
import JumpLabel
import Synchronization

/// Every tracepoint's probe list, by name. An emit finds its list from the
/// address of its name literal, lock-free after the first emit from that
/// literal (like the keys' fallback cache); attaching by name (control
/// tools) goes through the dictionary.
final class ProbeRegistry: @unchecked Sendable {
  // @unchecked: `byName` is guarded by `lock`; the slots are atomic.
  static let shared = ProbeRegistry()

  private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private var byName: [String: ProbeList] = [:]

  private final class Entry: Sendable {
    let pointer: UInt
    let length: Int
    let list: ProbeList
    init(pointer: UInt, length: Int, list: ProbeList) { self.pointer = pointer; self.length = length; self.list = list }
  }
  private final class Slot: Sendable { let entry = AtomicLazyReference<Entry>() }
  private static let bits = 10
  private static let probes = 16
  private let slots: [Slot]

  private init() {
    pthread_mutex_init(lock, nil)
    slots = (0..<(1 << Self.bits)).map { _ in Slot() }
  }

  /// The list of the tracepoint named `name` (a literal), created on first use.
  func list(for name: StaticString) -> ProbeList {
    guard name.hasPointerRepresentation else { return list(named: name.description) }
    let pointer = UInt(bitPattern: name.utf8Start), length = name.utf8CodeUnitCount
    let mask = (1 << Self.bits) - 1
    var i = Int(truncatingIfNeeded: (pointer &* 0x9E37_79B9_7F4A_7C15) >> UInt(64 - Self.bits)) & mask
    for _ in 0..<Self.probes {
      if let e = slots[i].entry.load() {
        if e.pointer == pointer && e.length == length { return e.list }
      } else {
        let list = list(named: name.description)
        let e = slots[i].entry.storeIfNil(Entry(pointer: pointer, length: length, list: list))
        if e.pointer == pointer && e.length == length { return e.list }
      }
      i = (i + 1) & mask
    }
    return list(named: name.description)
  }

  /// The list of the tracepoint named `name`, created on first use.
  func list(named name: String) -> ProbeList {
    pthread_mutex_lock(lock)
    defer { pthread_mutex_unlock(lock) }
    if let l = byName[name] { return l }
    let l = ProbeList(name: name)
    byName[name] = l
    return l
  }

  /// Every list created so far.
  var lists: [ProbeList] {
    pthread_mutex_lock(lock)
    defer { pthread_mutex_unlock(lock) }
    return byName.values.sorted { $0.name < $1.name }
  }
}
