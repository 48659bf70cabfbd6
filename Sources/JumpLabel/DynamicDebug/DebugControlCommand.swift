/// The text commands `jumplabel ctl debug` and `jumplabel ctl log` send
/// through the control server, answered here so that the server only
/// carries text (one request, one reply of lines):
///
/// ```
/// query QUERY              apply a query; one line: matched=M changed=C on=N off=F
/// list [SPECS]             the control file, one statement per line
/// list-json [SPECS]        the same, one JSON object per line
/// log module NAME LEVEL    live level of a module (LEVEL "default": unset)
/// log label NAME LEVEL     live level of a label (LEVEL "default": unset;
///                          NAME is everything up to the last word, spaces too)
/// log default LEVEL        the level of modules without one
/// log show                 the levels set: "default L", "module M L", "label L L"
/// ```
///
/// Bad input throws with a reason and changes nothing.
public enum DebugControlCommand {
  /// Runs `command`; the reply's lines.
  public static func run(_ command: String) throws(DynamicDebugError) -> [String] {
    let (verb, rest) = split(command)
    switch verb {
    case "query":
      let r = try DynamicDebug.apply(rest)
      return ["matched=\(r.matched) changed=\(r.changed) on=\(r.enabled) off=\(r.disabled)"]
    case "list":
      do { return try DynamicDebug.statements(matching: rest).map(\.description) } catch { throw .syntax(error) }
    case "list-json":
      do { return try DynamicDebug.statements(matching: rest).map(json) } catch { throw .syntax(error) }
    case "log":
      return try log(rest)
    default:
      throw usage("unknown command '\(verb)' (query, list, list-json, log)")
    }
  }

  private static func log(_ text: String) throws(DynamicDebugError) -> [String] {
    let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
    func level(_ s: String) throws(DynamicDebugError) -> Int? {
      if s == "default" { return nil }
      guard let r = LiveLogLevels.rank(s) else {
        throw usage("unknown level '\(s)' (\(LiveLogLevels.names.joined(separator: ", ")), or default)")
      }
      return r
    }
    func reply(_ r: DynamicDebug.Result) -> [String] { ["changed=\(r.changed) on=\(r.enabled) off=\(r.disabled)"] }
    // `module NAME LEVEL`, `label NAME LEVEL`: the level is the last word
    // and the name everything between (a swift-log label may hold spaces).
    if let kind = words.first, kind == "module" || kind == "label", words.count >= 3 {
      let t = text.drop { $0 == " " }.dropFirst(kind.count).drop { $0 == " " }
      var name = t[..<(t.lastIndex(of: " ") ?? t.startIndex)]
      while name.last == " " { name = name.dropLast() }
      let rank = try level(words[words.count - 1])
      return reply(kind == "module"
        ? try LiveLogLevels.set(rank: rank, module: String(name))
        : try LiveLogLevels.set(rank: rank, label: String(name)))
    }
    switch (words.first, words.count) {
    case ("default", 2):
      guard let r = try level(words[1]) else { throw usage("the default level needs a level") }
      return reply(try LiveLogLevels.setDefault(rank: r))
    case ("show", 1):
      let l = LiveLogLevels.levels()
      func name(_ r: Int) -> String { LiveLogLevels.names[max(0, min(r, 8) - 1)] }
      return ["default \(name(l.defaultRank))"] + l.modules.sorted { $0.key < $1.key }.map { "module \($0.key) \(name($0.value))" }
        + l.labels.sorted { $0.key < $1.key }.map { "label \($0.key) \(name($0.value))" }
    default:
      throw usage("log takes: module NAME LEVEL | label NAME LEVEL | default LEVEL | show")
    }
  }

  private static func usage(_ reason: String) -> DynamicDebugError {
    .syntax(DebugQueryError(position: 0, reason: reason))
  }

  private static func split(_ s: String) -> (String, String) {
    let t = s.drop { $0 == " " }
    guard let space = t.firstIndex(of: " ") else { return (String(t), "") }
    return (String(t[..<space]), String(t[t.index(after: space)...]))
  }

  /// One statement as a JSON object.
  static func json(_ e: DynamicDebug.Entry) -> String {
    func q(_ s: String) -> String {
      var out = "\""
      for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default:
          if u.value < 0x20 { out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16) } else { out.unicodeScalars.append(u) }
        }
      }
      return out + "\""
    }
    let s = e.statement
    return "{\"file\":\(q(s.fileID)),\"line\":\(s.line),\"column\":\(s.column),\"module\":\(q(s.module)),\"function\":\(q(s.function)),"
      + "\"flags\":\(q(e.flags.description)),\"format\":\(q(s.format)),\"level\":\(s.level),\"sites\":\(e.sites),\"key\":\(q(e.keyName))}"
  }
}
