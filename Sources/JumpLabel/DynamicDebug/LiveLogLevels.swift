import Glibc
import Synchronization

/// Live log levels for logging call sites (JumpLabelLogging's
/// `logger.live.debug(...)`): each is a debug statement with a level, and
/// is on iff its level is at or above its module's threshold, or any
/// label's (a call site cannot know its logger's label before it runs, so a
/// label's lower level turns on the sites of that level everywhere, and the
/// label is checked when a statement runs).
///
/// Kept here, in the core, so that `jumplabel ctl log` works in any
/// program; levels are ranks: 1 trace, 2 debug, 3 info, 4 notice, 5
/// warning, 6 error, 7 critical, 8 none.
///
/// Start-up: `JUMPLABEL_LOG='info,Cache=debug,label:com.example.db=trace'`
/// (a bare level is the default for every module).
public enum LiveLogLevels {
  /// The level names, by rank - 1.
  public static let names = ["trace", "debug", "info", "notice", "warning", "error", "critical", "none"]

  /// The rank of a level name (`"debug"` is 2), nil if unknown.
  public static func rank(_ name: String) -> Int? {
    if name == "off" { return 8 }
    return names.firstIndex(of: name.lowercased()).map { $0 + 1 }
  }

  /// A label's live level, read by the wrapper handler at every log call
  /// (one atomic load). 0: not set.
  public final class LabelLevel: Sendable {
    public let rank = Atomic<Int>(0)
    init() {}
  }

  struct State {
    var defaultRank = 3
    var modules: [String: Int] = [:]
    var labels: [String: LabelLevel] = [:]

    /// The lowest level a site of `module` must have to be on.
    func threshold(module: String) -> Int {
      var t = modules[module] ?? defaultRank
      for l in labels.values {
        let r = l.rank.load(ordering: .relaxed)
        if r > 0 { t = min(t, r) }
      }
      return t
    }
  }

  private static let state: Mutex<State> = Mutex(startupState())
  /// Some label has a live level: then a call site may be on for a label
  /// only, and other loggers must check their module's level when it runs.
  private static let labelsSet = Atomic<Bool>(false)

  /// `JUMPLABEL_LOG`, read once. Bad entries are reported on stderr and
  /// skipped.
  private static func startupState() -> State {
    var s = State()
    guard let raw = getenv("JUMPLABEL_LOG") else { return s }
    for item in String(cString: raw).split(separator: ",").map({ $0.trimmingCharacters() }) where !item.isEmpty {
      let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
      if kv.count == 1, let r = rank(kv[0]) { s.defaultRank = r; continue }
      if kv.count == 2, let r = rank(kv[1]) {
        if kv[0].hasPrefix("label:") {
          let l = LabelLevel()
          l.rank.store(r, ordering: .relaxed)
          s.labels[String(kv[0].dropFirst(6))] = l
          labelsSet.store(true, ordering: .relaxed)
        } else {
          s.modules[kv[0]] = r
        }
        continue
      }
      let line = "JumpLabel: JUMPLABEL_LOG: '\(item)' ignored (LEVEL, MODULE=LEVEL or label:LABEL=LEVEL; levels \(names.joined(separator: " ")))\n"
      _ = line.withCString { write(2, $0, strlen($0)) }
    }
    return s
  }

  /// The cell of `label` (created unset on first use; never freed).
  public static func level(ofLabel label: String) -> LabelLevel {
    state.withLock { s in
      if let l = s.labels[label] { return l }
      let l = LabelLevel()
      s.labels[label] = l
      return l
    }
  }

  /// The rank a site of `module` needs to be on now.
  public static func threshold(module: String) -> Int { state.withLock { $0.threshold(module: module) } }

  /// Whether a statement with this key name starts on (a logging call
  /// site: level > 0), when its key is first declared. Nil for a plain
  /// debug statement.
  static func startsOn(_ s: DebugStatement) -> Bool? {
    guard s.level > 0 else { return nil }
    return s.level >= threshold(module: s.module)
  }

  /// Sets the level of `module` (nil: back to the default) and switches
  /// every logging call site that changes, in one batch per direction (a
  /// level only moves one way, so one batch).
  @discardableResult
  public static func set(rank: Int?, module: String) throws(DynamicDebugError) -> DynamicDebug.Result {
    indexFirst()
    state.withLock { $0.modules[module] = rank }
    return try resync()
  }

  /// Sets the level of loggers labelled `label` (nil: unset), for the
  /// wrapper handler and for logging call sites, then switches the call
  /// sites that change.
  @discardableResult
  public static func set(rank: Int?, label: String) throws(DynamicDebugError) -> DynamicDebug.Result {
    indexFirst()
    level(ofLabel: label).rank.store(rank ?? 0, ordering: .relaxed)
    if rank != nil { labelsSet.store(true, ordering: .relaxed) }
    return try resync()
  }

  /// Sets the default level of modules without one.
  @discardableResult
  public static func setDefault(rank: Int) throws(DynamicDebugError) -> DynamicDebug.Result {
    indexFirst()
    state.withLock { $0.defaultRank = rank }
    return try resync()
  }

  /// The levels set now: the default, per module, per label.
  public static func levels() -> (defaultRank: Int, modules: [String: Int], labels: [String: Int]) {
    state.withLock { s in
      (s.defaultRank, s.modules, s.labels.compactMapValues { l in
        let r = l.rank.load(ordering: .relaxed)
        return r > 0 ? r : nil
      })
    }
  }

  /// True once some label has had a live level: only then must the
  /// enabled path of a logging call site look its logger's label up.
  public static var _labelsHaveLevels: Bool { labelsSet.load(ordering: .relaxed) }

  /// The enabled path of a logging call site at `rank` asks whether the
  /// logger running it prints: a logger whose label has a live level
  /// (`labelRank` > 0) follows it; any other follows its module's level,
  /// unless a dynamic-debug query switched this call site on by itself.
  /// Lock-free while no label has a live level.
  public static func _prints(
    rank: Int, labelRank: Int, file: StaticString, function: StaticString, line: UInt, column: UInt
  ) -> Bool {
    if labelRank > 0 { return rank >= labelRank }
    // Without label levels, only module levels and queries turn sites on.
    if !labelsSet.load(ordering: .relaxed) { return true }
    let s = DebugStatement(
      fileID: file.description, line: Int(line), column: Int(column), function: function.description, format: "", level: rank)
    if rank >= state.withLock({ $0.modules[s.module] ?? $0.defaultRank }) { return true }
    return DebugFlagState.isExplicit(s.keyName)
  }

  /// Indexes the loaded images before a level changes: otherwise the
  /// first index would already apply the new level, and the change would
  /// report nothing switched.
  private static func indexFirst() { _ = StaticKeys.images() }

  /// Makes every logging call site follow the levels: those that must
  /// change, in one batch each way.
  static func resync() throws(DynamicDebugError) -> DynamicDebug.Result {
    var result = DynamicDebug.Result()
    var on: [String] = [], off: [String] = []
    for e in DynamicDebug.statements() where e.statement.level > 0 {
      // A call site a query switched on stays on until a query says off.
      let want = e.statement.level >= threshold(module: e.statement.module) || DebugFlagState.isExplicit(e.keyName)
      result.matched += 1
      if want && !e.flags.contains(.print) { on.append(e.keyName) }
      if !want && e.flags.contains(.print) { off.append(e.keyName) }
    }
    do {
      if !on.isEmpty { try StaticKeys.set(names: on, enabled: true) }
      if !off.isEmpty { try StaticKeys.set(names: off, enabled: false) }
    } catch {
      throw .control(error)
    }
    result.enabled = on.count
    result.disabled = off.count
    result.changed = on.count + off.count
    return result
  }
}

extension StringProtocol {
  fileprivate func trimmingCharacters() -> String {
    String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
  }
}
