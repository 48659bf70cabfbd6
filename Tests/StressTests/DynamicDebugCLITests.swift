import Foundation
import Testing

/// Dynamic debug and live levels through the real CLI against a real
/// process: `jumplabel-harness dyndbg --plugin --serve` starts its control
/// server and, for each line it reads, reports its statements (flags and
/// site bytes) and runs them; `jumplabel ctl debug` and `ctl log` talk to
/// it in between.
@Suite struct DynamicDebugCLITests {
  final class Served: @unchecked Sendable {
    // @unchecked: used from the test's thread only.
    let process = Process()
    let input = Pipe(), output = Pipe(), errors: String
    let pid: Int32
    /// Bytes of stderr already reported.
    var consumed = 0

    /// `extra`: more arguments of `jumplabel-harness dyndbg`.
    init(_ extra: [String] = []) throws {
      errors = FileManager.default.temporaryDirectory.path + "/jl-dyndbg-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).err"
      process.executableURL = URL(fileURLWithPath: StressCommandTests.harness)
      process.arguments = ["dyndbg", "--plugin", "--serve"] + extra
      var e = ProcessInfo.processInfo.environment
      e["SWIFT_BACKTRACE"] = "enable=no"
      process.environment = e
      process.standardInput = input
      process.standardOutput = output
      _ = FileManager.default.createFile(atPath: errors, contents: nil)
      process.standardError = FileHandle(forWritingAtPath: errors)
      try process.run()
      let first = readFirstLine(output.fileHandleForReading)
      let parts = first.split(separator: " ")
      guard parts.count == 5, parts[0] == "dyndbg:", let pid = Int32(parts[2]) else {
        process.terminate()
        throw DynamicDebugTests.Failure("the target did not start: \(first)")
      }
      self.pid = pid
    }

    /// One report: the `stmt` lines, until `done`; what was printed since.
    func report() -> (statements: DynamicDebugTests.Report, stderr: String) {
      // A target that died has closed its end: EPIPE (SIGPIPE is handled
      // in the test process), reported by the empty report that follows.
      try? input.fileHandleForWriting.write(contentsOf: Data("go\n".utf8))
      var lines: [String] = []
      while true {
        let l = readFirstLine(output.fileHandleForReading)
        if l.isEmpty || l == "done\n" { break }
        lines.append(String(l.dropLast()))
      }
      usleep(100_000)  // stderr is written before "done"; the file is read after
      let all = (try? Data(contentsOf: URL(fileURLWithPath: errors))) ?? Data()
      let err = String(decoding: all.dropFirst(consumed), as: UTF8.self)
      consumed = all.count
      return (DynamicDebugTests.Report(ChildRun(status: 0, signalled: false, stdout: lines.joined(separator: "\n"), stderr: err)), err)
    }

    func stop() {
      try? input.fileHandleForWriting.close()
      process.waitUntilExit()
      try? FileManager.default.removeItem(atPath: errors)
    }
  }

  static func ctl(_ args: [String]) throws -> ChildRun {
    try spawn(StressCommandTests.tool, ["ctl"] + args, timeout: 60)
  }

  @Test func queryListAndLevelsThroughTheCLI() throws {
    let t = try Served()
    defer { t.stop() }
    let pid = "\(t.pid)"
    // The listing: every statement, off.
    let list = try Self.ctl(["debug", "--pid", pid, "--list"])
    #expect(list.status == 0, "\(list.stderr)")
    #expect(list.stdout.split(separator: "\n").map(String.init) == DynamicDebugTests.statements.map(\.line), "\(list.stdout)")
    // A syntax error: refused with position and reason, nothing changed
    // (the report below shows it).
    let bad = try Self.ctl(["debug", "--pid", pid, "module DynDbgCache fil x +p"])
    #expect(bad.status != 0)
    #expect(bad.stderr.contains("syntax error at 19: unknown keyword 'fil'"), "\(bad.stderr)")
    let before = t.report()
    DynamicDebugTests.expectOnly([], before.statements)
    // A query of two commands: one batch each; the answer counts.
    let q = try Self.ctl(["debug", "--pid", pid, "file Cache*.swift line 11-12 +pt; module DynDbgPlugin +p"])
    #expect(q.status == 0 && q.stdout == "matched=3 changed=3 on=3 off=0\n", "\(q.stdout)\(q.stderr)")
    let after = t.report()
    DynamicDebugTests.expectOnly([0, 1, 5], after.statements, flags: [0: "pt", 1: "pt"])
    // Selected listing, and JSON.
    let some = try Self.ctl(["debug", "--pid", pid, "--list", "module DynDbgCache line 12"])
    #expect(some.stdout == "DynDbgCache/CacheStatements.swift:12 [DynDbgCache]lookup(_:) =pt \"cache evict\"\n", "\(some.stdout)")
    let json = try Self.ctl(["debug", "--pid", pid, "--list", "--json", "module DynDbgPlugin"])
    let objects = (try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8))) as? [[String: Any]] ?? []
    #expect(objects.count == 1 && objects.first?["flags"] as? String == "p" && objects.first?["line"] as? Int == 8, "\(json.stdout)")
    // All off again (flags too), and live levels (this program has no logging call sites:
    // nothing to switch, the level is kept).
    let off = try Self.ctl(["debug", "--pid", pid, "=_"])
    #expect(off.stdout == "matched=6 changed=3 on=0 off=3\n", "\(off.stdout)")
    let level = try Self.ctl(["log", "--pid", pid, "--module", "DynDbgCache", "debug"])
    #expect(level.stdout == "changed=0 on=0 off=0\n", "\(level.stdout)\(level.stderr)")
    let show = try Self.ctl(["log", "--pid", pid])
    #expect(show.stdout == "default info\nmodule DynDbgCache debug\n", "\(show.stdout)")
    let badLevel = try Self.ctl(["log", "--pid", pid, "--label", "db", "loud"])
    #expect(badLevel.status != 0 && badLevel.stderr.contains("unknown level 'loud'"), "\(badLevel.stderr)")
    let last = t.report()
    DynamicDebugTests.expectOnly([], last.statements)
  }

  /// Polls the listing of `specs` until `want` is in it (a hang guard of
  /// 60 s, not a timing assertion). True if it came.
  static func waitForListing(_ pid: String, _ specs: String, contains want: String) throws -> Bool {
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline {
      if try ctl(["debug", "--pid", pid, "--list", specs]).stdout.contains(want) { return true }
      usleep(50_000)
    }
    return false
  }

  /// Leases: `--ttl` switches the statements back when the time is up,
  /// `--hold` when the command exits. Negative control: a statement
  /// switched without a lease is still on after both went back.
  @Test func leasesSwitchStatementsBack() throws {
    let t = try Served()
    defer { t.stop() }
    let pid = "\(t.pid)"
    let plain = try Self.ctl(["debug", "--pid", pid, "module DynDbgPlugin +p"])
    #expect(plain.stdout == "matched=1 changed=1 on=1 off=0\n", "\(plain.stdout)\(plain.stderr)")
    let ttl = try Self.ctl(["debug", "--pid", pid, "--ttl", "300ms", "module DynDbgNet +p"])
    #expect(ttl.stdout == "matched=1 changed=1 on=1 off=0\n", "\(ttl.stdout)\(ttl.stderr)")
    #expect(try Self.waitForListing(pid, "module DynDbgNet", contains: "=_ \"frame\""), "the ttl never reverted")
    // --hold: on while the command runs, off once it is gone.
    let holder = Process()
    holder.executableURL = URL(fileURLWithPath: StressCommandTests.tool)
    holder.arguments = ["ctl", "debug", "--pid", pid, "--hold", "func store +p"]
    holder.standardOutput = FileHandle.nullDevice
    holder.standardError = FileHandle.nullDevice
    try holder.run()
    #expect(try Self.waitForListing(pid, "func store", contains: "store(_:) =p"), "the held query never applied")
    let held = t.report()
    DynamicDebugTests.expectOnly([3, 5], held.statements)
    kill(holder.processIdentifier, SIGTERM)
    holder.waitUntilExit()
    #expect(try Self.waitForListing(pid, "func store", contains: "store(_:) =_"), "the hold never reverted")
    let after = t.report()
    DynamicDebugTests.expectOnly([5], after.statements)
  }
}
