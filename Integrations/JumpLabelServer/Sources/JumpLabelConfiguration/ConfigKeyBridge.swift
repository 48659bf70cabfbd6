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
///   later in the service of ``service(following:recheck:)``).
/// - A plain `ctl enable/disable` is the operator's own change: it stands
///   until the operator sets the key back.
/// - A value that disappears from the configuration returns a key the
///   configuration had changed to its declared default (unless someone
///   else changed it since: then it is theirs); a key the configuration
///   never mentioned is never touched.
/// - A key that a tracer or code holds by increments cannot be disabled
///   (the runtime refuses); the bridge tries again at each recheck.
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
    /// Keys switched on, in one batch (key by key only after a refused batch).
    public var enabled: [String] = []
    /// Keys switched off, in one batch (key by key only after a refused batch).
    public var disabled: [String] = []
    /// Keys left alone because someone else changed them since the
    /// configuration did (their change stands).
    public var overridden: [String] = []
    /// Keys the runtime refused to change, with its reason (for example a
    /// count held by a tracer's increments); tried again at the next check.
    public var refused: [String: String] = [:]

    /// True if the check switched any key.
    public var changedAnything: Bool { !enabled.isEmpty || !disabled.isEmpty }

    /// One line for logs and test messages.
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
    /// Keys refused at the last check (logged once per refusal).
    var refused: Set<String> = []
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
      var givenBack: Set<String> = []
      for key in StaticKeys.list() where key.declared {
        let last = state.lastLeft[key.name]
        // What the configuration wants: its value; the default if it
        // dropped a value it had applied; nothing if it never spoke.
        let configured = snapshot.bool(forKey: ConfigKey("\(prefix).\(key.name)"))
        guard let target = configured ?? (last == nil ? nil : key.defaultValue) else { continue }
        if configured == nil { givenBack.insert(key.name) }
        if let last, key.state != last {
          // Someone else moved the key since the configuration did: theirs
          // stands (rechecked until the key is back where we left it), and
          // is all theirs if the configuration no longer names the key.
          if configured == nil { state.lastLeft[key.name] = nil } else { overriddenNow.insert(key.name) }
          continue
        }
        if key.state == target {
          // In agreement: claim the state (later moves by others are
          // overrides), or give the key back (at its default) if the
          // configuration no longer names it.
          state.lastLeft[key.name] = configured == nil ? nil : target
          continue
        }
        if target { outcome.enabled.append(key.name) } else { outcome.disabled.append(key.name) }
      }
      outcome.enabled = applyBatch(outcome.enabled, enabled: true, outcome: &outcome, state: &state)
      outcome.disabled = applyBatch(outcome.disabled, enabled: false, outcome: &outcome, state: &state)
      // Keys back at their default because the configuration dropped them
      // are no longer the configuration's.
      for name in givenBack where !outcome.refused.keys.contains(name) && !overriddenNow.contains(name) {
        state.lastLeft[name] = nil
      }
      outcome.overridden = overriddenNow.sorted()
      for name in overriddenNow.subtracting(state.overridden) {
        logger.notice("configuration: \(name) left as it is: changed by someone else (ctl, a lease, a tracer) since the configuration set it; the configuration applies again once it is back")
      }
      for name in state.overridden.subtracting(overriddenNow).sorted() {
        logger.notice("configuration: \(name) follows the configuration again (the other change ended)")
      }
      state.overridden = overriddenNow
      for (name, why) in outcome.refused.sorted(by: { $0.key < $1.key }) where !state.refused.contains(name) {
        logger.notice("configuration: \(name) not changed yet: \(why) (tried again at each recheck)")
      }
      state.refused = Set(outcome.refused.keys)
      if outcome.changedAnything { state.appliedChanges += 1 }
      return outcome
    }
  }

  /// One batch; if the runtime refuses it (a batch changes all its keys
  /// or none), the key the error names is left out and the rest tried
  /// again; an error that names no key known here sends the keys one by
  /// one, so that the others still apply. Returns the keys switched.
  private func applyBatch(_ names: [String], enabled: Bool, outcome: inout Outcome, state: inout State) -> [String] {
    var names = names
    var switched: [String] = []
    var how = "one batch"
    while !names.isEmpty {
      do {
        try StaticKeys.set(names: names, enabled: enabled)
        switched += names
        break
      } catch {
        if let culprit = error.key, names.contains(culprit) {
          outcome.refused[culprit] = error.description
          names.removeAll { $0 == culprit }
          continue
        }
        how = "key by key, after a refused batch"
        for name in names {
          do {
            try StaticKeys.set(names: [name], enabled: enabled)
            switched.append(name)
          } catch {
            outcome.refused[name] = error.description
          }
        }
        break
      }
    }
    for n in switched { state.lastLeft[n] = enabled }
    if !switched.isEmpty {
      logger.notice("configuration: \(enabled ? "enabled" : "disabled") \(switched.joined(separator: " ")) (\(how))")
    }
    return switched
  }

}
