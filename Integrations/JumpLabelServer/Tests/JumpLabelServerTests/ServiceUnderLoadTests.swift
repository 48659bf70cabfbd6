import Foundation
import Testing

/// The sample service, built in release, under `wrk` load, switched by the
/// real `jumplabel` CLI, traced by `ctl trace` and bpftrace, and following
/// its configuration file. Needs root (bpftrace), `wrk`, `bpftrace` and
/// `curl`; without them the tests fail, they do not skip.
@Suite("The sample service under load", .serialized) struct ServiceUnderLoadTests {
  /// The routes wrk requests, and what their events must name.
  static let routes = ["/items/{id}", "/health"]
  static let probe = "hummingbird:request_done"

  @Test func underLoadKeysTracersAndConfigurationAllWork() throws {
    let cli = try Paths.cli()
    let dir = try Paths.scratch()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let config = dir + "/config.json"
    try Sample.write(config, diagnostics: false)
    let sample = try Sample.start(config: config)
    defer { sample.child.stop() }
    let pid = String(sample.child.pid)

    // Load for the whole session, bounded: wrk stops by itself.
    let wrk = try Child("/usr/bin/wrk", ["-t1", "-c8", "-d25s", "-s", try Paths.wrkScript(in: dir), "http://127.0.0.1:\(sample.port)/"])

    // 1. Keys toggled through the CLI, many times.
    for i in 0..<20 {
      let r = try Child.run(cli, ["ctl", i % 2 == 0 ? "enable" : "disable", "--pid", pid,
                                  "sample.items.count-lookups", "sample.items.spans"])
      #expect(r.status == 0, "ctl toggle \(i): \(r.stderr)")
    }

    // 2. ctl trace on the middleware's tracepoint: 200 events, all of
    // them a route that wrk requests, with status 200.
    let trace = try Child.run(cli, ["ctl", "trace", "--pid", pid, "hummingbird.request.done", "--count", "200", "--duration", "60s"])
    #expect(trace.status == 0, "\(trace.stderr)")
    let events = trace.stdout.split(separator: "\n").compactMap(Sample.traceEvent)
    #expect(events.count == 200, "ctl trace: \(trace.stderr)")
    #expect(events.allSatisfy { Self.routes.contains($0.route) && $0.status == 200 }, "\(events.prefix(5))")
    #expect(Set(events.map(\.route)) == Set(Self.routes))

    // 3. bpftrace on the same tracepoint's USDT probe.
    let bpf = try machineWide { try Sample.bpftrace(pid: pid) }
    #expect(bpf.attached, "bpftrace: \(bpf.stderr)")
    #expect(!bpf.events.isEmpty, "bpftrace saw no event: \(bpf.stderr)")
    #expect(bpf.events.allSatisfy { Self.routes.contains($0.route) && $0.status == 200 }, "\(bpf.events.prefix(5))")

    // 4. The configuration file changes, six times: each change is applied
    // (the key follows, and the bridge logs one batch for it).
    for i in 0..<6 {
      let on = i % 2 == 0
      try Sample.write(config, diagnostics: on)
      #expect(eventually { (try? sample.key("sample.items.diagnostics"))?.on == on }, "config change \(i) not applied")
    }
    let batches = sample.child.stderr.split(separator: "\n").filter { $0.contains("configuration: enabled sample.items.diagnostics") || $0.contains("configuration: disabled sample.items.diagnostics") }
    #expect(batches.count == 6, "\(batches)")
    try Sample.write(config, diagnostics: false)

    // wrk: every request answered, 2xx only, no socket error.
    #expect(wrk.wait(timeout: .seconds(120)) == 0, "wrk: \(wrk.stderr)")
    let summary = wrk.stdout
    #expect(summary.contains("requests in"), "\(summary)")
    #expect(!summary.contains("Socket errors"), "\(summary)")
    #expect(!summary.contains("Non-2xx"), "\(summary)")
    #expect(Sample.requests(in: summary) > 0, "\(summary)")
    print("service under load: \(Sample.requests(in: summary)) requests, 20 ctl toggles, \(events.count) ctl trace events, \(bpf.events.count) bpftrace events, 6 configuration changes")

    // Everything detached: every key and tracepoint off with count 0
    // (`ctl list`), and every site a NOP (`/debug/keys`).
    #expect(try eventually {
      let list = try Child.run(cli, ["ctl", "list", "--pid", pid, "--json"])
      guard list.status == 0, let data = list.stdout.data(using: .utf8),
            let entries = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return false }
      let ours = entries.filter { ($0["name"] as? String).map { $0.hasPrefix("sample.") || $0.hasPrefix("hummingbird.") } ?? false }
      return ours.count == 5 && ours.allSatisfy { $0["enabled"] as? Bool == false && $0["count"] as? Int == 0 }
    }, "keys still on after everything detached")
    let keys = try sample.keys()
    #expect(keys.count == 5)
    for k in keys { #expect(!k.on && k.sites > 0 && k.nops == k.sites, "\(k)") }
  }

  /// The negative control of the bpftrace part: the same bpftrace program
  /// on a sample whose USDT watcher is off (`JUMPLABEL_USDT=0`), so the
  /// tracepoint is never enabled and its probe point never reached: bpftrace
  /// attaches and gets nothing, under the same kind of load.
  @Test func bpftraceGetsNothingWhileTheTracepointIsNeverEnabled() throws {
    let dir = try Paths.scratch()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let config = dir + "/config.json"
    try Sample.write(config, diagnostics: false)
    let sample = try Sample.start(config: config, environment: ["JUMPLABEL_USDT": "0"])
    defer { sample.child.stop() }
    let wrk = try Child("/usr/bin/wrk", ["-t1", "-c4", "-d8s", "-s", try Paths.wrkScript(in: dir), "http://127.0.0.1:\(sample.port)/"])
    let bpf = try machineWide { try Sample.bpftrace(pid: String(sample.child.pid)) }
    #expect(wrk.wait(timeout: .seconds(120)) == 0)
    #expect(Sample.requests(in: wrk.stdout) > 0, "\(wrk.stdout)")
    #expect(bpf.attached, "bpftrace: \(bpf.stderr)")
    #expect(bpf.events.isEmpty)
    #expect(try sample.key("hummingbird.request.done")?.on == false)
  }

  /// `ctl` against the configuration, in a live process: a lease
  /// (`--hold`: it lasts as long as the ctl command runs, so the test ends
  /// it, not a clock) overrides the configuration until it ends; a
  /// configuration change made during the lease applies when it ends; a
  /// plain `ctl enable` stands.
  @Test func aCtlLeaseOverridesTheConfigurationUntilItEnds() throws {
    let cli = try Paths.cli()
    let dir = try Paths.scratch()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let config = dir + "/config.json"
    let key = "sample.items.diagnostics"
    try Sample.write(config, diagnostics: true)
    let sample = try Sample.start(config: config)
    defer { sample.child.stop() }
    let pid = String(sample.child.pid)
    #expect(try sample.key(key)?.on == true)
    /// How many times the bridge logged `key` as overridden.
    func overrides() -> Int { sample.child.stderr.components(separatedBy: "\(key) left as it is").count - 1 }
    /// How many times the bridge logged `key` as following it again.
    func returns() -> Int { sample.child.stderr.components(separatedBy: "\(key) follows the configuration again").count - 1 }

    // A lease switches it off; the configuration still says on, and a
    // reload (the file rewritten, same value) leaves the lease alone.
    let lease = try Child(cli, ["ctl", "disable", "--pid", pid, "--hold", key])
    #expect(eventually { (try? sample.key(key))?.on == false }, "\(lease.stderr)")
    try Sample.write(config, diagnostics: true, extra: "\"touched\": 1")
    #expect(eventually { overrides() == 1 })
    #expect(try sample.key(key)?.on == false)
    // The lease ends (the command exits): back on.
    lease.stop()
    #expect(eventually { sample.child.stderr.contains("revert (the client holding it disconnected)") })
    #expect(eventually { (try? sample.key(key))?.on == true })
    #expect(eventually { returns() == 1 })

    // Another lease; during it the configuration says off. When the lease
    // ends, the configuration's off applies (not the lease's revert to on).
    let lease2 = try Child(cli, ["ctl", "disable", "--pid", pid, "--hold", key])
    #expect(eventually { (try? sample.key(key))?.on == false }, "\(lease2.stderr)")
    try Sample.write(config, diagnostics: false)
    #expect(eventually { overrides() == 2 })
    lease2.stop()
    #expect(eventually { sample.child.stderr.contains("configuration: disabled \(key)") })
    #expect(eventually { (try? sample.key(key))?.on == false })
    #expect(eventually { returns() == 2 })

    // A plain `ctl enable` is the operator's: the configuration (off) sees
    // the override at its next reload and leaves the key on.
    let enable = try Child.run(cli, ["ctl", "enable", "--pid", pid, key])
    #expect(enable.status == 0, "\(enable.stderr)")
    try Sample.write(config, diagnostics: false, extra: "\"touched\": 2")
    #expect(eventually { overrides() == 3 }, "\(sample.child.stderr)")
    #expect(try sample.key(key)?.on == true)
  }
}
