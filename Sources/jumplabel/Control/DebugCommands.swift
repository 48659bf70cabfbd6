import ArgumentParser
import Foundation
import JumpLabelControl

/// `jumplabel ctl debug`: the process's dynamic-debug control file.
struct DebugCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "debug",
    abstract: "List or switch the debug statements of a process (the kernel's dynamic-debug grammar).",
    discussion: """
      A query: match specs (module NAME, file PATH[:LINES|:FUNC], func NAME, line N|N-M|-N|N-, format TEXT; \
      * and ? wildcards), ANDed, then flags (+ - = with p t m f s l _). Several commands are separated by ';' \
      or newlines; '#' starts a comment. Each command switches its statements in one batch. A syntax error \
      changes nothing. With --list, the query's match specs select what is listed \
      (file:line [module]function =flags "format").
      """)

  @OptionGroup var target: TargetOptions

  @Flag(help: "List the statements (those the match specs select, or all).")
  var list = false

  @Flag(help: "Print JSON.")
  var json = false

  @Option(help: "Give the statements back their flags (p and decorations) after this long (30s, 500ms, 2m); those changed again since stay.")
  var ttl: DurationArgument?

  @Flag(help: "Give the statements back their flags when this command exits (Ctrl-C, or killed).")
  var hold = false

  @Argument(help: "The query (or, with --list, match specs).")
  var query: String?

  func validate() throws {
    if !list && (query ?? "").isEmpty { throw ValidationError("a query is needed (or --list)") }
    if list && (ttl != nil || hold) { throw ValidationError("--ttl and --hold go with a query, not --list") }
  }

  func run() throws {
    let c = try target.connect()
    if list {
      let lines = try c.debug((json ? "list-json " : "list ") + (query ?? ""))
      if json {
        print("[" + lines.joined(separator: ",\n") + "]")
      } else {
        for l in lines { print(safe(l)) }
      }
    } else {
      let lease = (ttl.map { "--ttl \($0.milliseconds) " } ?? "") + (hold ? "--hold " : "")
      let lines = try c.debug("query " + lease + (query ?? ""))
      if json {
        print("{" + (lines.first ?? "").split(separator: " ").map { kv in
          let p = kv.split(separator: "=", maxSplits: 1)
          return "\"\(p[0])\":\(p.count > 1 ? String(p[1]) : "null")"
        }.joined(separator: ",") + "}")
      } else {
        for l in lines { print(safe(l)) }
      }
      fflush(nil)
      if hold { holdUntilInterrupted(c) }
    }
  }

  /// Keeps the connection, and with it the lease, until Ctrl-C or SIGTERM
  /// or until the process goes away.
  private func holdUntilInterrupted(_ c: ControlClient) {
    warn("holding: the statements switch back when this command exits (Ctrl-C)")
    Interrupt.install()
    while !Interrupt.requested {
      do {
        if case .error = try c.receive(waitingAtMost: 200) ?? .list { break }
      } catch {
        warn("the process closed the connection: \(error)")
        break
      }
    }
  }
}

/// `jumplabel ctl log`: live log levels of a process's logging call
/// sites (JumpLabelLogging) and of its LiveLevelHandler labels.
struct LogCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "log",
    abstract: "Show or set live log levels of a process, per module or per label (one batch).",
    discussion: "Levels: trace debug info notice warning error critical none, or default (unset).")

  @OptionGroup var target: TargetOptions

  @Option(help: "The module whose level to set.")
  var module: String?

  @Option(help: "The logger label whose level to set (as the program names it; spaces too).")
  var label: String?

  @Flag(help: "Set the level of modules without one.")
  var `default` = false

  @Argument(help: "The level (trace ... critical, none, or default). Without one: show the levels.")
  var level: String?

  func validate() throws {
    let targets = (module != nil ? 1 : 0) + (label != nil ? 1 : 0) + (`default` ? 1 : 0)
    if level == nil && targets > 0 { throw ValidationError("a level is needed") }
    if level != nil && targets != 1 { throw ValidationError("give exactly one of --module, --label, --default") }
  }

  func run() throws {
    let c = try target.connect()
    let command: String
    if let level {
      if let module { command = "log module \(module) \(level)" }
      else if let label { command = "log label \(label) \(level)" }
      else { command = "log default \(level)" }
    } else {
      command = "log show"
    }
    for l in try c.debug(command) { print(safe(l)) }
  }
}
