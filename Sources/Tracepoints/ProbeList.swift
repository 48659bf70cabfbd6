import CTracepoints
import Glibc
import JumpLabel
import Synchronization

/// The probes of one tracepoint, published for lock-free emitters.
///
/// Emitters read the current ``Snapshot`` (an immutable array of probes)
/// inside a grace-period section (grace.c) and call its probes; they take
/// no lock and allocate nothing. Writers (attach, detach) build a new
/// snapshot under `writer` and publish it with one pointer store, so an
/// emitter sees either the old array or the new one, never a half-built
/// one. A detach then waits for a grace period before it returns and frees
/// the old snapshot: no emitter can still be calling the removed probe.
@usableFromInline
final class ProbeList: @unchecked Sendable {
  // @unchecked: `current` is atomic; everything else is under `writer`,
  // except `codec`, which is set once (AtomicLazyReference).
  @usableFromInline let name: String
  @usableFromInline let current = Atomic<UnsafeRawPointer?>(nil)
  private let writer = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private var nextID = 0
  /// The payload codec's address (immortal), 0 until known.
  @usableFromInline let codecRaw = Atomic<UInt>(0)

  /// An immutable probe array.
  @usableFromInline final class Snapshot: @unchecked Sendable {
    // @unchecked: never mutated after publication.
    @usableFromInline let probes: ContiguousArray<Probe>
    init(_ probes: ContiguousArray<Probe>) { self.probes = probes }
  }

  /// One attached probe: typed (`typed` is a `TypedProbe<Payload>` of the
  /// payload type `type`, called only with payloads of that type) or a
  /// sink (called with the type-erased event).
  @usableFromInline struct Probe: @unchecked Sendable {
    @usableFromInline let id: Int
    @usableFromInline let type: ObjectIdentifier?
    @usableFromInline let typed: AnyObject?
    @usableFromInline let sink: (any TracepointSink)?
    /// Whose share of the key this probe is (several probes may share one
    /// holder: the first holds, the last releases).
    let holder: StaticKeyHolder
    /// Set when a forced disable dropped that share.
    let forced: ForcedOff
  }

  /// What to attach.
  enum Body: @unchecked Sendable {
    case typed(ObjectIdentifier, AnyObject)
    case sink(any TracepointSink)
  }

  init(name: String) {
    self.name = name
    pthread_mutex_init(writer, nil)
  }

  /// The payload codec, once an emit or a typed attach has told it.
  @usableFromInline var codec: PayloadCodec? {
    let v = codecRaw.load(ordering: .acquiring)
    return v == 0 ? nil : Unmanaged<PayloadCodec>.fromOpaque(UnsafeRawPointer(bitPattern: v)!).takeUnretainedValue()
  }

  /// Records the codec (codecs are cached per type and never freed).
  @usableFromInline func noteCodec(_ c: PayloadCodec) {
    _ = codecRaw.compareExchange(expected: 0, desired: UInt(bitPattern: Unmanaged.passUnretained(c).toOpaque()), ordering: .acquiringAndReleasing)
  }

  /// Calls every probe with `payload`, on this thread, in attach order.
  /// Inlinable so that each payload type gets its own specialised copy in
  /// the emitting module (an unspecialised generic emit spent most of its
  /// time in metadata lookups).
  @inlinable
  func emit<Payload: Encodable>(_ payload: Payload) {
    let token = tpx_grace_enter()
    defer { tpx_grace_exit(token) }
    // seq_cst: pairs with the writer's publication and grace wait (grace.c).
    guard let raw = current.load(ordering: .sequentiallyConsistent) else { return }
    Unmanaged<Snapshot>.fromOpaque(raw)._withUnsafeGuaranteedRef { snapshot in
      snapshot.probes.withUnsafeBufferPointer { probes in
        var codec: PayloadCodec?
        for i in probes.indices {
          if let sink = probes[i].sink {
            let c = codec ?? codecOrNote(Payload.self)
            codec = c
            withUnsafePointer(to: payload) { ptr in
              sink.receive(TracepointEvent(
                timestamp: tpx_now_ns(), threadID: tpx_thread_id(), payload: UnsafeRawPointer(ptr),
                codec: c, list: UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque())))
            }
          } else if probes[i].type == ObjectIdentifier(Payload.self), let box = probes[i].typed {
            unsafeDowncast(box, to: TypedProbe<Payload>.self).body(payload)
          }
        }
      }
    }
  }

  @inlinable
  func codecOrNote<Payload: Encodable>(_ type: Payload.Type) -> PayloadCodec {
    if let c = codec { return c }
    noteCodec(TypedPayloadCodec<Payload>.shared)
    return codec!
  }

  /// Adds a probe at the end, then holds the key as `holder` (so the
  /// sites are enabled with the probe already in place); `holder` nil is
  /// the probe's own (`.probe`, its id). `key` nil names the key through
  /// the registry (control tools, which have no type). If the key cannot
  /// be held the probe is removed again and the error thrown.
  func attach(_ body: Body, key: StaticKey?, holder: StaticKeyHolder?) throws(JumpLabelError) -> ProbeHandle {
    let forced = ForcedOff()
    let (id, who, first) = mutate { probes in
      nextID += 1
      let who = holder ?? StaticKeyHolder(.probe, id: "\(nextID)")
      let first = !probes.contains { $0.holder == who }
      switch body {
      case let .typed(type, box): probes.append(Probe(id: nextID, type: type, typed: box, sink: nil, holder: who, forced: forced))
      case let .sink(sink): probes.append(Probe(id: nextID, type: nil, typed: nil, sink: sink, holder: who, forced: forced))
      }
      return (nextID, who, first)
    }
    Self.observeForcedDisables()
    do {
      // A holder holds one share however many of its probes are attached.
      if first {
        if let key { try key.hold(by: who) } else { try StaticKeys.hold(name, by: who) }
      }
    } catch {
      mutate { probes in probes.removeAll { $0.id == id } }
      throw error
    }
    return ProbeHandle(list: self, id: id, holder: who, forced: forced)
  }

  /// Removes probe `id` (if still there) and waits for the grace period.
  /// Returns whether it was attached and whether it was its holder's last
  /// probe here (then the caller releases the holder's share).
  func detach(_ id: Int) -> (attached: Bool, last: Bool) {
    mutate { probes in
      guard let i = probes.firstIndex(where: { $0.id == id }) else { return (false, false) }
      let who = probes[i].holder
      probes.remove(at: i)
      return (true, !probes.contains { $0.holder == who })
    }
  }

  /// A forced disable dropped these holders' shares: their probes are
  /// marked and removed (the key is off; should it be enabled again, they
  /// are not called).
  func forcedOff(_ holders: Set<StaticKeyHolder>, reason: String) {
    let removed = mutate { probes in
      let gone = probes.filter { holders.contains($0.holder) }
      probes.removeAll { holders.contains($0.holder) }
      return gone
    }
    for p in removed { p.forced.set(reason) }
  }

  /// Registers, once per runtime copy, the observer that marks probes
  /// forced off when a forced disable drops their holders.
  private static let observing: Bool = {
    StaticKeys._observeDroppedHolds { key, holders, reason in
      ProbeRegistry.shared.existingList(named: key)?.forcedOff(Set(holders), reason: reason)
    }
    return true
  }()

  static func observeForcedDisables() { _ = observing }

  /// True if probe `id` is attached.
  func contains(_ id: Int) -> Bool {
    pthread_mutex_lock(writer)
    defer { pthread_mutex_unlock(writer) }
    return snapshotLocked().contains { $0.id == id }
  }

  /// Number of probes attached.
  var probeCount: Int {
    pthread_mutex_lock(writer)
    defer { pthread_mutex_unlock(writer) }
    return snapshotLocked().count
  }

  private func snapshotLocked() -> ContiguousArray<Probe> {
    guard let raw = current.load(ordering: .acquiring) else { return [] }
    return Unmanaged<Snapshot>.fromOpaque(raw).takeUnretainedValue().probes
  }

  /// Builds and publishes a new snapshot; if the change removed a probe,
  /// waits for the grace period, then frees the old snapshot.
  private func mutate<T>(_ change: (inout ContiguousArray<Probe>) -> T) -> T {
    pthread_mutex_lock(writer)
    defer { pthread_mutex_unlock(writer) }
    var probes = snapshotLocked()
    let result = change(&probes)
    let new = probes.isEmpty ? nil : UnsafeRawPointer(Unmanaged.passRetained(Snapshot(probes)).toOpaque())
    let old = current.exchange(new, ordering: .sequentiallyConsistent)
    if let old {
      // Emitters may still be reading the old snapshot: wait them out
      // before the array (and a removed probe's closure) is released, and
      // before a detach returns.
      if Tracepoints._skipGraceWaitForTests {
        return result  // the fault: no wait (and the old snapshot leaks rather than be freed under a reader)
      }
      _ = tpx_grace_wait()
      Unmanaged<Snapshot>.fromOpaque(old).release()
    }
    return result
  }
}
