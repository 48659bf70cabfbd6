/// A snapshot of one key, for control tools.
public struct StaticKeyInfo: Sendable, Hashable, CustomStringConvertible {
  /// The key's name.
  public let name: String
  /// Whether the key is enabled (count > 0, or its first enable in progress).
  public let state: Bool
  /// The enable count (kernel semantics).
  public let count: Int
  /// Number of patchable sites in all loaded images.
  public let sites: Int
  /// The declared default.
  public let defaultValue: Bool
  /// Executions of sites of this key that read the state instead of being a
  /// NOP (debug builds, non-literal names). 0 means every execution so far
  /// was zero-cost.
  public let fallbackHits: Int
  /// Of those, the executions in optimised code: sites where the compiler
  /// did not see the key's literal (``JumpLabelError/fallbackInOptimizedCode(key:hits:image:)``).
  public let fallbackHitsInOptimizedCode: Int
  /// True if the key is a tracepoint's (Sources/Tracepoints).
  public let isTracepoint: Bool
  /// False for a state set by name that no image has declared yet (it is
  /// applied when one does).
  public var declared: Bool = true
  /// Why this key cannot be toggled, if it cannot.
  public let problem: String?
  /// Who holds it on, with their shares of ``count`` (StaticKeyHolder):
  /// `.enabled`, probes, trace clients, the USDT watcher, leases, and
  /// `.code` for the anonymous increments. Empty when it is off.
  public var holders: [StaticKeyHolder: Int] = [:]
  /// The reason given by the last forced disable of this key, if any.
  public var forcedOff: String?

  public var description: String {
    var s = "\(name) = \(state) (count \(count), default \(defaultValue), \(sites) sites, \(fallbackHits) fallback hits"
    s += fallbackHitsInOptimizedCode > 0 ? ", \(fallbackHitsInOptimizedCode) in optimised code)" : ")"
    if !holders.isEmpty { s += " held by \(holders.holderList)" }
    if !declared { s += " (not declared by any loaded image yet: remembered)" }
    if let problem { s += " PROBLEM: \(problem)" }
    return s
  }
}
