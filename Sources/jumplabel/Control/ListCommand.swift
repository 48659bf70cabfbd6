import ArgumentParser
import Foundation
import JumpLabelControl

/// `jumplabel ctl list --pid P`: every key and tracepoint of a process.
struct ListCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list", abstract: "List the keys and tracepoints of a process: state, count, sites, fallback hits, problems.")

  @OptionGroup var target: TargetOptions

  @Flag(help: "Print JSON (the default when stdout is not a terminal).")
  var json = false

  func run() throws {
    let c = try target.connect()
    let entries = try c.list()
    if json || isatty(1) == 0 {
      try printJSON(entries.map { e in
        var d: [String: Any] = [
          "name": e.name, "kind": e.isTracepoint ? "tracepoint" : "key", "enabled": e.state, "default": e.defaultValue,
          "declared": e.declared, "count": Int(e.count), "sites": Int(e.sites), "fallbackHits": Int(e.fallbackHits),
          "fallbackHitsInOptimizedCode": Int(e.fallbackHitsInOptimizedCode),
        ]
        if e.isTracepoint { d["probes"] = Int(e.probes) }
        if !e.payloadType.isEmpty { d["payloadType"] = e.payloadType }
        if !e.problem.isEmpty { d["problem"] = e.problem }
        d["holders"] = e.holders.isEmpty ? [String]() : e.holders.components(separatedBy: ", ")
        if !e.forcedOff.isEmpty { d["forcedOff"] = e.forcedOff }
        return d
      })
      return
    }
    print("process \(c.pid) (\(safe(c.program))): \(entries.count) keys and tracepoints")
    print(pad("NAME", 34) + pad("KIND", 11) + pad("STATE", 6) + pad("COUNT", 6) + pad("SITES", 6) + pad("FALLBACK", 9) + pad("PROBES", 7) + pad("HOLDERS", 28) + "PROBLEM")
    for e in entries {
      let state = e.state ? "on" : "off"
      let kind = e.isTracepoint ? "tracepoint" : "key"
      let problem = e.problem.isEmpty ? (e.declared ? "" : "(not declared yet)") : safe(e.problem)
      print(pad(safe(e.name), 34) + pad(kind, 11) + pad(state, 6) + pad("\(e.count)", 6) + pad("\(e.sites)", 6)
            + pad("\(e.fallbackHits)", 9) + pad(e.isTracepoint ? "\(e.probes)" : "-", 7)
            + pad(e.holders.isEmpty ? "-" : safe(e.holders), 28) + problem)
    }
  }
}
