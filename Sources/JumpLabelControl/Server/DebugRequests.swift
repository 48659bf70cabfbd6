import JumpLabel

/// The `debug` request: dynamic-debug queries and listings, live log
/// levels (`jumplabel ctl debug`, `jumplabel ctl log`). The text is
/// answered by JumpLabel's `DebugControlCommand`; this checks who may
/// change what, writes the audit log, and sends the lines in parts.
extension ControlServer {
  func debugRequest(_ command: String, from c: Connection) {
    let words = command.split(separator: " ", maxSplits: 2).map(String.init)
    let changes = words.first == "query" || (words.first == "log" && words.count > 1 && words[1] != "show")
    // Checked before anything is parsed: a size bound, and no control
    // characters but the newlines that separate a query's commands.
    if let bad = Self.debugCommandProblem(command) {
      audit.write("refused a debug command from \(c.peer): \(bad)")
      return c.send(.error(code: .malformed, message: bad))
    }
    if changes && options.readOnly {
      audit.write("refused a debug change from \(c.peer): the control server is read-only")
      return c.send(.error(code: .refused, message: "this process's control server is read-only"))
    }
    let lines: [String]
    do {
      if words.first == "query" {
        lines = try query(String(command.dropFirst("query".count)), from: c)
      } else {
        lines = try DebugControlCommand.run(command)
      }
    } catch {
      let message = ControlText.cut(error.description, to: 4 * ControlLimits.quotedBytes)
      if changes { audit.write("debug change by \(c.peer) refused: \(ControlText.quoted([command])): \(message)") }
      return c.send(.error(code: .failed, message: message))
    }
    if changes { audit.write("debug change by \(c.peer): \(ControlText.quoted([command])): \(lines.joined(separator: "; "))") }
    sendInParts(lines, size: { $0.utf8.count + 2 }, to: c) { .debugReplyPart(last: $0, lines: $1) }
  }

  /// `query [--ttl MS] [--hold] QUERY`: applies the query; with a lease,
  /// the statements it changed get their flags back (`p` and decorations,
  /// unless changed again since: DebugLeases.swift) when the time is up or
  /// the connection closes.
  private func query(_ text: String, from c: Connection) throws(DynamicDebugError) -> [String] {
    var rest = Substring(text).drop { $0 == " " }
    var ttl: UInt64 = 0, hold = false
    while rest.hasPrefix("--") {
      let word = rest.prefix { $0 != " " }
      rest = rest.dropFirst(word.count).drop { $0 == " " }
      if word == "--hold" { hold = true; continue }
      guard word == "--ttl", let n = UInt64(rest.prefix { $0 != " " }), n > 0, n < UInt64(UInt32.max) else {
        throw .syntax(DebugQueryError(position: 0, reason: "lease options are --ttl MILLISECONDS and --hold"))
      }
      rest = rest.drop { $0 != " " }.drop { $0 == " " }
      ttl = n
    }
    let r = try DynamicDebug.apply(String(rest))
    if ttl > 0 || hold {
      let due = ttl > 0 ? monotonic() + ttl * 1_000_000 : nil
      let connection = hold ? c.fd : nil
      let changed = r.flagChanges.filter { $0.value.before != $0.value.after }
      if !changed.isEmpty {
        reverts.append(Revert(names: changed.keys.sorted(), to: false, due: due, connection: connection, peer: c.peer, debugLease: changed))
      }
    }
    return ["matched=\(r.matched) changed=\(r.changed) on=\(r.enabled) off=\(r.disabled)"]
  }

  /// The largest debug command accepted, in bytes.
  static let maxDebugCommandBytes = 16384

  static func debugCommandProblem(_ command: String) -> String? {
    let n = command.utf8.count
    if n > maxDebugCommandBytes { return "debug command is \(n) bytes long; at most \(maxDebugCommandBytes) are allowed" }
    if let bad = command.unicodeScalars.first(where: { $0 != "\n" && ControlText.isForbidden($0) }) {
      return "debug command \(ControlText.quoted([command])) holds the control character U+\(String(bad.value, radix: 16, uppercase: true))"
    }
    return nil
  }
}
