import Foundation
import Testing

/// `ctl debug --ttl/--hold` through the real CLI against a real process:
/// when the lease ends, every statement the query changed gets back its
/// flags from before the query, `p` and decorations; a statement changed
/// again since stays as it is. Each wait is for the lease's end line in
/// the target's audit log (its stderr), with a generous deadline as a
/// hang guard only.
extension DynamicDebugCLITests {
  /// Waits until the audit log of `t` (its stderr) holds a line with
  /// `want`; that line, or nil after 60 s (a hang guard, not a timing
  /// assertion).
  static func waitForAudit(_ t: Served, _ want: String) -> String? {
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline {
      let text = (try? String(contentsOfFile: t.errors, encoding: .utf8)) ?? ""
      if let line = text.split(separator: "\n").first(where: { $0.contains(want) }) { return String(line) }
      usleep(50_000)
    }
    return nil
  }

  /// Runs `jumplabel ctl debug --pid P --hold QUERY` until it is killed.
  static func holder(_ pid: String, _ query: String) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: StressCommandTests.tool)
    p.arguments = ["ctl", "debug", "--pid", pid, "--hold", query]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    return p
  }

  static func release(_ p: Process) {
    kill(p.processIdentifier, SIGTERM)
    p.waitUntilExit()
  }

  /// A `--ttl` lease of `+pt` on statements that were `=_`: back to `=_`
  /// (listing, NOP bytes, nothing printed), not to `=t`.
  @Test func aTTLLeaseOfPrintAndThreadComesBackToNothing() throws {
    let t = try Served()
    defer { t.stop() }
    let pid = "\(t.pid)"
    let q = try Self.ctl(["debug", "--pid", pid, "--ttl", "300ms", "file Cache*.swift line 11-12 +pt"])
    #expect(q.status == 0 && q.stdout == "matched=2 changed=2 on=2 off=0\n", "\(q.stdout)\(q.stderr)")
    let end = Self.waitForAudit(t, "ended (its ttl ran out)")
    #expect(end?.hasSuffix(": 2 restored (0 on, 2 off), 0 changed again since, 0 gone") == true, "\(end ?? "the ttl never ran out")")
    let list = try Self.ctl(["debug", "--pid", pid, "--list"])
    #expect(list.stdout.split(separator: "\n").map(String.init) == DynamicDebugTests.statements.map(\.line), "\(list.stdout)")
    DynamicDebugTests.expectOnly([], t.report().statements)
  }

  /// A decoration-only lease (`+f` on statements printing with `=pm`),
  /// held by a `--hold` client; the module's listing once it is gone.
  static func decorationLease(_ t: Served) throws -> [String] {
    let pid = "\(t.pid)"
    let plain = try ctl(["debug", "--pid", pid, "module DynDbgCache +pm"])
    #expect(plain.stdout == "matched=4 changed=4 on=4 off=0\n", "\(plain.stdout)\(plain.stderr)")
    let h = try holder(pid, "module DynDbgCache +f")
    #expect(try waitForListing(pid, "func store", contains: "store(_:) =pmf"), "the held query never applied")
    let held = t.report()
    DynamicDebugTests.expectOnly([0, 1, 2, 3], held.statements, flags: [0: "pmf", 1: "pmf", 2: "pmf", 3: "pmf"])
    release(h)
    #expect(waitForAudit(t, "ended (the client holding it disconnected)") != nil, "the hold never ended")
    return try ctl(["debug", "--pid", pid, "--list", "module DynDbgCache"]).stdout.split(separator: "\n").map(String.init)
  }

  /// The decorations go back (`=pmf` → `=pm`), `p` stays: every statement
  /// still prints (its site a JMP).
  @Test func aDecorationLeaseRestoresTheDecorationsAndKeepsPrint() throws {
    let t = try Served()
    defer { t.stop() }
    let listing = try Self.decorationLease(t)
    #expect(listing.count == 4 && listing.allSatisfy { $0.contains(" =pm \"") }, "\(listing)")
    DynamicDebugTests.expectOnly([0, 1, 2, 3], t.report().statements, flags: [0: "pm", 1: "pm", 2: "pm", 3: "pm"])
    #expect(Self.waitForAudit(t, "ended (the client holding it disconnected): 4 restored (0 on, 0 off)") != nil)
  }

  /// Negative control: a server whose lease end puts back only `p` (the
  /// old behaviour, `_debugLeaseRestoresOnlyPrint`) leaves `=pmf`, which
  /// the check above refuses; and a `+pt` lease comes back to `=t`.
  @Test func negativeControlRestoringOnlyPrintLeavesTheDecorations() throws {
    let t = try Served(["--test-lease-restores-only-print"])
    defer { t.stop() }
    let listing = try Self.decorationLease(t)
    #expect(listing.count == 4 && listing.allSatisfy { $0.contains(" =pmf \"") }, "\(listing)")
    #expect(!listing.allSatisfy { $0.contains(" =pm \"") })
    let pid = "\(t.pid)"
    let q = try Self.ctl(["debug", "--pid", pid, "--ttl", "300ms", "module DynDbgNet +pt"])
    #expect(q.stdout == "matched=1 changed=1 on=1 off=0\n", "\(q.stdout)\(q.stderr)")
    #expect(Self.waitForAudit(t, "ended (its ttl ran out)") != nil, "the ttl never ran out")
    let net = try Self.ctl(["debug", "--pid", pid, "--list", "module DynDbgNet"])
    #expect(net.stdout == "DynDbgNet/NetStatements.swift:9 [DynDbgNet]decode(_:) =t \"frame\"\n", "\(net.stdout)")
  }

  /// A statement whose flags were changed again during the lease (`-t`)
  /// is left alone, and the audit log says so; the lease's other
  /// statement goes back.
  @Test func aStatementChangedDuringTheLeaseIsLeftAlone() throws {
    let t = try Served()
    defer { t.stop() }
    let pid = "\(t.pid)"
    let h = try Self.holder(pid, "func store +pt; module DynDbgNet +pt")
    #expect(try Self.waitForListing(pid, "module DynDbgNet", contains: "decode(_:) =pt"), "the held query never applied")
    let held = t.report()
    DynamicDebugTests.expectOnly([3, 4], held.statements, flags: [3: "pt", 4: "pt"])
    let again = try Self.ctl(["debug", "--pid", pid, "module DynDbgNet -t"])
    #expect(again.stdout == "matched=1 changed=1 on=0 off=0\n", "\(again.stdout)\(again.stderr)")
    Self.release(h)
    let end = Self.waitForAudit(t, "ended (the client holding it disconnected)")
    #expect(end?.hasSuffix(": 1 restored (0 on, 1 off), 1 changed again since, 0 gone") == true, "\(end ?? "the hold never ended")")
    let note = Self.waitForAudit(t, "not reverting 'dyndbg:DynDbgNet/NetStatements.swift:9:")
    #expect(note?.hasSuffix("it was changed again since") == true, "\(note ?? "no note")")
    DynamicDebugTests.expectOnly([4], t.report().statements)
  }
}
