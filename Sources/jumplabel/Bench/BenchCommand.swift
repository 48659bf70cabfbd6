import ArgumentParser
import Foundation
import Glibc

/// `jumplabel bench`: what needs threads and patching, measured in one run
/// so that ratios hold on a noisy machine: toggle latency against site
/// count, busy threads, idle threads and a SIGTRAP-blocking thread; the
/// physical floor; the Rust static-key crate's design side by side; the
/// stall running threads see, against a stop-the-world patcher; indexing
/// 100,000 sites at load; a USDT tracepoint's emit, with and without
/// bpftrace attached; a dynamic-debug query over 1,000 statements, against
/// switching them one at a time. `--json` for Scripts/plot-bench.py.
struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench", abstract: "Measure toggle latency, thread costs, stalls and indexing (one run, ratios comparable).")

  enum Part: String, CaseIterable, ExpressibleByArgument { case floor, sites, busy, idle, blocker, peer, stall, index, usdt, dyndbg }

  @Option(help: "Only these parts (default: all): \(Part.allCases.map(\.rawValue).joined(separator: ", ")).")
  var only: [Part] = []

  @Flag(help: "Fewer repetitions (a quick look, not for the README).")
  var quick = false

  @Option(help: "Seconds of each stall condition.")
  var stallSeconds = 3.0

  @Flag(help: "Print the report as JSON.")
  var json = false

  func run() throws {
    let parts = only.isEmpty ? Part.allCases : only
    let s = BenchScenarios(quick: quick)
    var r = BenchReport(machine: .init(cpu: cpuModel(), cpus: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), kernel: kernel()))
    func step(_ what: String) { if !json { FileHandle.standardError.write(Data("bench: \(what)...\n".utf8)) } }
    if parts.contains(.floor) { step("floor"); (r.floor, r.threeSyncs) = try s.floor() }
    if parts.contains(.sites) { step("sites"); r.sites = try s.sites() }
    if parts.contains(.busy) { step("busy threads"); r.busy = try s.busy() }
    if parts.contains(.idle) { step("idle threads"); r.idle = try s.idle() }
    if parts.contains(.blocker) { step("SIGTRAP blocker"); r.blocker = try s.blocker() }
    if parts.contains(.peer) { step("static-key crate design"); r.peer = try s.peer() }
    if parts.contains(.stall) { step("stalls"); r.stall = try s.stall(seconds: stallSeconds) }
    if parts.contains(.index) { step("indexing 100,000 sites"); r.index = try s.index(count: 100_000) }
    if parts.contains(.usdt) { step("USDT tracepoint emits"); r.usdt = try s.usdt() }
    if parts.contains(.dyndbg) { step("a dynamic-debug query over 1,000 statements"); r.dyndbg = try s.dyndbg() }
    if json {
      let e = JSONEncoder()
      e.outputFormatting = [.prettyPrinted, .sortedKeys]
      print(String(decoding: try e.encode(r), as: UTF8.self))
    } else {
      print(text(r))
    }
  }

  func text(_ r: BenchReport) -> String {
    var out = ["jumplabel bench on \(r.machine.cpu), \(r.machine.cpus) CPUs, Linux \(r.machine.kernel)"]
    if let f = r.floor, let y = r.threeSyncs {
      out.append("floor (3 pwrites + 3 membarriers): \(f.text); 3 membarriers alone: \(y.text)")
    }
    if !r.sites.isEmpty {
      out.append("toggle latency against sites:")
      for row in r.sites {
        let ratio = r.floor.map { String(format: "%.1f× floor", row.toggle.medianNs / $0.medianNs) } ?? ""
        out.append("  \(pad(String(row.sites), 6)) sites  \(row.toggle.text)  \(String(format: "%.2f", row.sitesPerSecond / 1e6)) M sites/s  \(row.syncsPerBatch) syncs/batch  \(ratio)  \(row.writer)")
      }
    }
    for (title, rows) in [("against busy threads (100 sites)", r.busy), ("against idle threads (1 site)", r.idle), ("with a SIGTRAP-blocking thread (1 site)", r.blocker)] where !rows.isEmpty {
      out.append("\(title):")
      for row in rows { out.append("  \(pad(String(row.threads), 6)) threads  \(row.toggle.text)  \(row.mode)") }
    }
    if !r.peer.isEmpty {
      out.append("one site, ours and the static-key crate's design:")
      for row in r.peer { out.append("  \(pad(row.patcher, 48)) \(row.busyThreads) busy  \(row.toggle.text)") }
    }
    if !r.stall.isEmpty {
      out.append("a worker calling a 100-site function while its key toggles (per call):")
      for row in r.stall {
        out.append("  \(pad(row.condition, 36)) p50 \(us(row.p50Ns)) µs  p99 \(us(row.p99Ns)) µs  p99.9 \(us(row.p999Ns)) µs  max \(us(row.maxNs)) µs  (\(row.calls) calls, \(row.toggles) toggles)")
      }
    }
    if let i = r.index {
      out.append("indexing \(i.sites) sites at load: \(String(format: "%.1f", i.milliseconds)) ms, \(String(format: "%.0f", i.bytesPerSite)) bytes per site")
    }
    if !r.usdt.isEmpty {
      out.append("one emit of a USDT tracepoint (two Int arguments):")
      for row in r.usdt { out.append("  \(pad(row.state, 48)) \(String(format: "%.1f", row.nsPerEmit)) ns") }
    }
    if let d = r.dyndbg {
      out.append("a dynamic-debug query matching \(d.statements) statements (\(d.sites) sites):")
      out.append("  'module \(BenchScenarios.dyndbgModule) +p'  \(d.queryOn.text)  \(String(format: "%.1f", d.batchesPerQuery)) batches, \(String(format: "%.1f", d.syncsPerQuery)) syncs per query")
      out.append("  'module \(BenchScenarios.dyndbgModule) -p'  \(d.queryOff.text)")
      out.append("  the same query, nothing to switch (listing and matching alone)  \(d.matchOnly.text)")
      out.append("  with the write window (TextPoke.bulkWriteThreshold): +p \(d.windowOn.text); -p \(d.windowOff.text)")
      out.append("  the same statements one key (one batch) at a time: on \(String(format: "%.1f", d.oneByOneOnMs)) ms, off \(String(format: "%.1f", d.oneByOneOffMs)) ms, \(d.oneByOneSyncs) syncs")
    }
    return out.joined(separator: "\n")
  }

  func cpuModel() -> String {
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    return info.split(separator: "\n").first { $0.hasPrefix("model name") }.map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "?"
  }

  func kernel() -> String {
    var u = utsname()
    uname(&u)
    return withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
  }
}
