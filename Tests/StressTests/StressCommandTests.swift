import Foundation
import JumpLabelFixtures
import Testing

/// `jumplabel stress` run for real, as a child process, as a user would.
@Suite(.serialized) struct StressCommandTests {
  /// The `jumplabel` binary built next to this test bundle.
  static var tool: String { builtExecutable("jumplabel") }

  /// The test harness (`jumplabel-harness`, Tests/Harness) built next to it.
  static var harness: String { builtExecutable("jumplabel-harness") }

  static func builtExecutable(_ name: String) -> String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(name).path
  }

  /// True when CPU hot-plug can really be exercised here.
  static var canHotplug: Bool {
    geteuid() == 0 && access("/sys/devices/system/cpu/cpu1/online", W_OK) == 0
  }

  /// Hot-plug tests run where hot-plug works, and wherever nothing may be
  /// skipped (then they fail if it does not).
  static var shouldHotplug: Bool { canHotplug || TestRequirements.strict }

  static let releaseOnly = "the stress workload needs real NOP sites; run `swift test -c release`"
  static let rootOnly = "CPU hot-plug needs root and a writable /sys/devices/system/cpu/cpu1/online"

  typealias Run = ChildRun

  /// Runs the tool; `whileRunning` gets the process to signal it.
  static func run(_ args: [String], whileRunning: ((Process) -> Void)? = nil) throws -> Run {
    guard args.contains("--hotplug") else { return try spawn(tool, args, whileRunning: whileRunning) }
    return try MachineWide.exclusively { try spawn(tool, args, whileRunning: whileRunning) }
  }

  static func allCPUsOnline() -> Bool {
    (try? String(contentsOfFile: "/sys/devices/system/cpu/offline", encoding: .utf8))?
      .trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ?? true
  }

  @Test(.enabled(if: Fixture.compiledWithSites, Comment(rawValue: releaseOnly)))
  func shortStressPasses() throws {
    var args = ["stress", "--duration", "4", "--thread-churn", "--json"]
    if Self.canHotplug { args.append("--hotplug") }
    if TestRequirements.strict { #expect(Self.canHotplug, Comment(rawValue: Self.rootOnly)) }
    let r = try Self.run(args)
    let rep = r.report
    #expect(r.status == 0, "stdout: \(r.stdout)\nstderr: \(r.stderr)")
    #expect(rep["verdict"] as? String == "PASS")
    // Events that must happen, whatever the machine's load: no rate.
    #expect((rep["toggles"] as? Int ?? 0) > 0, "no toggle in the whole run")
    #expect((rep["checkedExecutions"] as? Int ?? 0) > 0, "no checked execution in the whole run")
    #expect(rep["violations"] as? Int == 0)
    #expect(rep["sitesVerified"] as? Int == 384 && rep["sitesWrong"] as? Int == 0)
    #expect((rep["churnThreadsStarted"] as? Int ?? 0) > 0)
    #expect(rep["churnThreadsStarted"] as? Int == rep["churnThreadsExited"] as? Int)
    if Self.canHotplug {
      #expect((rep["hotplugCycles"] as? Int ?? 0) > 0)
      #expect(rep["cpusOnlineAtEnd"] as? Bool == true)
    } else {
      print("SKIPPED CHECK: the stress test ran WITHOUT CPU hot-plug: \(Self.rootOnly)")
    }
    #expect(Self.allCPUsOnline())
  }

  /// How a run of a broken patcher was caught, or nil if it passed. Every
  /// way a broken run can end counts: a crash, a linearizability
  /// violation, wrong bytes at the end, a stuck thread or a hang.
  static func caught(_ r: Run) -> String? {
    let rep = r.report
    guard r.status == 1, rep["verdict"] as? String == "FAIL" else { return nil }
    if let sig = rep["crashSignal"] as? String { return "crash \(sig)" }
    if (rep["violations"] as? Int ?? 0) > 0 { return "\(rep["violations"]!) violations" }
    if (rep["sitesWrong"] as? Int ?? 0) > 0 { return "wrong final bytes" }
    if rep["hung"] as? Bool == true { return "hang" }
    return nil
  }

  /// The negative control: a patcher without int3 and core sync must be
  /// caught. It writes each site one byte at a time with a pause while the
  /// workers run every site, so it fails for certain (10 of 10 runs died
  /// of SIGILL here), in one run.
  @Test(.enabled(if: Fixture.compiledWithSites, Comment(rawValue: releaseOnly)))
  func brokenPatcherIsCaught() throws {
    let r = try Self.run(["stress", "--duration", "4", "--patcher", "unsafe-direct", "--json"])
    let how = Self.caught(r)
    #expect(how != nil, "the naive patcher passed the stress test: it cannot fail\n\(r.stdout)\n\(r.stderr)")
    print("negative control caught: \(how ?? "-")")
  }

  @Test(.enabled(if: Fixture.compiledWithSites, Comment(rawValue: releaseOnly)),
        .enabled(if: shouldHotplug, Comment(rawValue: rootOnly)))
  func cpusComeBackWhenTheWorkloadCrashes() throws {
    try #require(Self.canHotplug, Comment(rawValue: Self.rootOnly))
    // The naive patcher makes the workload die mid-run, mid hot-plug.
    let r = try Self.run(["stress", "--duration", "4", "--hotplug", "--patcher", "unsafe-direct", "--json"])
    #expect(Self.caught(r) != nil, "the broken workload did not fail: \(r.stdout)")
    #expect(r.report["cpusOnlineAtEnd"] as? Bool == true)
    #expect(Self.allCPUsOnline(), "a CPU was left offline after the workload crashed")
  }

  @Test(.enabled(if: Fixture.compiledWithSites, Comment(rawValue: releaseOnly)),
        .enabled(if: shouldHotplug, Comment(rawValue: rootOnly)),
        arguments: [SIGTERM, SIGINT])
  func cpusComeBackWhenTheSupervisorIsInterrupted(_ sig: Int32) throws {
    try #require(Self.canHotplug, Comment(rawValue: Self.rootOnly))
    let r = try Self.run(["stress", "--duration", "60", "--hotplug"]) { p in
      // Interrupted once the hot-plug loop runs: its workload child exists
      // (the handlers are installed before it is started). An event, with
      // a 60 s hang guard; then a moment for a CPU to go offline.
      let started = Date().addingTimeInterval(60)
      while Date() < started, ((try? Self.run0("pgrep", ["-P", "\(p.processIdentifier)"])) ?? "").isEmpty { usleep(50_000) }
      Thread.sleep(forTimeInterval: 1)
      kill(p.processIdentifier, sig)
    }
    #expect(r.status == 128 + sig, "stderr: \(r.stderr)")
    #expect(r.stderr.contains("interrupted"))
    #expect(Self.allCPUsOnline(), "a CPU was left offline after signal \(sig)")
    // No workload process survives its supervisor.
    let left = try Self.run0("pgrep", ["-f", "jumplabel stress-worker"])
    #expect(left.isEmpty, "stress workers still running: \(left)")
  }

  @Test func hotplugWithoutRootIsRefused() throws {
    guard geteuid() == 0 else {
      // Not root: the real refusal path.
      let r = try Self.run(["stress", "--duration", "1", "--hotplug"])
      #expect(r.status == 2 && r.stderr.contains("needs root"))
      return
    }
    // As root, drop to an unprivileged user for the refusal path.
    guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser") else {
      Issue.record("runuser not found; cannot test the non-root refusal as root")
      return
    }
    let out = try Self.run0("/usr/sbin/runuser", ["-u", "nobody", "--", Self.tool, "stress", "--duration", "1", "--hotplug"], status: 2)
    #expect(out.contains("needs root"), "\(out)")
  }

  @Test func helpListsTheSubcommands() throws {
    let r = try Self.run(["--help"])
    #expect(r.status == 0 && r.stdout.contains("stress") && r.stdout.contains("ctl"))
    #expect(!r.stdout.contains("stress-worker"))
  }

  /// Runs a helper program; returns stdout+stderr. Checks the exit status
  /// if `status` is given.
  static func run0(_ path: String, _ args: [String], status: Int32? = nil) throws -> String {
    let r = try spawn(path.hasPrefix("/") ? path : "/usr/bin/\(path)", args)
    if let status { #expect(r.status == status, "\(path) \(args): status \(r.status)") }
    return (r.stdout + r.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
  }
}
