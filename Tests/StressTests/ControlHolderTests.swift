import Foundation
import JumpLabelFixtures
import Testing

/// #17 against the real CLI and a real target process: holders, forced
/// disables, typos, and what a toggle cost. Each check with its negative
/// control.
@Suite(.serialized) struct ControlHolderTests {
  typealias Target = ControlTests.Target

  /// A `ctl trace` client running in the background: stdout to /dev/null
  /// (a hot tracepoint would fill a pipe nobody reads yet), stderr to a file.
  final class TraceClient: @unchecked Sendable {
    // @unchecked: used from the test's thread only.
    let process = Process()
    let stderrPath = FileManager.default.temporaryDirectory.appendingPathComponent("jumplabel-trace-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).err").path

    init(_ args: [String]) throws {
      process.executableURL = URL(fileURLWithPath: StressCommandTests.tool)
      process.arguments = ["ctl", "trace"] + args
      process.standardOutput = FileHandle.nullDevice
      process.standardInput = FileHandle.nullDevice
      _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
      process.standardError = FileHandle(forWritingAtPath: stderrPath)
      try process.run()
    }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    var pid: Int32 { process.processIdentifier }

    /// Waits for the client to exit (hang guard: 30 s); true if it did.
    func waitForExit() -> Bool {
      let deadline = Date().addingTimeInterval(30)
      while process.isRunning && Date() < deadline { usleep(20_000) }
      return !process.isRunning
    }

    func stop() {
      if process.isRunning { kill(process.processIdentifier, SIGKILL) }
      process.waitUntilExit()
      try? FileManager.default.removeItem(atPath: stderrPath)
    }
  }

  static func holders(_ t: Target, _ name: String) throws -> [String] {
    ControlTests.entry(try ControlTests.list(t), name)?["holders"] as? [String] ?? []
  }

  /// Waits until `ok` (hang guard: 60 s); true if it happened.
  static func eventually(_ ok: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline {
      if try ok() { return true }
      usleep(20_000)
    }
    return try ok()
  }

  /// `ctl disable` of a tracepoint a trace client holds refuses, names the
  /// client, and changes nothing (the trace goes on: the negative
  /// control); `--force` goes ahead, and the client is told and ends with
  /// the reason and a non-zero exit status.
  @Test func aTraceClientIsToldWhenForcedOff() throws {
    let t = try Target()
    defer { t.stop() }
    let name = "fixture.trace.request"
    let client = try TraceClient(["--pid", "\(t.pid)", name])
    defer { client.stop() }
    let holder = "trace pid \(client.pid)"
    #expect(try Self.eventually { try Self.holders(t, name).contains(holder) }, "the trace client never held \(name): \(client.stderr)")

    let refused = try ControlTests.ctl(["disable", "--pid", "\(t.pid)", name])
    #expect(refused.status != 0 && refused.stderr.contains(holder), "\(refused.stdout)\(refused.stderr)")
    #expect(ControlTests.entry(try ControlTests.list(t), name)?["enabled"] as? Bool == true, "a refused disable switched it off")
    #expect(client.process.isRunning && !client.stderr.contains("trace ended"), "a refused disable ended the trace: \(client.stderr)")

    let forced = try ControlTests.ctl(["disable", "--pid", "\(t.pid)", "--force", name])
    #expect(forced.status == 0, "\(forced.stderr)")
    #expect(client.waitForExit(), "the trace client was not told: \(client.stderr)")
    #expect(client.process.terminationStatus != 0, "a trace cut off by --force exited 0")
    #expect(client.stderr.contains("trace ended: disabled by pid ") && client.stderr.contains("(jumplabel ctl --force)"), "\(client.stderr)")
    let after = ControlTests.entry(try ControlTests.list(t), name)
    #expect(after?["enabled"] as? Bool == false && (after?["holders"] as? [String])?.isEmpty == true, "\(after ?? [:])")
    #expect((after?["forcedOff"] as? String)?.contains("jumplabel ctl --force") == true, "\(after ?? [:])")
    #expect(t.audit.contains("ended: disabled by pid"), "\(t.audit)")
  }

  /// An in-process probe of the target (a JSON Lines sink) is a holder
  /// too: the plain disable refuses and the sink keeps receiving; the
  /// forced one switches it off and the sink gets nothing more, even once
  /// the tracepoint is enabled again (its probe was dropped).
  @Test func anInProcessProbeIsAHolder() throws {
    let sink = FileManager.default.temporaryDirectory.appendingPathComponent("jumplabel-holder-sink-\(getpid()).jsonl").path
    let t = try Target(sinkFile: sink)
    defer { t.stop() }
    func size() -> Int { ((try? FileManager.default.attributesOfItem(atPath: sink))?[.size] as? Int) ?? 0 }
    let name = "fixture.trace.sample"
    #expect(try Self.eventually { try Self.holders(t, name).contains { $0.hasPrefix("probe ") } })
    let refused = try ControlTests.ctl(["disable", "--pid", "\(t.pid)", name])
    #expect(refused.status != 0 && refused.stderr.contains("probe "), "\(refused.stderr)")
    let before = size()
    #expect(Self.eventually { size() > before }, "the sink stopped after a refused disable")
    let forced = try ControlTests.ctl(["disable", "--pid", "\(t.pid)", "--force", name])
    #expect(forced.status == 0, "\(forced.stderr)")
    #expect(try Self.holders(t, name).isEmpty)
    let enabled = try ControlTests.ctl(["enable", "--pid", "\(t.pid)", name])
    #expect(enabled.status == 0, "\(enabled.stderr)")
    #expect(try Self.holders(t, name) == ["enabled"])
    // The sink's last event was written before the forced disable
    // returned; give the threads a few thousand emits' worth of chances.
    let settled = size()
    for _ in 0..<20 { usleep(10_000) }
    #expect(size() == settled, "a forced-off probe was called again after the tracepoint was enabled")
  }

  /// A typo is refused with a suggestion; `--undeclared` remembers it on
  /// purpose; `ctl forget` drops it (and refuses a declared name); a key
  /// named where a tracepoint is expected says so.
  @Test func typosAreCaughtAndForgotten() throws {
    let t = try Target()
    defer { t.stop() }
    let typo = "fixture.ctl.verbsoe"
    let refused = try ControlTests.ctl(["enable", "--pid", "\(t.pid)", typo])
    #expect(refused.status != 0 && refused.stderr.contains("did you mean fixture.ctl.verbose (key)"), "\(refused.stdout)\(refused.stderr)")
    #expect(ControlTests.entry(try ControlTests.list(t), typo) == nil, "a refused typo was remembered")

    let remembered = try ControlTests.ctl(["enable", "--pid", "\(t.pid)", "--undeclared", typo, "--json"])
    #expect(remembered.status == 0 && ControlTests.json(remembered).first?["declared"] as? Bool == false, "\(remembered.stdout)\(remembered.stderr)")
    #expect(ControlTests.entry(try ControlTests.list(t), typo)?["declared"] as? Bool == false)

    let declared = try ControlTests.ctl(["forget", "--pid", "\(t.pid)", "fixture.ctl.verbose"])
    #expect(declared.status != 0 && declared.stderr.contains("cannot be forgotten"), "\(declared.stderr)")
    let forgot = try ControlTests.ctl(["forget", "--pid", "\(t.pid)", typo])
    #expect(forgot.status == 0 && ControlTests.json(forgot).first?["name"] as? String == typo, "\(forgot.stdout)\(forgot.stderr)")
    #expect(ControlTests.entry(try ControlTests.list(t), typo) == nil, "a forgotten name is still listed")

    let key = try ControlTests.ctl(["trace", "--pid", "\(t.pid)", "fixture.ctl.verbose", "--count", "1"])
    #expect(key.status != 0 && key.stderr.contains("is a static key, not a tracepoint"), "\(key.stderr)")
    let tp = try ControlTests.ctl(["trace", "--pid", "\(t.pid)", "fixture.trace.requets", "--count", "1"])
    #expect(tp.status != 0 && tp.stderr.contains("did you mean fixture.trace.request"), "\(tp.stderr)")
  }

  /// `enable`/`disable` report the batch: sites patched, protocol, syncs,
  /// and its duration measured in the target; nothing when nothing was
  /// patched (the second enable: the negative control).
  @Test func aToggleReportsWhatItCost() throws {
    let t = try Target()
    defer { t.stop() }
    let on = try ControlTests.ctl(["enable", "--pid", "\(t.pid)", "fixture.ctl.audit", "--json"])
    #expect(on.status == 0, "\(on.stderr)")
    let batch = ControlTests.json(on).first?["batch"] as? [String: Any]
    if Fixture.compiledWithSites {
      #expect((batch?["sitesPatched"] as? Int ?? 0) >= 1 && (batch?["syncs"] as? Int ?? 0) >= 2 && (batch?["nanoseconds"] as? Int ?? 0) > 0, "\(on.stdout)")
      #expect(["int3", "self-loop", "parked", "valgrind"].contains(batch?["protocol"] as? String ?? ""), "\(on.stdout)")
    } else {
      #expect(batch == nil, "a debug build has no sites to patch: \(on.stdout)")
    }
    let again = try ControlTests.ctl(["enable", "--pid", "\(t.pid)", "fixture.ctl.audit", "--json"])
    #expect(again.status == 0 && ControlTests.json(again).first?["batch"] == nil, "\(again.stdout)")
    #expect(try Self.holders(t, "fixture.ctl.audit") == ["enabled"])
  }
}
