import ArgumentParser
import Foundation
import JumpLabelControl

/// `jumplabel ctl trace --pid P NAME...`: streams the events of the
/// matched tracepoints as JSON Lines to stdout, until Ctrl-C, `--count` or
/// `--duration`; then detaches and reports events and drops on stderr.
struct TraceCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "trace", abstract: "Stream the events of tracepoints of a process as JSON Lines, until Ctrl-C.")

  @OptionGroup var target: TargetOptions

  @Argument(help: "Tracepoint names; shell globs (quote them) match every known tracepoint.")
  var names: [String]

  @Option(help: "Stop after this many events.")
  var count: UInt32?

  @Option(help: "Stop after this long (10s, 500ms).")
  var duration: DurationArgument?

  @Option(help: "Events buffered in the process for this client (the oldest are dropped, and counted, when it is full).")
  var buffer: UInt32 = 4096

  func run() throws {
    let c = try target.connect()
    Interrupt.install()
    let (attached, granted) = try c.startTrace(patterns: names, maxEvents: count ?? 0, durationMillis: duration?.milliseconds ?? 0, bufferEvents: buffer)
    let shown = attached.prefix(20).map(safe).joined(separator: " ") + (attached.count > 20 ? " (and \(attached.count - 20) more)" : "")
    warn("tracing \(shown) in process \(c.pid) (\(safe(c.program))); Ctrl-C to stop")
    if granted < buffer { warn("the process granted a buffer of \(granted) events (asked: \(buffer)): its trace memory is bounded") }
    let terminal = isatty(1) != 0
    var stopSent = false
    let out = FileHandle.standardOutput
    while true {
      if Interrupt.requested && !stopSent {
        try c.send(.traceStop)
        stopSent = true
      }
      guard let m = try c.receive(waitingAtMost: 100) else { continue }
      switch m {
      case let .event(line):
        // To a terminal, control characters escaped; to a file or a
        // pipe, the line as the process wrote it.
        out.write(terminal ? Data((jsonSafe(String(decoding: line, as: UTF8.self)) + "\n").utf8) : Data(line + [0x0A]))
      case let .traceEnd(events, dropped, reason):
        // Cut off by somebody else (a forced disable): said so, and a
        // non-zero exit status, so that a script does not take a partial
        // trace for a complete one.
        if reason.hasPrefix("disabled by") {
          warn("trace ended: \(safe(reason)): \(events) events, \(dropped) dropped")
          throw ExitCode(3)
        }
        warn("trace ended (\(safe(reason))): \(events) events, \(dropped) dropped")
        return
      case let .error(_, message):
        throw ControlError.refused(code: 0, message: message)
      default:
        continue
      }
    }
  }
}
