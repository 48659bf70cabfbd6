import CTracepoints
import JumpLabel
import Synchronization

/// Tracepoints as USDT probes: what the probe points of the loaded images
/// are, and what the watcher that switches them on for tracers is doing.
///
/// Every emit site of a tracepoint whose payload is a ``USDTPayload`` is
/// also a probe point `usdt:BINARY:PROVIDER:NAME`, with the provider the
/// tracepoint's name up to its first `.` and the name the rest, `.` and
/// `-` mapped to `_` (`http.request.start` is `http:request_start`). A
/// watcher thread reads the probe points' semaphores every 50 ms: while a
/// tracer is attached to any of them it holds an increment of the
/// tracepoint's key, and it decrements it (after ``Tracepoints/detachDelay``)
/// once the last tracer has gone. `JUMPLABEL_USDT=0` keeps it from
/// starting.
public enum USDT {
  /// The provider and probe name under which tools see the tracepoint
  /// `name`; nil if it cannot be a probe (no `.` inside it, a character
  /// other than letters, digits, `_`, `.` and `-`, or 96 bytes or more).
  public static func probeName(of name: String) -> (provider: String, name: String)? {
    let bytes = Array(name.utf8)
    guard bytes.count <= 95, let dot = bytes.firstIndex(of: UInt8(ascii: ".")), dot > 0, dot < bytes.count - 1 else { return nil }
    for c in bytes {
      switch c {
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
           UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"):
        continue
      default:
        return nil
      }
    }
    let rest = bytes[(dot + 1)...].map { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") ? UInt8(ascii: "_") : $0 }
    return (String(decoding: bytes[..<dot], as: UTF8.self), String(decoding: rest, as: UTF8.self))
  }

  /// One probe point in a loaded image.
  public struct ProbePoint: Sendable, Hashable {
    /// The tracepoint it belongs to.
    public let tracepoint: String
    /// The provider, as tools list it.
    public let provider: String
    /// The probe name, as tools list it.
    public let name: String
    /// The address of its NOP.
    public let address: UInt
    /// The address of its semaphore.
    public let semaphoreAddress: UInt
    /// The semaphore: non-zero while a tracer is attached.
    public let semaphore: UInt16
    /// The load bias of its image.
    public let imageBase: UInt
  }

  /// Every probe point of the loaded images.
  public static func probePoints() -> [ProbePoint] {
    var buffer = [jl_usdt_point](repeating: jl_usdt_point(), count: 256)
    var n = 0
    while true {
      n = buffer.withUnsafeMutableBufferPointer { jl_usdt_list($0.baseAddress, $0.count) }
      if n <= buffer.count { break }
      buffer = [jl_usdt_point](repeating: jl_usdt_point(), count: n + 64)
    }
    return buffer.prefix(n).map { p in
      let tp = String(decoding: UnsafeRawBufferPointer(start: p.name, count: Int(p.name_len)), as: UTF8.self)
      let (provider, name) = probeName(of: tp) ?? ("", "")
      return ProbePoint(tracepoint: tp, provider: provider, name: name, address: p.pc, semaphoreAddress: p.semaphore,
                        semaphore: p.semaphore_value, imageBase: p.image_base)
    }
  }

  /// What the watcher is doing.
  public struct WatcherStatus: Sendable {
    /// The watcher thread exists (it starts with the first image that has
    /// sites, unless `JUMPLABEL_USDT=0`).
    public let running: Bool
    /// `JUMPLABEL_USDT` is not `0`.
    public let enabled: Bool
    /// Polls of the semaphores so far.
    public let polls: UInt64
    /// Keys incremented or decremented because a tracer came or went.
    public let changes: UInt64
    /// Changes the key refused (retried a second later); the last error
    /// is ``lastError``.
    public let failures: UInt64
    /// Probe points in the images the last poll saw.
    public let probePoints: UInt64
    /// The watcher thread's CPU time, as of its last poll.
    public let cpuTime: Duration
    /// Why the last refused change was refused.
    public let lastError: String?
  }

  /// The watcher's counters.
  public static var watcher: WatcherStatus {
    var s = jl_usdt_status()
    jl_usdt_watcher_status(&s)
    return WatcherStatus(running: s.running != 0, enabled: s.enabled != 0, polls: s.ticks, changes: s.changes,
                         failures: s.failures, probePoints: s.probe_points, cpuTime: .nanoseconds(s.cpu_ns),
                         lastError: state.withLock { $0.lastError })
  }

  /// Tracepoints with an emit site whose probe point could not be
  /// compiled, found when such a site ran enabled: the payload's
  /// `usdtArguments` was not visible where the tracepoint was emitted, or
  /// the name cannot be a probe name (``probeName(of:)``). Empty in an
  /// unoptimised build, which has no probe points at all.
  public static func problems() -> [String] { state.withLock { $0.notCompiled.sorted() } }

  struct State {
    var notCompiled: Set<String> = []
    var lastError: String?
  }
  static let state = Mutex(State())

  /// Records a probe point that is missing (see ``problems()``). Runs on
  /// the enabled path of such a site only.
  /// Runs on every enabled emit of such a site: after the first, it takes
  /// no lock and allocates nothing for the same name literal.
  @inline(never)
  public static func _notCompiled(_ name: StaticString) {
    let literal = name.hasPointerRepresentation ? UInt(bitPattern: name.utf8Start) : 0
    if literal != 0 && lastNotCompiled.load(ordering: .relaxed) == literal { return }
    let n = name.description
    state.withLock { _ = $0.notCompiled.insert(n) }
    lastNotCompiled.store(literal, ordering: .relaxed)
  }

  /// The name literal `_notCompiled` recorded last (0: none).
  private static let lastNotCompiled = Atomic<UInt>(0)

  /// Called by the watcher (Sources/CTracepoints/usdt_watch.c) when a
  /// tracepoint's probe points became traced or stopped being traced: the
  /// watcher holds the key as `.usdt` while a tracer is attached.
  ///
  /// A forced disable while a tracer is attached drops that hold. The
  /// watcher does not fight it: it acts only when the traced state changes,
  /// so the key stays off and the attached bpftrace sees no more events
  /// (its probe points are NOPs again; it is not told, it just stays
  /// attached and quiet). When the tracer detaches, the release is a no-op
  /// (no underflow); the next tracer that attaches holds the key again.
  package static func tracerChanged(_ name: String, traced: Bool) -> Bool {
    do {
      if traced {
        try StaticKeys.hold(name, by: .usdt)
      } else {
        let reason = StaticKeys.droppedReason(name, holder: .usdt)
        if try !StaticKeys.release(name, by: .usdt, deferredBy: Tracepoints.detachDelay) {
          state.withLock { $0.lastError = "\(name): \(reason ?? "disabled by force") while a USDT tracer held it" }
        }
      }
      return true
    } catch .notHeld where !traced {
      // Dropped and forgotten (another forced disable since): nothing to
      // release. Retrying would fail forever.
      return true
    } catch {
      let what = traced ? "enable" : "disable"
      state.withLock { $0.lastError = "could not \(what) \(name) for a USDT tracer: \(error)" }
      return false
    }
  }
}

/// The watcher's call into Swift (hidden in C: each copy calls its own).
@_cdecl("jl_usdt_tracer_changed")
func jl_usdt_tracer_changed(_ name: UnsafeRawPointer, _ length: Int64, _ traced: Int32) -> Int32 {
  let n = String(decoding: UnsafeRawBufferPointer(start: name, count: Int(length)), as: UTF8.self)
  return USDT.tracerChanged(n, traced: traced != 0) ? 1 : 0
}
