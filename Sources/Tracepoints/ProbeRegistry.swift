import Glibc
import JumpLabel
import Synchronization

/// Every tracepoint's probe list, by name. An emit finds its list from the
/// address of its name literal, lock-free after the first emit from that
/// literal (like the keys' fallback cache); attaching by name (control
/// tools) goes through the dictionary.
@usableFromInline
final class ProbeRegistry: @unchecked Sendable {
  // @unchecked: `byName` is guarded by `lock`; the slots are atomic.
  @usableFromInline static let shared = ProbeRegistry()

  private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private var byName: [String: ProbeList] = [:]  // lists are never freed

  private final class Entry: Sendable {
    let pointer: UInt
    let length: Int
    let list: ProbeList
    init(pointer: UInt, length: Int, list: ProbeList) { self.pointer = pointer; self.length = length; self.list = list }
  }
  private static let bits = 10
  private static let probes = 16
  /// Each slot holds the address of an immortal entry, set once, 0 while
  /// empty: plain atomics (AtomicLazyReference's generic calls were not
  /// inlined), read without retaining anything.
  private let slots: UnsafeMutablePointer<Atomic<UInt>>

  private init() {
    pthread_mutex_init(lock, nil)
    slots = .allocate(capacity: 1 << Self.bits)
    for i in 0..<(1 << Self.bits) { (slots + i).initialize(to: Atomic(0)) }
  }

  /// The list of the tracepoint named `name` (a literal), created on first
  /// use. After that: a hash, one or two acquire loads, no lock, no retain.
  @usableFromInline func list(for name: StaticString) -> Unmanaged<ProbeList> {
    guard name.hasPointerRepresentation else { return .passUnretained(list(named: name.description)) }
    let pointer = UInt(bitPattern: name.utf8Start), length = name.utf8CodeUnitCount
    let mask = (1 << Self.bits) - 1
    var i = Int(truncatingIfNeeded: (pointer &* 0x9E37_79B9_7F4A_7C15) >> UInt(64 - Self.bits)) & mask
    for _ in 0..<Self.probes {
      var v = slots[i].load(ordering: .acquiring)
      if v == 0 {
        let made = Entry(pointer: pointer, length: length, list: list(named: name.description))
        let raw = UInt(bitPattern: Unmanaged.passRetained(made).toOpaque())  // immortal from now on
        let (done, found) = slots[i].compareExchange(expected: 0, desired: raw, ordering: .acquiringAndReleasing)
        if done { v = raw } else { Unmanaged<Entry>.fromOpaque(UnsafeRawPointer(bitPattern: raw)!).release(); v = found }
      }
      let hit: Unmanaged<ProbeList>? = Unmanaged<Entry>.fromOpaque(UnsafeRawPointer(bitPattern: v)!)._withUnsafeGuaranteedRef { e in
        e.pointer == pointer && e.length == length ? .passUnretained(e.list) : nil
      }
      if let hit { return hit }
      i = (i + 1) & mask
    }
    return .passUnretained(list(named: name.description))
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

  /// The list of `name` if one was created.
  func existingList(named name: String) -> ProbeList? {
    pthread_mutex_lock(lock)
    defer { pthread_mutex_unlock(lock) }
    return byName[name]
  }

  /// Every list created so far.
  var lists: [ProbeList] {
    pthread_mutex_lock(lock)
    defer { pthread_mutex_unlock(lock) }
    return byName.values.sorted { $0.name < $1.name }
  }
}
