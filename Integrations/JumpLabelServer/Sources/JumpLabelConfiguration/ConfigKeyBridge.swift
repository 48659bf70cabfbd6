public import Configuration
import JumpLabel
public import Logging
import Synchronization

/// Makes the process's static keys and tracepoints follow a configuration:
/// `jumplabel.keys.<key name> = true | false`, read from any
/// `ConfigReader` (a reloading file mounted from a ConfigMap, environment,
/// a config service), applied in one batch per direction per change.
///
/// Who wins, per key (README, "The configuration and ctl"):
/// - The configuration changes a key only from the state in which its own
///   last change left it. If someone else moved the key since (an
///   operator's `ctl enable/disable`, a `ctl` lease, a tracer attaching),
///   that change stands: the bridge reports the key as *overridden* and
///   leaves it alone.
/// - A `ctl --ttl`/`--hold` lease therefore overrides the configuration
///   until it ends: when the control server reverts it, the key is back in
///   the configuration's state, and the configuration's current value
///   applies at the next check (``apply(_:)``, at most one recheck interval
///   later in ``run()``).
/// - A plain `ctl enable/disable` is the operator's own change: it stands
///   until the operator sets the key back.
/// - A value that disappears from the configuration returns a key the
///   configuration had changed to its declared default; a key the
///   configuration never mentioned is never touched.
///
/// Every change and every override is logged on `logger` (label
/// `jumplabel.configuration`), next to the control server's audit lines.
///
/// Keys are matched by the names the loaded images declare
/// (`StaticKeys.list()`); a library loaded later is matched from the next
/// check on. A value that is not a boolean counts as absent.
public final class ConfigKeyBridge: Sendable {
  /// What one ``apply(_:)`` did.
  public struct Outcome: Sendable, Equatable, CustomStringConvertible {
    /// Keys switched on, in one batch.
    public var enabled: [String] = []
    /// Keys switched off, in one batch.
    public var disabled: [String] = []
    /// Keys left alone because someone else changed them since the
    /// configuration did (their change stands).
    public var overridden: [String] = []
    /// Keys the runtime refused to change, with its reason (for example a
    /// count held by a tracer's increments); tried again at the next check.
    public var refused: [String: String] = [:]

    /// True if the check switched any key.
    public var changedAnything: Bool { !enabled.isEmpty || !disabled.isEmpty }

    public var description: String {
      "enabled \(enabled), disabled \(disabled), overridden \(overridden), refused \(refused.keys.sorted())"
    }
  }

  /// The configuration key under which key names are looked up.
  public let prefix: String
  let logger: Logger
  let state = Mutex(State())

  struct State {
    /// The state each key was left in by the configuration's last change
    /// of it; absent: the configuration has not changed it (or gave it
    /// back).
    var lastLeft: [String: Bool] = [:]
    /// Keys reported as overridden (logged once per override).
    var overridden: Set<String> = []
    /// Checks that switched at least one key.
    var appliedChanges = 0
    /// The last check had a refusal.
    var pendingRefusals = false
  }

  /// A bridge that reads `"\(prefix).<key name>"`.
  public init(prefix: String = "jumplabel.keys", logger: Logger = Logger(label: "jumplabel.configuration")) {
    self.prefix = prefix
    self.logger = logger
  }

  /// Checks made so far that switched at least one key.
  public var appliedChanges: Int { state.withLock { $0.appliedChanges } }

  /// Brings the keys in line with `snapshot`, under the rules above: at
  /// most one batch that enables and one that disables. Safe to call from
  /// several tasks (checks are serialised).
  @discardableResult
  public func apply(_ snapshot: ConfigSnapshotReader) -> Outcome {
    state.withLock { state in
      var outcome = Outcome()
      var overriddenNow: Set<String> = []
      for key in StaticKeys.list() where key.declared {
        let last = state.lastLeft[key.name]
        // What the configuration wants: its value; the default if it
        // dropped a value it had applied; nothing if it never spoke.
        guard let target = snapshot.bool(forKey: ConfigKey("\(prefix).\(key.name)")) ?? (last == nil ? nil : key.defaultValue)
        else { continue }
        if let last, key.state != last {
          // Someone else moved the key since the configuration did: theirs
          // stands (rechecked until the key is back where we left it).
          overriddenNow.insert(key.name)
          continue
        }
        if key.state == target {
          // In agreement: claim the state (later moves by others are
          // overrides), or give the key back if this is its default and
          // the configuration no longer names it.
          state.lastLeft[key.name] = target
          continue
        }
        if target { outcome.enabled.append(key.name) } else { outcome.disabled.append(key.name) }
      }
      outcome.enabled = applyBatch(outcome.enabled, enabled: true, outcome: &outcome, state: &state)
      outcome.disabled = applyBatch(outcome.disabled, enabled: false, outcome: &outcome, state: &state)
      outcome.overridden = overriddenNow.sorted()
      for name in overriddenNow.subtracting(state.overridden) {
        logger.notice("configuration: \(name) left as it is: changed by someone else (ctl, a lease, a tracer) since the configuration set it; the configuration applies again once it is back")
      }
      state.overridden = overriddenNow
      state.pendingRefusals = !outcome.refused.isEmpty
      if outcome.changedAnything { state.appliedChanges += 1 }
      return outcome
    }
  }

  /// One batch; a key the runtime refuses is left out and the rest tried
  /// again (a batch changes all its keys or none). Returns the keys
  /// switched.
  private func applyBatch(_ names: [String], enabled: Bool, outcome: inout Outcome, state: inout State) -> [String] {
    var names = names
    while !names.isEmpty {
      do {
        try StaticKeys.set(names: names, enabled: enabled)
        for n in names { state.lastLeft[n] = enabled }
        logger.notice("configuration: \(enabled ? "enabled" : "disabled") \(names.joined(separator: " ")) (one batch)")
        return names
      } catch {
        let culprit = Self.key(of: error)
        let before = names.count
        names.removeAll { culprit == nil || $0 == culprit }
        let left = culprit.map { [$0] } ?? []
        for n in left { outcome.refused[n] = error.description }
        if culprit == nil || names.count == before {
          logger.warning("configuration: could not \(enabled ? "enable" : "disable") keys: \(error)")
          return []
        }
      }
    }
    return []
  }

  /// The key an error names, if any.
  private static func key(of error: JumpLabelError) -> String? {
    switch error {
    case let .heldByIncrements(key, _), let .underflow(key), let .reentrantControl(key), let .patch(key, _),
         let .unexpectedSite(key, _, _, _), let .conflictingDefaults(key, _, _, _, _), let .fallbackInOptimizedCode(key, _, _):
      return key
    case let .unknownKey(key):
      return key
    default:
      return nil
    }
  }
}
