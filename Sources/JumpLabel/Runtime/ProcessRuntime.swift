import CJumpLabel
import CJumpLabelSite
import Glibc
import TextPoke

/// Which copy of the runtime does the work for this one.
///
/// Decision (SharedLibraries article, "Several copies of the runtime"): one process-wide
/// registry. The primary is the first usable runtime in the loader's image
/// order (jumplabel_runtime_abi.h); every other copy forwards each call to
/// it, so keys, sites and the patch lock exist once per process however
/// many images link the package statically.
enum ProcessRuntime {
  /// What is known of the primary without waiting for anything.
  enum Known {
    /// Not resolved yet: resolving walks the images (the loader's lock).
    case unknown
    /// This copy is the primary.
    case this
    /// Another copy is.
    case other(UnsafePointer<jl_runtime>)
  }

  /// Lock-free and allocation-free: safe on a thread that must not wait.
  static var known: Known {
    switch jl_rt_primary_cached() {
    case 0: return .unknown
    case 1: return .this
    case let p: return .other(UnsafePointer(bitPattern: p)!)
    }
  }

  /// The primary's descriptor, or nil if this copy is the primary. The
  /// first call resolves it, which calls the dynamic loader: call it from
  /// an entry point (the thread marked, none of our locks held). The
  /// answer is kept in C, not in a Swift lazy global, so that a later
  /// reader never waits on a one-time initialiser.
  static var primary: UnsafePointer<jl_runtime>? {
    switch known {
    case .this: return nil
    case let .other(p): return p
    case .unknown: return resolve()
    }
  }

  private static func resolve() -> UnsafePointer<jl_runtime>? {
    LoaderCalls.mayCallLoader()
    let mine = jl_runtime_this()
    // This copy is loaded and relocated, so a primary exists; the walk
    // answers nil only while an earlier copy is still being relocated, which
    // a running copy cannot see (new images go at the end of the list), so
    // waiting here is a defence, not a path.
    for _ in 0..<100_000 {
      if let first = jl_primary_runtime() {
        jl_rt_primary_store(first == mine ? 1 : UInt(bitPattern: first))
        return first == mine ? nil : first
      }
      sched_yield()
    }
    preconditionFailure("JumpLabel: no usable runtime copy found, not even this one")
  }

  /// Settles which copy is the primary now, while no lock of ours is held
  /// (the answer is cached). Called on entry from other images, before any
  /// lock is taken, so that a later first use on a thread that holds the
  /// registry lock (a signal handler) does not have to walk the images.
  static func settle() { _ = primary }

  /// True if this copy does the work itself.
  static var isPrimary: Bool { primary == nil }

  /// Runs `request` here (primary) or in the primary. An entry point: a
  /// thread that is already inside this copy of the runtime (a signal
  /// handler that interrupted it) gets `reentrantControl` at once.
  static func perform(_ request: RuntimeRequest) -> RuntimeReply {
    guard ThreadMarks.enter(ThreadMarks.client) else { return .failed(.reentrantControl(key: request.keyName)) }
    defer { ThreadMarks.leave(ThreadMarks.client) }
    return performMarked(request)
  }

  /// `perform` on a thread that is marked already.
  static func performMarked(_ request: RuntimeRequest) -> RuntimeReply {
    guard let remote = primary?.pointee else { return request.performLocally() }
    return call(remote, request)
  }

  /// Sends `request` to another copy, the primary (the thread is marked).
  static func call(_ remote: jl_runtime, _ request: RuntimeRequest) -> RuntimeReply {
    var w = WireWriter()
    request.encode(&w)
    var length = 0
    guard let reply = w.bytes.withUnsafeBytes({ remote.call($0.baseAddress, $0.count, &length) }) else {
      preconditionFailure("JumpLabel: the primary runtime returned no reply")
    }
    defer { remote.free_reply(reply) }
    var r = WireReader(Array(UnsafeRawBufferPointer(start: reply, count: length)))
    return RuntimeReply.decode(&r)
  }

  /// The count of the key named by the literal at `name` (> 0: enabled),
  /// read in the primary. Only for a copy that is not the primary.
  /// `optimizedFrom`: the read comes from optimised code in the image of
  /// that `#dsohandle` (JL_READ_OPTIMIZED_SITE).
  static func remoteCount(_ remote: UnsafePointer<jl_runtime>, _ key: StaticKey, countHit: Bool,
                          optimizedFrom dso: UnsafeRawPointer? = nil) -> Int {
    let r = remote.pointee
    var flags = countHit ? JL_READ_COUNT_HIT : 0
    if dso != nil { flags |= JL_READ_OPTIMIZED_SITE }
    if key.name.hasPointerRepresentation {
      return Int(r.read(key.name.utf8Start, Int64(key.name.utf8CodeUnitCount), key.defaultValue ? 1 : 0, flags, dso))
    }
    // A non-pointer StaticString (a single scalar): pass a copy, checked by bytes.
    var name = key.nameString
    return name.withUTF8 {
      Int(r.read($0.baseAddress, Int64($0.count), key.defaultValue ? 1 : 0, flags | JL_READ_UNPINNED_NAME, dso))
    }
  }
}
