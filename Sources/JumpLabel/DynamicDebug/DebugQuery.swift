/// A dynamic-debug query, the kernel's grammar
/// (`Documentation/admin-guide/dynamic-debug-howto.rst`):
///
/// ```
/// query   ::= command ((';' | newline) command)*     '#' starts a comment
/// command ::= match-spec* flags
/// match-spec ::= 'module' NAME | 'file' PATH[:LINES | :FUNC] | 'func' NAME
///              | 'line' LINES | 'format' TEXT
/// LINES   ::= N | N-M | -N | N-
/// flags   ::= ('+' | '-' | '=') [ptmfsl_]+
/// ```
///
/// Match specs are ANDed; no spec matches every statement. `*` and `?`
/// are wildcards in `module`, `file` and `func`; `format` is a substring
/// (quote it, `"..."` or `'...'`, or write a space as `\040`).
public struct DebugQuery: Sendable, Hashable {
  /// The commands, in order.
  public let commands: [Command]

  /// One command: what it matches, and what it does to the flags.
  public struct Command: Sendable, Hashable {
    public var module: String?
    public var file: String?
    public var function: String?
    public var lines: ClosedRange<Int>?
    public var format: String?
    public var operation: Operation
    public var flags: DebugFlags

    /// `+`, `-` or `=`.
    public enum Operation: Character, Sendable, Hashable { case add = "+", remove = "-", set = "=" }

    /// True if the command matches `s`.
    public func matches(_ s: DebugStatement) -> Bool {
      if let m = module, !Wildcard.matches(m, s.module) { return false }
      if let f = file {
        // The full `#fileID`, the file part, or its last path component.
        let base = s.fileName.split(separator: "/").last.map(String.init) ?? s.fileName
        if !(Wildcard.matches(f, s.fileID) || Wildcard.matches(f, s.fileName) || Wildcard.matches(f, base)) { return false }
      }
      if let f = function {
        // `lookup` matches `lookup(_:)`: the kernel's names have no labels.
        let bare = s.function.split(separator: "(", maxSplits: 1).first.map(String.init) ?? s.function
        if !(Wildcard.matches(f, s.function) || Wildcard.matches(f, bare)) { return false }
      }
      if let r = lines, !r.contains(s.line) { return false }
      if let f = format, !s.format.contains(f) { return false }
      return true
    }

    /// The flags of a statement after this command.
    public func apply(to old: DebugFlags) -> DebugFlags {
      switch operation {
      case .add: return old.union(flags)
      case .remove: return old.subtracting(flags)
      case .set: return flags
      }
    }
  }

  /// Parses `text`. Throws the first error, with its position (a character
  /// offset into `text`); nothing is applied by parsing.
  public init(_ text: String) throws(DebugQueryError) {
    var commands: [Command] = []
    for line in Self.commandTexts(text) {
      let words = try Self.words(line.text, at: line.offset)
      if words.isEmpty { continue }
      commands.append(try Self.command(words, end: line.offset + line.text.count))
    }
    guard !commands.isEmpty else { throw DebugQueryError(position: 0, reason: "empty query: no command") }
    self.commands = commands
  }

  // MARK: - Parsing

  private struct Word { let text: String; let offset: Int }

  /// The commands' texts (split at `;` and newlines, comments removed),
  /// each with its offset in the query. A `;` or `#` inside quotes is text.
  private static func commandTexts(_ text: String) -> [(text: String, offset: Int)] {
    var out: [(text: String, offset: Int)] = []
    var current = "", start = 0, quote: Character? = nil, comment = false
    for (i, c) in text.enumerated() {
      if comment {
        if c == "\n" { comment = false; out.append((current, start)); current = ""; start = i + 1 }
        continue
      }
      if let q = quote {
        current.append(c)
        if c == q { quote = nil }
        continue
      }
      switch c {
      case "\"", "'": quote = c; current.append(c)
      case "#": comment = true
      case ";", "\n": out.append((current, start)); current = ""; start = i + 1
      default: current.append(c)
      }
    }
    out.append((current, start))
    return out
  }

  /// Splits one command into words; quotes group, `\040` is a space.
  private static func words(_ text: String, at base: Int) throws(DebugQueryError) -> [Word] {
    var out: [Word] = []
    var current: String? = nil, start = 0, quote: (Character, Int)? = nil
    let chars = Array(text)
    var i = 0
    while i < chars.count {
      let c = chars[i]
      if let (q, _) = quote {
        if c == q { quote = nil } else { current!.append(c) }
      } else if c == " " || c == "\t" || c == "\r" {
        if let w = current { out.append(Word(text: w, offset: start)); current = nil }
      } else if c == "\"" || c == "'" {
        if current == nil { current = ""; start = base + i }
        quote = (c, base + i)
      } else if c == "\\" && i + 3 < chars.count && String(chars[(i + 1)...(i + 3)]) == "040" {
        if current == nil { current = ""; start = base + i }
        current!.append(" ")
        i += 3
      } else {
        if current == nil { current = ""; start = base + i }
        current!.append(c)
      }
      i += 1
    }
    if let (_, at) = quote { throw DebugQueryError(position: at, reason: "unterminated quote") }
    if let w = current { out.append(Word(text: w, offset: start)) }
    return out
  }

  /// One command from its words: pairs of keyword and value, then flags.
  private static func command(_ words: [Word], end: Int) throws(DebugQueryError) -> Command {
    var c = Command(operation: .add, flags: [])
    guard let last = words.last, let op = last.text.first.flatMap({ Command.Operation(rawValue: $0) }) else {
      let at = words.last?.offset ?? end
      throw DebugQueryError(position: at, reason: "a command ends with flags (+p, -p, =pt...), found '\(words.last?.text ?? "")'")
    }
    c.operation = op
    var flags: DebugFlags = []
    var sawNone = false
    for (k, ch) in last.text.dropFirst().enumerated() {
      if ch == "_" { sawNone = true; continue }
      guard let f = DebugFlags.letters.first(where: { $0.0 == ch })?.1 else {
        throw DebugQueryError(position: last.offset + 1 + k, reason: "unknown flag '\(ch)' (flags are p t m f s l _)")
      }
      flags.insert(f)
    }
    if flags.isEmpty && !sawNone { throw DebugQueryError(position: last.offset, reason: "no flag after '\(op.rawValue)'") }
    c.flags = flags
    let specs = words.dropLast()
    var i = specs.startIndex
    var seen: Set<String> = []
    while i < specs.endIndex {
      let key = specs[i]
      guard i + 1 < specs.endIndex else {
        throw DebugQueryError(position: key.offset, reason: "'\(key.text)' needs a value")
      }
      let value = specs[i + 1]
      guard seen.insert(key.text).inserted else {
        throw DebugQueryError(position: key.offset, reason: "'\(key.text)' given twice in one command")
      }
      switch key.text {
      case "module": c.module = value.text
      case "func": c.function = value.text
      case "format": c.format = value.text
      case "line": c.lines = try lineRange(value.text, at: value.offset)
      case "file":
        // `file x.swift:10-20` or `file x.swift:func`: the part after the
        // last ':' is a line range if it reads as one, else a function.
        if let colon = value.text.lastIndex(of: ":") {
          let rest = String(value.text[value.text.index(after: colon)...])
          c.file = String(value.text[..<colon])
          if rest.first.map({ $0.isNumber || $0 == "-" }) ?? false {
            guard !seen.contains("line") else { throw DebugQueryError(position: value.offset, reason: "a line range given twice") }
            seen.insert("line")
            c.lines = try lineRange(rest, at: value.offset + value.text.distance(from: value.text.startIndex, to: colon) + 1)
          } else if !rest.isEmpty {
            guard !seen.contains("func") else { throw DebugQueryError(position: value.offset, reason: "a function given twice") }
            seen.insert("func")
            c.function = rest
          }
        } else {
          c.file = value.text
        }
      case "class":
        throw DebugQueryError(position: key.offset, reason: "'class' is not supported (statements have no classes)")
      default:
        throw DebugQueryError(position: key.offset, reason: "unknown keyword '\(key.text)' (module, file, func, line, format)")
      }
      i += 2
    }
    return c
  }

  /// `N`, `N-M`, `-N` (1 to N), `N-` (N to the end).
  private static func lineRange(_ text: String, at offset: Int) throws(DebugQueryError) -> ClosedRange<Int> {
    let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
    func number(_ s: String, _ dflt: Int) throws(DebugQueryError) -> Int {
      if s.isEmpty { return dflt }
      guard let n = Int(s), n >= 0 else { throw DebugQueryError(position: offset, reason: "bad line number '\(s)'") }
      return n
    }
    if parts.count == 1 {
      let n = try number(parts[0], -1)
      guard n >= 0 else { throw DebugQueryError(position: offset, reason: "empty line number") }
      return n...n
    }
    guard !(parts[0].isEmpty && parts[1].isEmpty) else { throw DebugQueryError(position: offset, reason: "empty line range '-'") }
    let lo = try number(parts[0], 0), hi = try number(parts[1], Int.max)
    guard lo <= hi else { throw DebugQueryError(position: offset, reason: "line range \(lo)-\(hi) is empty (first > last)") }
    return lo...hi
  }
}

/// A query that cannot be parsed: where and why. Nothing was changed.
public struct DebugQueryError: Error, Sendable, Hashable, CustomStringConvertible {
  /// Offset of the offending character in the query (0-based).
  public let position: Int
  /// What is wrong there.
  public let reason: String

  public init(position: Int, reason: String) {
    self.position = position
    self.reason = reason
  }

  public var description: String { "syntax error at \(position): \(reason)" }
}

/// `*` and `?` wildcards, as the kernel matches them.
enum Wildcard {
  static func matches(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern.unicodeScalars), t = Array(text.unicodeScalars)
    // Iterative glob with one backtrack point: linear enough for names.
    var pi = 0, ti = 0, star = -1, mark = 0
    while ti < t.count {
      if pi < p.count && (p[pi] == "?" || p[pi] == t[ti]) {
        pi += 1; ti += 1
      } else if pi < p.count && p[pi] == "*" {
        star = pi; mark = ti; pi += 1
      } else if star >= 0 {
        pi = star + 1; mark += 1; ti = mark
      } else {
        return false
      }
    }
    while pi < p.count && p[pi] == "*" { pi += 1 }
    return pi == p.count
  }
}
