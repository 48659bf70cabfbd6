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
      lines = try DebugControlCommand.run(command)
    } catch {
      let message = ControlText.cut(error.description, to: 4 * ControlLimits.quotedBytes)
      if changes { audit.write("debug change by \(c.peer) refused: \(ControlText.quoted([command])): \(message)") }
      return c.send(.error(code: .failed, message: message))
    }
    if changes { audit.write("debug change by \(c.peer): \(ControlText.quoted([command])): \(lines.joined(separator: "; "))") }
    sendInParts(lines, size: { $0.utf8.count + 2 }, to: c) { .debugReplyPart(last: $0, lines: $1) }
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
