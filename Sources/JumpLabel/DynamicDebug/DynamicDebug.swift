/// The in-process API of dynamic debug: the statement table, queries.
/// `jumplabel ctl debug` calls these through the control server.
extension DynamicDebug {
  /// One statement as the control file lists it.
  public struct Entry: Sendable, Hashable, CustomStringConvertible {
    /// The statement.
    public let statement: DebugStatement
    /// Its flags (`p` is its key's state).
    public let flags: DebugFlags
    /// Its sites in loaded images (copies of an inlined statement are
    /// several; 0 for a statement known only from unoptimised code).
    public let sites: Int
    /// Its key's name.
    public var keyName: String { statement.keyName }

    /// `file:line [module]function =flags "format"`, the kernel's line.
    public var description: String {
      "\(statement.fileID):\(statement.line) [\(statement.module)]\(statement.function) =\(flags) \"\(escaped(statement.format))\""
    }

    private func escaped(_ s: String) -> String {
      var out = ""
      for c in s {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default: out.append(c)
        }
      }
      return out
    }
  }

  /// What a query did.
  public struct Result: Sendable, Hashable, CustomStringConvertible {
    /// Statements matched by its commands (a statement matched by two
    /// commands counts twice, as the kernel counts).
    public var matched = 0
    /// Statements whose flags changed.
    public var changed = 0
    /// Statements switched on / off (their keys patched: one batch per
    /// command that switches any).
    public var enabled = 0, disabled = 0
    /// The keys of the statements switched on, and off.
    public var switchedOn: [String] = [], switchedOff: [String] = []
    /// Every statement whose flags changed, by key name: its flags before
    /// the first command that changed it and after the last
    /// (``restore(_:)`` puts them back: a `ctl debug --ttl/--hold` lease).
    /// Filled by ``apply(_:)-(String)``; live level changes leave it empty.
    public var flagChanges: [String: FlagChange] = [:]

    public init() {}

    public var description: String { "matched \(matched), changed \(changed) (\(enabled) on, \(disabled) off)" }
  }

  /// Every statement known in the process, in file and line order: from
  /// the tables of loaded images, and statements of unoptimised code that
  /// have run.
  public static func statements() -> [Entry] {
    var out: [Entry] = []
    for k in StaticKeys.list() {
      guard let s = DebugStatement(keyName: k.name), k.declared else { continue }
      var flags = DebugFlagState.flags(of: k.name)
      if k.state { flags.insert(.print) }
      out.append(Entry(statement: s, flags: flags, sites: k.sites))
    }
    return out.sorted { ($0.statement.fileID, $0.statement.line, $0.statement.column) < ($1.statement.fileID, $1.statement.line, $1.statement.column) }
  }

  /// The statements a query's match specs select (its flags are ignored;
  /// pass a query text such as `'module Cache'` without flags to
  /// ``statements(matching:)`` instead).
  public static func statements(matching query: DebugQuery) -> [Entry] {
    statements().filter { e in query.commands.contains { $0.matches(e.statement) } }
  }

  /// The statements matched by match specs alone (`"file Cache.swift"`);
  /// an empty text lists everything. Throws a syntax error.
  public static func statements(matching specs: String) throws(DebugQueryError) -> [Entry] {
    if specs.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\n" }) { return statements() }
    return statements(matching: try DebugQuery(specs + " +_"))
  }

  /// The control file: one line per statement.
  public static func controlFile(matching specs: String = "") throws(DebugQueryError) -> String {
    try statements(matching: specs).map { $0.description + "\n" }.joined()
  }

  /// Parses and applies a query. A syntax error throws before anything
  /// changes. Each command then switches every statement it turns on (or
  /// off) in one batch of patches, three syncs whatever the count; if that
  /// batch fails (a statement's key held by increments, a problem) the
  /// command changes nothing and the error is thrown, with the commands
  /// before it applied.
  @discardableResult
  public static func apply(_ text: String) throws(DynamicDebugError) -> Result {
    let query: DebugQuery
    do { query = try DebugQuery(text) } catch { throw .syntax(error) }
    return try apply(query)
  }

  /// Applies a parsed query (see ``apply(_:)-(String)``).
  @discardableResult
  public static func apply(_ query: DebugQuery) throws(DynamicDebugError) -> Result {
    var result = Result()
    for command in query.commands {
      // Read the table for each command: the one before may have changed it.
      let matched = statements().filter { command.matches($0.statement) }
      result.matched += matched.count
      var on: [String] = [], off: [String] = [], decorations: [String: DebugFlags] = [:]
      var changed: [String: FlagChange] = [:]
      for e in matched {
        let new = command.apply(to: e.flags)
        if new == e.flags { continue }
        result.changed += 1
        changed[e.keyName] = FlagChange(before: e.flags, after: new)
        if new.contains(.print) && !e.flags.contains(.print) { on.append(e.keyName) }
        if !new.contains(.print) && e.flags.contains(.print) { off.append(e.keyName) }
        if new.decorations != e.flags.decorations { decorations[e.keyName] = new }
      }
      // One command switches in one direction only (+ on, - off, = either
      // but never both: `=` with p turns on, without p turns off).
      do {
        if !on.isEmpty { try StaticKeys.set(names: on, enabled: true) }
        if !off.isEmpty { try StaticKeys.set(names: off, enabled: false) }
      } catch {
        throw .control(error)
      }
      DebugFlagState.set(decorations)
      DebugFlagState.noteExplicit(on: on.filter(Self.isLoggingSite), off: off.filter(Self.isLoggingSite))
      for (name, change) in changed {
        result.flagChanges[name] = FlagChange(before: result.flagChanges[name]?.before ?? change.before, after: change.after)
      }
      result.enabled += on.count
      result.disabled += off.count
      result.switchedOn += on
      result.switchedOff += off
    }
    return result
  }
}

extension DynamicDebug {
  static func isLoggingSite(_ name: String) -> Bool { (DebugStatement(keyName: name)?.level ?? 0) > 0 }
}

/// Why a query was not (fully) applied.
public enum DynamicDebugError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The query does not parse: nothing changed.
  case syntax(DebugQueryError)
  /// A command's batch was refused: that command changed nothing.
  case control(JumpLabelError)

  public var description: String {
    switch self {
    case let .syntax(e): return e.description
    case let .control(e): return e.description
    }
  }
}
