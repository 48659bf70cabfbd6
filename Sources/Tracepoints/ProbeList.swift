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

  /// Adds a probe at the end, then increments the key (so the sites are
  /// enabled with the probe already in place). If the key cannot be
  /// incremented the probe is removed again and the error thrown.
  func attach(_ body: Body, key: StaticKey) throws(JumpLabelError) -> ProbeHandle {
    let id = mutate { probes in
      nextID += 1
      switch body {
      case let .typed(type, box): probes.append(Probe(id: nextID, type: type, typed: box, sink: nil))
      case let .sink(sink): probes.append(Probe(id: nextID, type: nil, typed: nil, sink: sink))
      }
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
  func attach(sink: any TracepointSink) throws(JumpLabelError) -> ProbeHandle {
    let id = mutate { probes in
      nextID += 1
      probes.append(Probe(id: nextID, type: nil, typed: nil, sink: sink))
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
