import Foundation
import JumpLabelFixtures
import Testing

/// Tracepoints as USDT probes, with the real tools from Debian: `readelf`,
/// `bpftrace` (as root) and `perf`. The target is a real child process
/// (`jumplabel-harness usdt-target`) that emits `jltest.usdt.tick` from two
/// probe points every 0.5 ms and writes a timeline of its key's state,
/// its sites' bytes and its semaphores every 5 ms.
@Suite(.serialized) struct USDTTests {
  static let bpftrace = TestRequirements.path(of: "bpftrace") ?? "/usr/bin/bpftrace"
  static let perf = TestRequirements.path(of: "perf") ?? "/usr/bin/perf"
  static var canTrace: Bool { TestRequirements.isRoot && TestRequirements.shouldRun(needing: "bpftrace") }
  static var canPerf: Bool { TestRequirements.isRoot && TestRequirements.shouldRun(needing: "perf") }

  struct TestFailure: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

  static func monotonicNs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
  }

  /// One timeline line of the target.
  struct Sample {
    let t: Int64
    let enabled: Bool
    let count: Int
    let nop: Bool
    let semaphore: Int

    init?(_ line: Substring) {
      var f: [Substring: Substring] = [:]
      for part in line.split(separator: " ") {
        let kv = part.split(separator: "=", maxSplits: 1)
        if kv.count == 2 { f[kv[0]] = kv[1] }
      }
      guard let t = f["t"].flatMap({ Int64($0) }), let e = f["enabled"], let c = f["count"].flatMap({ Int($0) }),
            let n = f["nop"], let s = f["sem"].flatMap({ Int($0) }) else { return nil }
      self.t = t
      enabled = e == "1"
      count = c
      nop = n == "1"
      semaphore = s
    }
  }

  /// A running `usdt-target`.
  final class Target: @unchecked Sendable {
    // @unchecked: immutable after init; Process is used from one thread at a time.
    let process: Process
    let pid: Int32
    let timeline: String
    let out: Pipe

    init(env: [String: String] = [:], args: [String] = [], binary: String = StressCommandTests.harness) throws {
      timeline = FileManager.default.temporaryDirectory.path + "/jumplabel-usdt-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).txt"
      let p = Process()
      p.executableURL = URL(fileURLWithPath: binary)
      p.arguments = ["usdt-target", "--timeline", timeline, "--duration", "120"] + args
      var e = ProcessInfo.processInfo.environment
      for (k, v) in env { e[k] = v }
      e["SWIFT_BACKTRACE"] = "enable=no"
      p.environment = e
      out = Pipe()
      p.standardOutput = out
      p.standardInput = FileHandle.nullDevice
      try p.run()
      process = p
      let line = readFirstLine(out.fileHandleForReading)
      let parts = line.split(separator: " ")
      guard parts.count >= 3, parts[0] == "usdt-target:", let pid = Int32(parts[2]) else {
        p.terminate()
        throw TestFailure("usdt-target did not start: \(line)")
      }
      self.pid = pid
    }

    var samples: [Sample] {
      let text = (try? String(contentsOfFile: timeline, encoding: .utf8)) ?? ""
      return text.split(separator: "\n").compactMap(Sample.init)
    }

    /// Waits (up to `seconds`) until the newest sample satisfies `ok`.
    func waitFor(seconds: Double, _ ok: (Sample) -> Bool) -> Bool {
      let deadline = Date().addingTimeInterval(seconds)
      while Date() < deadline {
        if let last = samples.last, ok(last) { return true }
        usleep(20_000)
      }
      return false
    }

    /// Stops it (SIGTERM) and returns what it printed after the first line.
    func stop() -> String {
      if process.isRunning { kill(process.processIdentifier, SIGTERM) }
      let rest = out.fileHandleForReading.readDataToEndOfFile()
      process.waitUntilExit()
      try? FileManager.default.removeItem(atPath: timeline)
      return String(decoding: rest, as: UTF8.self)
    }
  }

  /// What the target's timeline showed around one tracer session.
  struct Session {
    let before: [Sample]
    let during: [Sample]
    let after: [Sample]
    let tracerOutput: String
  }

  /// Runs `tracer` against a fresh target and waits until the target's key
  /// is back to what it was before (or 10 s passed).
  static func session(env: [String: String] = [:], args: [String] = [], binary: String = StressCommandTests.harness,
                      tracer: (Int32) throws -> ChildRun) throws -> (Session, String) {
    try MachineWide.exclusively { try unsharedSession(env: env, args: args, binary: binary, tracer: tracer) }
  }

  private static func unsharedSession(env: [String: String], args: [String], binary: String,
                                      tracer: (Int32) throws -> ChildRun) throws -> (Session, String) {
    let target = try Target(env: env, args: args, binary: binary)
    var finalLines = ""
    defer { if target.process.isRunning { _ = target.stop() } }
    #expect(target.waitFor(seconds: 60) { _ in true })
    usleep(100_000)  // a few samples before the tracer starts
    let initial = target.samples.last
    let t0 = monotonicNs()
    let run = try tracer(target.pid)
    let t1 = monotonicNs()
    #expect(!run.timedOut, "the tracer hung")
    // Back to the state before the tracer (the watcher polls every 50 ms;
    // the decrement is deferred by 100 ms).
    let settled = target.waitFor(seconds: 60) { s in s.t > t1 && s.count == (initial?.count ?? 0) && s.nop == (initial?.nop ?? true) }
    #expect(settled, "the key did not return to its state before the tracer")
    usleep(50_000)
    let all = target.samples
    finalLines = target.stop()
    let s = Session(before: all.filter { $0.t < t0 }, during: all.filter { $0.t >= t0 && $0.t <= t1 },
                    after: all.filter { $0.t > t1 }, tracerOutput: run.stdout + run.stderr)
    return (s, finalLines)
  }

  /// bpftrace's event lines: "SEQUENCE DOUBLED LABEL SITE".
  static func events(_ output: String) -> [(Int, Int, String, Int)] {
    output.split(separator: "\n").compactMap { line in
      let f = line.split(separator: " ")
      guard f.count == 4, let a = Int(f[0]), let b = Int(f[1]), let d = Int(f[3]) else { return nil }
      return (a, b, String(f[2]), d)
    }
  }

  static func bpftraceProgram(pid: Int32?, binary: String = StressCommandTests.harness) -> [String] {
    let probe = "usdt:\(binary):jltest:usdt_tick"
    let program = "\(probe) { printf(\"%d %d %s %d\\n\", arg0, arg1, str(arg2), arg3); } interval:ms:1500 { exit(); }"
    return (pid.map { ["-p", String($0)] } ?? []) + ["-e", program]
  }

  /// The checks of a session in which the tracer should have switched the
  /// tracepoint on: off before, on (JMP sites) during, off after, and the
  /// events carry the right values from both probe points.
  static func checkSwitchedOn(_ s: Session) {
    #expect(!s.before.isEmpty)
    #expect(s.before.allSatisfy { !$0.enabled && $0.nop }, "the key was on before the tracer attached")
    #expect(s.during.contains { $0.semaphore > 0 }, "the semaphore never moved: the tracer did not attach")
    #expect(s.during.contains { $0.enabled && !$0.nop }, "the key was never switched on while the tracer was attached")
    #expect(s.after.last.map { !$0.enabled && $0.nop && $0.semaphore == 0 } ?? false, "the key stayed on after the tracer left")
    let ev = events(s.tracerOutput)
    #expect(ev.count >= 10, "bpftrace saw \(ev.count) events:\n\(s.tracerOutput.prefix(2000))")
    #expect(ev.allSatisfy { $0.1 == 2 * $0.0 && $0.2 == "tick" && ($0.3 == 1 || $0.3 == 2) }, "wrong argument values")
    #expect(Set(ev.map(\.3)) == [1, 2], "bpftrace did not see both probe points")
  }

  @Test(.enabled(if: TestRequirements.shouldRun(needing: "readelf"),
                 Comment(rawValue: TestRequirements.missing("readelf", package: "binutils", for: "the probe notes"))))
  func probeNotesAreStandard() throws {
    let r = try spawn("/usr/bin/readelf", ["-n", StressCommandTests.harness], timeout: 60)
    let notes = r.stdout.components(separatedBy: "NT_STAPSDT").dropFirst()
    let ticks = notes.filter { $0.contains("Provider: jltest") && $0.contains("Name: usdt_tick\n") }
    #expect(ticks.count == 2, "two probe points of jltest:usdt_tick expected:\n\(r.stdout.prefix(3000))")
    for n in ticks {
      // Int, Int32, String (a pointer), UInt8, each in a register.
      #expect(n.range(of: #"Arguments: -8@%\w+ -4@%\w+ 8@%\w+ 1@%\w+"#, options: .regularExpression) != nil, "\(n)")
      #expect(!n.contains("Semaphore: 0x0000000000000000"), "no semaphore")
      // Tools compare the base with the .stapsdt.base section to detect
      // prelinking: the section must survive --gc-sections.
      #expect(!n.contains("Base: 0x0000000000000000"), "no .stapsdt.base")
    }
    // Both probe points of one name share one semaphore.
    let semaphores = Set(ticks.compactMap { n in n.range(of: #"Semaphore: 0x[0-9a-f]+"#, options: .regularExpression).map { String(n[$0]) } })
    #expect(semaphores.count == 1, "\(semaphores)")
    let wide = notes.filter { $0.contains("Name: usdt_wide_6\n") }
    #expect(wide.count == 1)
    #expect(wide.first?.range(of: #"Arguments: -1@%\w+ 2@%\w+ -4@%\w+ 8@%\w+ 1@%\w+ 8@%\w+"#, options: .regularExpression) != nil)
  }

  @Test(.enabled(if: canTrace, Comment(rawValue: TestRequirements.missing("bpftrace", for: "bpftrace -l (as root)"))))
  func bpftraceListsTheProbes() throws {
    let r = try spawn(Self.bpftrace, ["-l", "usdt:\(StressCommandTests.harness):*"], timeout: 60)
    #expect(r.stdout.contains(":jltest:usdt_tick"), "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains(":jltest:usdt_wide_6"))
  }

  /// A forked child gets a watcher of its own (the parent's thread does not
  /// survive fork): bpftrace attached to the child switches its tracepoint
  /// on and gets its events. Negative control: with the restart turned off
  /// (`JUMPLABEL_USDT_FORK_RESTART=0`), the semaphore moves in the child but
  /// nothing switches the key on, and bpftrace sees no event.
  @Test(.enabled(if: canTrace, Comment(rawValue: TestRequirements.missing("bpftrace", for: "a tracer attached to a forked child (as root)"))))
  func aForkedChildHasItsOwnWatcher() throws {
    let (s, final) = try Self.session(args: ["--fork"]) { pid in try spawn(Self.bpftrace, Self.bpftraceProgram(pid: pid), timeout: 60) }
    Self.checkSwitchedOn(s)
    #expect(final.contains("watcher running=1"), "\(final)")
    let (c, _) = try Self.session(env: ["JUMPLABEL_USDT_FORK_RESTART": "0"], args: ["--fork"]) { pid in
      try spawn(Self.bpftrace, Self.bpftraceProgram(pid: pid), timeout: 60)
    }
    #expect(c.during.contains { $0.semaphore > 0 }, "the semaphore never moved: bpftrace did not attach")
    #expect((c.before + c.during + c.after).allSatisfy { !$0.enabled && $0.nop }, "the key was switched on without a watcher")
    #expect(Self.events(c.tracerOutput).isEmpty, "events without a watcher: \(c.tracerOutput.prefix(500))")
  }

  @Test(.enabled(if: canTrace, Comment(rawValue: TestRequirements.missing("bpftrace", for: "a tracer switching a tracepoint on (as root)"))))
  func bpftraceWithPidSwitchesTheTracepointOnAndOff() throws {
    let (s, final) = try Self.session { pid in try spawn(Self.bpftrace, Self.bpftraceProgram(pid: pid), timeout: 60) }
    Self.checkSwitchedOn(s)
    #expect(final.contains("failures=0"), "\(final)")
  }

  @Test(.enabled(if: canTrace, Comment(rawValue: TestRequirements.missing("bpftrace", for: "a tracer attached by path (as root)"))))
  func bpftraceByPathWithoutPidWorksToo() throws {
    // Without -p the kernel still maintains the semaphores (uprobe
    // reference counters, Linux 4.20 and later) in every process that maps
    // the binary.
    //
    // So the tracer attaches to a copy of the harness, a file of its own:
    // attached to the harness itself, it would switch on the tracepoints
    // of every harness the other suites run meanwhile (a fault-injection
    // scenario then patches before its fault is set: seen in a release
    // run, where `--fault no-membarrier` found membarrier registered).
    let copy = URL(fileURLWithPath: StressCommandTests.harness).deletingLastPathComponent()
      .appendingPathComponent("jumplabel-harness-by-path-\(getpid())").path
    try? FileManager.default.removeItem(atPath: copy)
    try FileManager.default.copyItem(atPath: StressCommandTests.harness, toPath: copy)
    defer { try? FileManager.default.removeItem(atPath: copy) }
    let (s, _) = try Self.session(binary: copy) { _ in
      try spawn(Self.bpftrace, Self.bpftraceProgram(pid: nil, binary: copy), timeout: 60)
    }
    Self.checkSwitchedOn(s)
  }

  @Test(.enabled(if: canTrace, Comment(rawValue: TestRequirements.missing("bpftrace", for: "a tracer on a dlopened library (as root)"))))
  func bpftraceReachesATracepointInADlopenedLibrary() throws {
    // The library has its own copy of the runtime and its own semaphore;
    // the executable's watcher finds its probe point after the dlopen.
    let lib = URL(fileURLWithPath: StressCommandTests.harness).deletingLastPathComponent().appendingPathComponent("libJumpLabelTestUSDTLib.so").path
    let program = "usdt:\(lib):jltestlib:usdt_libtick { printf(\"%d %d\\n\", arg0, arg1); } interval:ms:1500 { exit(); }"
    let (s, _) = try Self.session(args: ["--library"]) { pid in try spawn(Self.bpftrace, ["-p", String(pid), "-e", program], timeout: 60) }
    #expect(s.before.allSatisfy { !$0.enabled && $0.nop })
    #expect(s.during.contains { $0.enabled && !$0.nop }, "the library's tracepoint was never switched on")
    #expect(s.after.last.map { !$0.enabled && $0.nop } ?? false)
    let pairs = s.tracerOutput.split(separator: "\n").compactMap { line -> (Int, Int)? in
      let f = line.split(separator: " ")
      guard f.count == 2, let a = Int(f[0]), let b = Int(f[1]) else { return nil }
      return (a, b)
    }
    #expect(pairs.count >= 10, "\(s.tracerOutput.prefix(1000))")
    #expect(pairs.allSatisfy { $0.1 == 3 * $0.0 })
  }

  @Test(.enabled(if: canTrace, Comment(rawValue: TestRequirements.missing("bpftrace", for: "the watcher's negative control (as root)"))))
  func negativeControlWithoutTheWatcherTheTracerSeesNothing() throws {
    let (s, final) = try Self.session(env: ["JUMPLABEL_USDT": "0"]) { pid in
      try spawn(Self.bpftrace, Self.bpftraceProgram(pid: pid), timeout: 60)
    }
    // The tracer did attach (the kernel moved the semaphore)...
    #expect(s.during.contains { $0.semaphore > 0 }, "bpftrace did not attach at all")
    // ...but nobody switched the tracepoint on, so no probe point ran.
    #expect((s.before + s.during + s.after).allSatisfy { !$0.enabled && $0.nop })
    #expect(Self.events(s.tracerOutput).isEmpty, "events without the watcher:\n\(s.tracerOutput.prefix(1000))")
    #expect(final.contains("running=0"), "\(final)")
  }

  /// An operator forces the key off while bpftrace holds it (through the
  /// watcher). bpftrace stays attached and sees nothing more (the probe
  /// points are NOPs again); the watcher does not fight the operator (the
  /// key is never on again while the semaphore stays up), and when the
  /// tracer leaves, its release is a no-op: no underflow, no failure, the
  /// count back to 0. The key being on before the force is this test's
  /// control that the tracer did hold it.
  @Test(.enabled(if: canTrace, Comment(rawValue: TestRequirements.missing("bpftrace", for: "a forced disable under a tracer (as root)"))))
  func aForcedDisableUnderBpftraceIsNotFought() throws {
    let (s, final) = try Self.session(args: ["--force-off-when-traced"]) { pid in
      try spawn(Self.bpftrace, Self.bpftraceProgram(pid: pid), timeout: 60)
    }
    #expect(final.contains("usdt-target: forced off"), "\(final)")
    #expect(s.during.contains { $0.enabled && !$0.nop }, "the tracer never switched the key on")
    #expect(!Self.events(s.tracerOutput).isEmpty, "bpftrace saw no event before the force: \(s.tracerOutput.prefix(500))")
    let all = s.before + s.during + s.after
    if let on = all.firstIndex(where: \.enabled),
       let off = all[on...].firstIndex(where: { $0.semaphore > 0 && !$0.enabled && $0.nop }) {
      #expect(!all[off...].contains { $0.enabled }, "the watcher switched the key on again after the operator forced it off")
    } else {
      Issue.record("no sample shows the key forced off while the tracer was attached")
    }
    #expect(s.after.last.map { !$0.enabled && $0.nop && $0.semaphore == 0 && $0.count == 0 } ?? false, "\(s.after.last.map { "\($0)" } ?? "no sample after")")
    #expect(final.contains("failures=0"), "\(final)")
    #expect(final.contains("disabled by the usdt-target (test)"), "the watcher did not record the forced disable: \(final)")
  }

  @Test(.enabled(if: canTrace, Comment(rawValue: TestRequirements.missing("bpftrace", for: "tracers beside in-process probes (as root)"))))
  func tracerAndInProcessProbeShareTheKey() throws {
    let (s, final) = try Self.session(args: ["--hold-probe"]) { pid in
      try spawn(Self.bpftrace, Self.bpftraceProgram(pid: pid), timeout: 60)
    }
    // Counting semantics: the in-process probe holds 1, the tracer adds 1,
    // and its departure leaves the key enabled for the probe.
    #expect(s.before.allSatisfy { $0.enabled && $0.count == 1 })
    #expect(s.during.contains { $0.count == 2 }, "the tracer's increment never showed")
    #expect(s.after.last.map { $0.enabled && $0.count == 1 } ?? false)
    let ev = Self.events(s.tracerOutput)
    #expect(ev.count >= 10 && Set(ev.map(\.3)) == [1, 2], "\(s.tracerOutput.prefix(1000))")
    let seen = final.split(separator: "\n").first { $0.contains("in-process probe saw") }
    let n = seen.flatMap { $0.split(separator: " ").dropFirst(4).first }.flatMap { Int($0) } ?? 0
    #expect(n > 0, "the in-process probe saw nothing: \(final)")
  }

  @Test(.enabled(if: canPerf, Comment(rawValue: TestRequirements.missing("perf", package: "linux-perf", for: "perf probe + perf record (as root)"))))
  func perfProbeAndRecordSeeTheEvents() throws {
    let tmp = FileManager.default.temporaryDirectory.path + "/jumplabel-perf-\(getpid())"
    try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    defer {
      _ = try? spawn(Self.perf, ["probe", "-q", "-d", "sdt_jltest:*"], timeout: 60)
      try? FileManager.default.removeItem(atPath: tmp)
    }
    // The build-id cache in /tmp, not in ~/.debug.
    let bid = ["--buildid-dir", tmp + "/buildid"]
    let add = try spawn(Self.perf, bid + ["buildid-cache", "--add", StressCommandTests.harness], timeout: 120)
    #expect(add.status == 0, "\(add.stderr)")
    let list = try spawn(Self.perf, bid + ["list", "sdt"], timeout: 120)
    #expect(list.stdout.contains("sdt_jltest:usdt_tick"), "\(list.stdout)\(list.stderr)")
    let probe = try spawn(Self.perf, bid + ["probe", "-x", StressCommandTests.harness, "-a", "sdt_jltest:usdt_tick"], timeout: 120)
    #expect(probe.status == 0, "\(probe.stderr)")
    let data = tmp + "/perf.data"
    let (s, _) = try Self.session { pid in
      try spawn(Self.perf, bid + ["record", "-q", "-o", data, "-e", "sdt_jltest:usdt_tick", "-p", String(pid), "--", "sleep", "1.5"], timeout: 60)
    }
    #expect(s.before.allSatisfy { !$0.enabled && $0.nop })
    #expect(s.during.contains { $0.enabled && !$0.nop }, "perf's probe did not switch the tracepoint on")
    #expect(s.after.last.map { !$0.enabled && $0.nop } ?? false)
    let script = try spawn(Self.perf, bid + ["script", "-i", data], timeout: 120)
    let lines = script.stdout.split(separator: "\n").filter { $0.contains("sdt_jltest:usdt_tick") }
    #expect(lines.count >= 10, "\(script.stdout.prefix(1000))\(script.stderr.prefix(1000))")
    // arg1 is the sequence, arg2 twice it.
    let pairs = lines.compactMap { l -> (Int, Int)? in
      guard let a = l.range(of: #"arg1=(-?\d+)"#, options: .regularExpression),
            let b = l.range(of: #"arg2=(-?\d+)"#, options: .regularExpression) else { return nil }
      return (Int(l[a].dropFirst(5)) ?? -1, Int(l[b].dropFirst(5)) ?? -1)
    }
    #expect(!pairs.isEmpty && pairs.allSatisfy { $0.1 == 2 * $0.0 })
  }
}
