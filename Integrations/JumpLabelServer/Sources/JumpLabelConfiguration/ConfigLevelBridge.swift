public import Configuration
import JumpLabel
public import Logging
import Synchronization

/// Makes the process's debug statements and live log levels follow a
/// configuration, with the core's `DynamicDebug` and `LiveLogLevels` (the
/// same machinery as `jumplabel ctl debug` and `ctl log`):
///
/// - `jumplabel.dyndbg = "module Cache +p; file Net*.swift +pt"`: a
///   dynamic-debug query, applied when its text changes.
/// - `jumplabel.log.default = "info"`: the level of modules without one.
/// - `jumplabel.log.modules.<Module> = "debug"`: one module's level (for
///   the modules of the loaded images' statements, those given to
///   ``init(prefix:labels:modules:logger:)``, and any with a live level).
/// - `jumplabel.log.labels.<label> = "trace"`: the level of loggers with
///   that label (for the labels given to the initialiser, and any
///   label that already has a live level).
///
/// Levels are `trace` … `critical`, `none` (or `off`). A value that is not
/// a level, or a query that does not parse, is logged and changes nothing.
///
/// Who wins (README, "The configuration and ctl"), as for keys:
/// - A level changes only from the value the configuration's own last
///   change left. If an operator changed it since (`ctl log`), theirs
///   stands and is reported as overridden until it is back at the
///   configuration's value.
/// - A level that disappears from the configuration goes back (a module's
///   or label's to unset, the default to what it was before the
///   configuration first set it), unless someone else changed it since.
/// - The query applies when its text changes, never at a recheck: what an
///   operator's `ctl debug` does afterwards stands until the configuration's
///   query changes again. A changed query first undoes its predecessor:
///   the statements the previous query switched on, and that are still on,
///   are switched off (`-p`, one batch); then the new query applies (one
///   batch per command). Statements it did not switch on (on by an
///   operator, or by `JUMPLABEL_DYNDBG`) are left alone.
public final class ConfigLevelBridge: Sendable {
  /// What one ``apply(_:)`` did.
  public struct Outcome: Sendable, Equatable, CustomStringConvertible {
    /// The query applied (nil: the query did not change).
    public var query: String?
    /// Statements switched off to undo the previous query.
    public var undone: [String] = []
    /// Statements the new query switched on.
    public var switchedOn: [String] = []
    /// Levels set, as `module X`, `label Y`, `default`, with the new level.
    public var levels: [String: String] = [:]
    /// Levels left alone because someone else changed them since.
    public var overridden: [String] = []
    /// Values refused (bad level, bad query, runtime refusal), with why.
    public var refused: [String: String] = [:]

    /// One line for logs and test messages.
    public var description: String {
      "query \(query ?? "unchanged"), undone \(undone.count), on \(switchedOn.count), levels \(levels.sorted { $0.key < $1.key }), overridden \(overridden), refused \(refused.keys.sorted())"
    }
  }

  /// The configuration key of the query; levels are under `"\(prefix).log"`.
  public let prefix: String
  let labels: [String]
  let modules: [String]
  let logger: Logger
  let state = Mutex(State())

  enum Target: Hashable, CustomStringConvertible {
    case defaultLevel, module(String), label(String)
    var description: String {
      switch self {
      case .defaultLevel: "default"
      case .module(let m): "module \(m)"
      case .label(let l): "label \(l)"
      }
    }
  }

  struct State {
    /// The query text applied last (nil: none yet, or none configured).
    var query: String?
    /// The statements (key names) that query switched on.
    var ours: [String] = []
    /// The rank each level was left at by the configuration (nil inside:
    /// left unset); absent: not the configuration's.
    var lastLeft: [Target: Int?] = [:]
    /// The default level before the configuration first set it.
    var originalDefault: Int?
    var overridden: Set<Target> = []
    var refused: Set<String> = []
  }

  /// A bridge reading `"\(prefix).dyndbg"` and `"\(prefix).log.*"`.
  /// `labels`: the logger labels whose `jumplabel.log.labels.<label>` is
  /// looked up (a configuration cannot be listed, so name them);
  /// `modules`: modules looked up besides those that have statements.
  public init(
    prefix: String = "jumplabel", labels: [String] = [], modules: [String] = [],
    logger: Logger = Logger(label: "jumplabel.configuration")
  ) {
    self.prefix = prefix
    self.labels = labels
    self.modules = modules
    self.logger = logger
  }

  /// Brings the query and the levels in line with `snapshot`, under the
  /// rules above. Checks are serialised.
  @discardableResult
  public func apply(_ snapshot: ConfigSnapshotReader) -> Outcome {
    state.withLock { state in
      var outcome = Outcome()
      applyQuery(snapshot.string(forKey: ConfigKey("\(prefix).dyndbg")), &state, &outcome)
      applyLevels(snapshot, &state, &outcome)
      for (what, why) in outcome.refused.sorted(by: { $0.key < $1.key }) where !state.refused.contains(what) {
        logger.error("configuration: \(what) not applied: \(why)")
      }
      state.refused = Set(outcome.refused.keys)
      return outcome
    }
  }

  /// True while a level is overridden (rechecked so that the configuration
  /// applies again once the other change is undone).
  var needsRecheck: Bool { state.withLock { !$0.overridden.isEmpty } }

  private func applyQuery(_ configured: String?, _ state: inout State, _ outcome: inout Outcome) {
    let text = configured?.trimmingSpaces ?? ""
    guard text != (state.query ?? "") else { return }
    // Parse first: a bad query changes nothing, not even the undo.
    let query: DebugQuery?
    do { query = text.isEmpty ? nil : try DebugQuery(text) } catch {
      outcome.refused["\(prefix).dyndbg"] = "\(error)"
      return
    }
    outcome.query = text
    // Undo: the previous query's statements that are still on.
    let on = Set(DynamicDebug.statements().filter { $0.flags.contains(.print) }.map(\.keyName))
    let undo = state.ours.filter(on.contains).compactMap(DebugStatement.init(keyName:))
    if !undo.isEmpty {
      let commands = undo.map { "file '\($0.fileID)' line \($0.line) -p" }.joined(separator: "; ")
      do { outcome.undone = try DynamicDebug.apply(commands).switchedOff } catch {
        outcome.refused["\(prefix).dyndbg (undo)"] = "\(error)"
      }
    }
    state.ours = []
    state.query = text
    guard let query else {
      logger.notice("configuration: dyndbg query removed (\(outcome.undone.count) statements off)")
      return
    }
    do {
      let result = try DynamicDebug.apply(query)
      state.ours = result.switchedOn
      outcome.switchedOn = result.switchedOn
      logger.notice("configuration: dyndbg '\(text)': \(result) (\(outcome.undone.count) of the previous query's off first)")
    } catch {
      outcome.refused["\(prefix).dyndbg"] = "\(error)"
    }
  }

  private func applyLevels(_ snapshot: ConfigSnapshotReader, _ state: inout State, _ outcome: inout Outcome) {
    let now = LiveLogLevels.levels()
    var targets: Set<Target> = [.defaultLevel]
    for e in DynamicDebug.statements() { targets.insert(.module(e.statement.module)) }
    for m in modules + Array(now.modules.keys) { targets.insert(.module(m)) }
    for l in labels + Array(now.labels.keys) { targets.insert(.label(l)) }
    for t in state.lastLeft.keys { targets.insert(t) }
    var overriddenNow: Set<Target> = []
    for target in targets.sorted(by: { $0.description < $1.description }) {
      let key: String
      let current: Int?
      switch target {
      case .defaultLevel: key = "\(prefix).log.default"; current = now.defaultRank
      case .module(let m): key = "\(prefix).log.modules.\(m)"; current = now.modules[m]
      case .label(let l): key = "\(prefix).log.labels.\(l)"; current = now.labels[l]
      }
      var configured: Int?
      if let text = snapshot.string(forKey: ConfigKey(key)) {
        configured = LiveLogLevels.rank(text.trimmingSpaces)
        if configured == nil {
          // A bad value changes nothing, not even a give-back.
          outcome.refused[key] = "'\(text)' is not a level (\(LiveLogLevels.names.joined(separator: " ")))"
          if let stillOverridden = state.overridden.first(where: { $0 == target }) { overriddenNow.insert(stillOverridden) }
          continue
        }
      }
      let last = state.lastLeft[target]
      if configured == nil && last == nil { continue }
      if let last, current != last {
        // Someone else (ctl log) changed it since: theirs stands.
        if configured == nil { state.lastLeft[target] = nil } else { overriddenNow.insert(target) }
        continue
      }
      if target == .defaultLevel && state.originalDefault == nil { state.originalDefault = now.defaultRank }
      let want: Int? = configured ?? (target == .defaultLevel ? state.originalDefault : nil)
      if current != want {
        do {
          switch target {
          case .defaultLevel: try LiveLogLevels.setDefault(rank: want ?? 3)
          case .module(let m): try LiveLogLevels.set(rank: want, module: m)
          case .label(let l): try LiveLogLevels.set(rank: want, label: l)
          }
          outcome.levels[target.description] = want.map { LiveLogLevels.names[$0 - 1] } ?? "unset"
        } catch {
          outcome.refused[key] = "\(error)"
          continue
        }
      }
      state.lastLeft[target] = configured == nil ? nil : .some(want)
    }
    outcome.overridden = overriddenNow.map(\.description).sorted()
    for t in overriddenNow.subtracting(state.overridden) {
      logger.notice("configuration: log level of \(t) left as it is: changed by someone else (ctl log) since the configuration set it")
    }
    for t in state.overridden.subtracting(overriddenNow) {
      logger.notice("configuration: log level of \(t) follows the configuration again")
    }
    state.overridden = overriddenNow
    if !outcome.levels.isEmpty {
      logger.notice("configuration: log levels \(outcome.levels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
    }
  }
}

extension String {
  fileprivate var trimmingSpaces: String {
    String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
  }
}
