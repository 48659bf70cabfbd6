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
final class ProbeList: @unchecked Sendable {
  // @unchecked: `current` is atomic; everything else is under `writer`,
  // except `codec`, which is set once (AtomicLazyReference).
  let name: String
  private let current = Atomic<UnsafeRawPointer?>(nil)
  private let writer = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private var nextID = 0
  private let codecRef = AtomicLazyReference<PayloadCodec>()

  /// An immutable probe array.
  final class Snapshot: @unchecked Sendable {
    // @unchecked: never mutated after publication.
    let probes: [Probe]
    init(_ probes: [Probe]) { self.probes = probes }
  }

  /// One attached probe.
  struct Probe: @unchecked Sendable {
    let id: Int
    let body: Body
  }

  /// A probe's code: typed (called with the payload, if its type matches)
  /// or erased (a sink, called with the event).
  enum Body: @unchecked Sendable {
    case typed(ObjectIdentifier, AnyObject)
    case erased(@Sendable (borrowing TracepointEvent) -> Void)
  }

  init(name: String) {
    self.name = name
    pthread_mutex_init(writer, nil)
  }

  /// The payload codec, once an emit or a typed attach has told it.
  var codec: PayloadCodec? { codecRef.load() }

  func noteCodec(_ c: PayloadCodec) { _ = codecRef.storeIfNil(c) }

  /// Calls every probe with `payload`, on this thread, in attach order.
  func emit<Payload: Encodable>(_ payload: Payload) {
    let token = tpx_grace_enter()
    defer { tpx_grace_exit(token) }
    // seq_cst: pairs with the writer's publication and grace wait (grace.c).
    guard let raw = current.load(ordering: .sequentiallyConsistent) else { return }
    Unmanaged<Snapshot>.fromOpaque(raw)._withUnsafeGuaranteedRef { snapshot in
      var withEvent: PayloadCodec?
      for p in snapshot.probes {
        switch p.body {
        case let .typed(type, box):
          if type == ObjectIdentifier(Payload.self) { unsafeDowncast(box, to: TypedProbe<Payload>.self).body(payload) }
        case let .erased(sink):
          let codec = withEvent ?? codecOrNote(Payload.self)
          withEvent = codec
          withUnsafePointer(to: payload) { ptr in
            let event = TracepointEvent(
              name: name, timestamp: tpx_now_ns(), threadID: tpx_thread_id(), payload: UnsafeRawPointer(ptr),
              codec: codec, list: UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque()))
            sink(event)
          }
        }
      }
    }
  }

  private func codecOrNote<Payload: Encodable>(_ type: Payload.Type) -> PayloadCodec {
    if let c = codecRef.load() { return c }
    return codecRef.storeIfNil(TypedPayloadCodec<Payload>.shared)
  }

  /// Adds a probe at the end, then increments the key (so the sites are
  /// enabled with the probe already in place). If the key cannot be
  /// incremented the probe is removed again and the error thrown.
  func attach(_ body: Body, key: StaticKey) throws(JumpLabelError) -> ProbeHandle {
    let id = mutate { probes in
      nextID += 1
      probes.append(Probe(id: nextID, body: body))
      return nextID
    }
    do {
      try key.increment()
    } catch {
      _ = mutate { probes in probes.removeAll { $0.id == id } }
      throw error
    }
    return ProbeHandle(list: self, id: id, key: .key(key))
  }

  /// Attaches by name, for control tools that have no type: `increment`
  /// names the key through the registry (`StaticKeys.increment(named:)`).
  func attach(erased body: @escaping @Sendable (borrowing TracepointEvent) -> Void) throws(JumpLabelError) -> ProbeHandle {
    let id = mutate { probes in
      nextID += 1
      probes.append(Probe(id: nextID, body: .erased(body)))
      return nextID
    }
    do {
      try StaticKeys.increment(named: name)
    } catch {
      _ = mutate { probes in probes.removeAll { $0.id == id } }
      throw error
    }
    return ProbeHandle(list: self, id: id, key: .named(name))
  }

  /// Removes probe `id` (if still there), waits for the grace period,
  /// then decrements the key, deferred. True if it was attached.
  @discardableResult
  func detach(_ id: Int) -> Bool {
    mutate { probes in
      let before = probes.count
      probes.removeAll { $0.id == id }
      return probes.count != before
    }
  }

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

  private func snapshotLocked() -> [Probe] {
    guard let raw = current.load(ordering: .acquiring) else { return [] }
    return Unmanaged<Snapshot>.fromOpaque(raw).takeUnretainedValue().probes
  }

  /// Builds and publishes a new snapshot; if the change removed a probe,
  /// waits for the grace period, then frees the old snapshot.
  private func mutate<T>(_ change: (inout [Probe]) -> T) -> T {
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
