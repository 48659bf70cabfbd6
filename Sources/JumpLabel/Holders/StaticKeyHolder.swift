/// Who holds a key on: one labelled share of its count.
///
/// A key's count belongs to its holders (the kernel's rule for
/// `static_key_slow_inc/dec`). Each labelled holder holds at most one
/// share (holding twice is one hold); anonymous `increment()` calls from
/// code are the holder ``Kind-swift.enum/code`` and are counted, not named.
///
/// Who may switch a key off:
/// - a holder releases only its own share (``StaticKeys/release(_:by:deferredBy:)``);
/// - the boolean `disable()` owns only the ``Kind-swift.enum/enabled`` share:
///   while anybody else holds the key (code, probes, trace clients, a USDT
///   tracer, leases) it refuses with ``JumpLabelError/heldBy(key:holders:)``
///   and changes nothing;
/// - a forced disable (`disable(force:)`, `StaticKeys.set(..., force:)`)
///   drops every share in one batch and records why; a dropped holder's
///   later release is a no-op that returns false, and
///   ``StaticKeys/droppedReason(_:holder:)`` tells it who forced it off.
public struct StaticKeyHolder: Hashable, Sendable, CustomStringConvertible, Comparable {
  /// The kinds of holders.
  public enum Kind: String, Sendable, CaseIterable {
    /// The boolean form: `enable()`/`disable()`, `ctl enable`, a key's
    /// declared default `true`, a state remembered for an undeclared name.
    case enabled
    /// An in-process probe attached to a tracepoint (id: the probe's).
    case probe
    /// A `jumplabel ctl trace` client (id: "pid N").
    case trace
    /// The USDT watcher, while a tracer (bpftrace, perf) is attached.
    case usdt
    /// A timed or held change from a control tool (`--ttl`, `--hold`).
    case lease
    /// A configuration system.
    case configuration
    /// Anonymous `increment()` calls from code (counted, never named).
    case code
  }

  /// What kind of holder this is.
  public var kind: Kind
  /// Which one of its kind ("" when there is only one, as for `.enabled`,
  /// `.usdt` and `.code`; "pid 4242" for a trace client).
  public var id: String

  /// A holder of `kind`, named `id` within its kind.
  public init(_ kind: Kind, id: String = "") {
    self.kind = kind
    self.id = id
  }

  /// The boolean holder (`enable()`/`disable()`).
  public static let enabled = StaticKeyHolder(.enabled)
  /// The USDT watcher.
  public static let usdt = StaticKeyHolder(.usdt)
  /// Anonymous increments from code.
  public static let code = StaticKeyHolder(.code)

  /// "probe 3", "trace pid 4242", "enabled".
  public var description: String { id.isEmpty ? kind.rawValue : "\(kind.rawValue) \(id)" }

  /// By kind (declaration order), then id.
  public static func < (a: StaticKeyHolder, b: StaticKeyHolder) -> Bool {
    let (ka, kb) = (Kind.allCases.firstIndex(of: a.kind) ?? 0, Kind.allCases.firstIndex(of: b.kind) ?? 0)
    return ka != kb ? ka < kb : a.id < b.id
  }
}

extension Dictionary where Key == StaticKeyHolder, Value == Int {
  /// "code ×2, probe 3, trace pid 4242": holders in order, a count only
  /// where it is above 1.
  public var holderList: String {
    keys.sorted().map { h in self[h]! > 1 ? "\(h) ×\(self[h]!)" : h.description }.joined(separator: ", ")
  }
}
