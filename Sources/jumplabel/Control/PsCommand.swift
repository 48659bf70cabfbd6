import ArgumentParser
import Foundation
import JumpLabelControl

/// `jumplabel ctl ps`: the processes on this machine with a live control
/// socket (this user's; as root, everyone's). Sockets of processes that
/// are gone are removed.
struct PsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ps", abstract: "List the processes with a live control socket.")

  @Flag(help: "Print JSON.")
  var json = false

  func run() throws {
    let scan = ControlProcess.scan(removeStale: true)
    for s in scan.skipped { warn(s) }
    let all = scan.processes
    if json || isatty(1) == 0 {
      try printJSON(all.map {
        ["pid": Int($0.pid), "startTime": Int($0.startTime), "uid": Int($0.uid), "command": $0.command, "socket": $0.socket,
         "pidNamespace": Int($0.pidNamespace), "thisNamespace": $0.inThisNamespace] as [String: Any]
      })
      return
    }
    print(pad("PID", 8) + pad("UID", 7) + pad("COMMAND", 18) + "SOCKET")
    for p in all {
      let pid = p.inThisNamespace ? "\(p.pid)" : "(\(p.pid))"
      let note = p.inThisNamespace ? "" : " (pid namespace \(p.pidNamespace), not this one)"
      print(pad(pid, 8) + pad("\(p.uid)", 7) + pad(safe(p.command), 18) + safe(p.socket) + note)
    }
  }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
