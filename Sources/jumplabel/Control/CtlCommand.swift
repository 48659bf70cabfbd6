import ArgumentParser
import Foundation
import JumpLabelControl

/// `jumplabel ctl`: control a running process that enabled its control
/// socket (JUMPLABEL_CONTROL=1, or JumpLabelControl.start()).
struct CtlCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ctl",
    abstract: "List, switch and trace the keys and tracepoints of a running process.",
    discussion: """
      The process must have started its control socket: JUMPLABEL_CONTROL=1 in its environment, \
      or JumpLabelControl.start(). Only the same user, or root, may connect.
      """,
    subcommands: [PsCommand.self, ListCommand.self, EnableCommand.self, DisableCommand.self, ForgetCommand.self, TraceCommand.self, DebugCommand.self, LogCommand.self])
}

/// Options shared by the commands that talk to one process.
struct TargetOptions: ParsableArguments {
  @Option(help: "The process to talk to.")
  var pid: Int32

  @Option(help: "Its control socket, if not in the usual directories.")
  var socket: String?

  @Option(help: "How long to wait for each answer of the process (10s by default; a busy process with many keys may need more).")
  var timeout: DurationArgument?

  /// Connects, checking that the socket and the server are the process
  /// asked for (``ControlClient/connect(pid:socket:timeout:)``), also for a
  /// socket given by hand.
  func connect() throws -> ControlClient {
    try ControlClient.connect(pid: pid, socket: socket, timeout: .milliseconds(Int(timeout?.milliseconds ?? 10_000)))
  }
}

/// Durations such as 30s, 500ms, 2m, 1h.
struct DurationArgument: ExpressibleByArgument {
  let milliseconds: UInt32

  init?(argument: String) {
    let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
    for (suffix, scale) in units where argument.hasSuffix(suffix) {
      guard let v = Double(argument.dropLast(suffix.count)), v > 0, v * scale < Double(UInt32.max) else { return nil }
      milliseconds = UInt32(v * scale)
      return
    }
    guard let v = Double(argument), v > 0, v * 1000 < Double(UInt32.max) else { return nil }
    milliseconds = UInt32(v * 1000)
  }
}

/// Prints to stderr.
func warn(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// JSON for output: sorted keys, one line or pretty; every control
/// character escaped (``jsonSafe(_:)``).
func printJSON(_ value: Any, pretty: Bool = true) throws {
  let data = try JSONSerialization.data(withJSONObject: value, options: pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes])
  print(jsonSafe(String(decoding: data, as: UTF8.self)))
}

/// Text from a process, for the terminal: control characters escaped
/// (names are data, never markup: nothing the process sends can move the
/// cursor, change colours or forge a line).
func safe(_ s: String) -> String { ControlText.escaped(s) }

/// JSON text with every scalar a terminal could act on (C0 but the
/// newline, DEL, C1, separators, bidirectional controls) written as a
/// \\u escape: still the same JSON (outside strings JSON holds no such
/// scalar but the newlines of its layout, which stay), safe to print.
func jsonSafe(_ json: String) -> String {
  func escape(_ u: Unicode.Scalar) -> Bool { u != "\n" && ControlText.isForbidden(u) }
  guard json.unicodeScalars.contains(where: escape) else { return json }
  var out = String.UnicodeScalarView()
  for u in json.unicodeScalars {
    if escape(u) {
      let h = String(u.value, radix: 16)
      out.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - h.count) + h).unicodeScalars)
    } else {
      out.append(u)
    }
  }
  return String(out)
}
