import JumpLabel
import Synchronization

/// A probe attached to a tracepoint, and its share of the tracepoint's key
/// (StaticKeyHolder: `.probe` with the probe's id, or the holder it was
/// attached as, e.g. a `ctl trace` client's `.trace`, "pid N").
///
/// The probe's share counts like any holder's: `StaticKey.disable()` and
/// `jumplabel ctl disable` refuse while it is attached. A forced disable
/// drops it: the probe is removed (never called again, even if the key is
/// enabled later), and ``wasForcedOff`` / ``forcedOffReason`` say so.
public final class ProbeHandle: Sendable {
  let list: ProbeList
  let id: Int
  /// Whose share this probe is.
  public let holder: StaticKeyHolder
  let forced: ForcedOff

  init(list: ProbeList, id: Int, holder: StaticKeyHolder, forced: ForcedOff) {
    self.list = list
    self.id = id
    self.holder = holder
    self.forced = forced
  }

  /// The tracepoint's name.
  public var tracepoint: String { list.name }

  /// Removes the probe. When `detach()` returns, no emit calls it any more,
  /// on any thread, except an emit of the calling thread that is still
  /// running: the probe detaching itself, or a detach made by a signal
  /// handler that interrupted an emit. Idempotent. The holder's share is
  /// then released (after its last probe here), deferred by
  /// ``Tracepoints/detachDelay``; a share that a forced disable dropped is
  /// not released again.
  public func detach() {
    let (attached, last) = list.detach(id)
    guard attached, last else { return }
    // Ask first: the release forgets why the share was dropped.
    let reason = StaticKeys.droppedReason(list.name, holder: holder)
    if (try? StaticKeys.release(list.name, by: holder, deferredBy: Tracepoints.detachDelay)) == false {
      forced.set(reason ?? "disabled by force")
    }
  }

  /// True until the first `detach()`, or until a forced disable removed it.
  public var isAttached: Bool { list.contains(id) }

  /// True if a forced disable of the tracepoint's key dropped this probe
  /// (it is no longer called).
  public var wasForcedOff: Bool { forcedOffReason != nil }

  /// The reason the forced disable recorded ("disabled by pid 4242
  /// (jumplabel ctl --force)"), or nil if it was not forced off. In the
  /// process's primary runtime copy a forced disable marks the handle at
  /// once, so this is a lock-free read; in another copy (an image that
  /// links the package statically and loaded second) it asks the primary
  /// while the probe is attached (a lock).
  public var forcedOffReason: String? {
    if let r = forced.reason { return r }
    guard !StaticKeys.isPrimaryRuntime, list.contains(id),
          let r = StaticKeys.droppedReason(list.name, holder: holder) else { return nil }
    forced.set(r)
    return r
  }
}

/// Why a probe was forced off, set once.
final class ForcedOff: Sendable {
  private let value = Mutex<String?>(nil)
  var reason: String? { value.withLock { $0 } }
  func set(_ reason: String) { value.withLock { if $0 == nil { $0 = reason } } }
}
