import Foundation
import Testing

/// Dynamic debug in a real process: `jumplabel-harness dyndbg` has debug
/// statements in two optimised modules (DynDbgCache, DynDbgNet) and, with
/// `--plugin`, in a library it dlopens after the runtime started. Every
/// check reads the child's own report: the control-file listing, the bytes
/// of every statement's sites, the batches and syncs of each query, and
/// what the statements printed on stderr.
@Suite struct DynamicDebugTests {
  struct Failure: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

  /// The statements of the fixtures: where they are, and what each prints
  /// when the harness runs it (Tests/DynDbgFixtures, SharedLibraries/DynDbgPlugin).
  static let statements: [(line: String, prints: [String])] = [
    ("DynDbgCache/CacheStatements.swift:11 [DynDbgCache]lookup(_:) =_ \"\"", ["cache miss for 7", "cache miss for -3"]),
    ("DynDbgCache/CacheStatements.swift:12 [DynDbgCache]lookup(_:) =_ \"cache evict\"", ["cache evict key=7", "cache evict key=-3"]),
    ("DynDbgCache/CacheStatements.swift:13 [DynDbgCache]lookup(_:) =_ \"\"", ["negative key -3"]),
    ("DynDbgCache/CacheStatements.swift:20 [DynDbgCache]store(_:) =_ \"\"", ["store 9"]),
    ("DynDbgNet/NetStatements.swift:9 [DynDbgNet]decode(_:) =_ \"frame\"", ["frame 41"]),
    ("DynDbgPlugin/PluginStatements.swift:8 [DynDbgPlugin]jlTestDynDbgPluginRun(_:) =_ \"\"", ["plugin run 5"]),
  ]

  /// What one run of the harness reported.
  struct Report {
    var queries: [String] = []
    var replies: [String] = []
    /// Listing line (flags as listed) -> bytes ("nop", "jmp", ...), sites.
    var listed: [(line: String, bytes: String, sites: Int)] = []
    var printed: [String] = []

    init(_ run: ChildRun) {
      for l in run.stdout.split(separator: "\n").map(String.init) {
        if l.hasPrefix("query") { queries.append(l) }
        if l.hasPrefix("reply") { replies.append(l) }
        if l.hasPrefix("stmt ") {
          let parts = l.dropFirst(5).split(separator: "|").map(String.init)
          guard parts.count == 3 else { continue }
          listed.append((parts[0], String(parts[2].dropFirst(6)), Int(parts[1].dropFirst(6)) ?? -1))
        }
      }
      printed = run.stderr.split(separator: "\n").map(String.init)
    }
  }

  static func harness(_ args: [String], _ more: String..., env: [String: String] = [:]) throws -> Report {
    try harness(args + more, env: env)
  }

  static func harness(_ args: [String], env: [String: String] = [:]) throws -> Report {
    let r = try spawn(StressCommandTests.harness, ["dyndbg"] + args, env: env, timeout: 120)
    #expect(r.status == 0 && !r.timedOut, "harness: \(r.status)\n\(r.stdout)\n\(r.stderr)")
    return Report(r)
  }

  /// The listing and the output say exactly the statements at `on` (indices
  /// into `statements`) are on: `=p` (or `flags`), a JMP at every site,
  /// their messages printed and no other.
  static func expectOnly(_ on: Set<Int>, _ report: Report, flags: [Int: String] = [:], plugin: Bool = true,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    let expected = statements.indices.filter { plugin || $0 != 5 }
    #expect(report.listed.count == expected.count, "listing: \(report.listed.map(\.line))", sourceLocation: sourceLocation)
    for i in expected {
      let (line, prints) = statements[i]
      let want = on.contains(i) ? line.replacingOccurrences(of: " =_ ", with: " =\(flags[i] ?? "p") ") : line
      let got = report.listed.first { $0.line.hasPrefix(String(line.prefix(while: { $0 != " " }))) }
      #expect(got?.line == want, "statement \(i): \(got?.line ?? "missing")", sourceLocation: sourceLocation)
      #expect(got?.sites == 1, sourceLocation: sourceLocation)
      #expect(got?.bytes == (on.contains(i) ? "jmp" : "nop"), "statement \(i) bytes", sourceLocation: sourceLocation)
      for p in prints {
        let seen = report.printed.contains { $0 == p || $0.hasSuffix(": " + p) || $0.hasSuffix("] " + p) }
        #expect(seen == on.contains(i), "'\(p)' printed: \(seen)", sourceLocation: sourceLocation)
      }
    }
  }

  @Test func listingShowsEveryStatementOff() throws {
    let r = try Self.harness(["--plugin"])
    Self.expectOnly([], r)
    #expect(r.printed.isEmpty, "\(r.printed)")
    // Negative control: without the library, its statement is missing and
    // the same check would fail on it.
    let without = try Self.harness([])
    #expect(without.listed.count == Self.statements.count - 1)
    #expect(!without.listed.contains { $0.line.contains("DynDbgPlugin") })
  }

  /// Each match spec selects exactly its statements, in one batch (three
  /// syncs) per command.
  @Test(arguments: [
    ("module DynDbgCache +p", Set([0, 1, 2, 3])),
    ("module DynDbg?et +p", Set([4])),
    ("file CacheStatements.swift +p", Set([0, 1, 2, 3])),
    ("file DynDbgNet/NetStatements.swift +p", Set([4])),
    ("file Cache*.swift:11-12 +p", Set([0, 1])),
    ("file CacheStatements.swift:store +p", Set([3])),
    ("func look* +p", Set([0, 1, 2])),
    ("func jlTestDynDbgPluginRun +p", Set([5])),
    ("line 13 +p", Set([2])),
    ("line -9 +p", Set([4, 5])),
    ("line 13- +p", Set([2, 3])),
    ("line 11-12 +p", Set([0, 1])),
    ("format evict +p", Set([1])),
    ("format 'cache ev' +p", Set([1])),
    ("module DynDbgCache func lookup line 12-13 +p", Set([1, 2])),
    ("+p", Set([0, 1, 2, 3, 4, 5])),
  ])
  func eachSpecSwitchesExactlyItsStatements(query: String, on: Set<Int>) throws {
    let r = try Self.harness(["--plugin", "--query", query])
    #expect(r.queries == ["query matched=\(on.count) changed=\(on.count) on=\(on.count) off=0 batches=1 syncs=3"], "\(r.queries)")
    Self.expectOnly(on, r)
  }

  /// Negative control of the above: a query that matches nothing patches
  /// nothing and prints nothing.
  @Test func aQueryMatchingNothingChangesNothing() throws {
    let r = try Self.harness(["--plugin", "--query", "module NoSuchModule +p"])
    #expect(r.queries == ["query matched=0 changed=0 on=0 off=0 batches=0 syncs=0"])
    Self.expectOnly([], r)
    #expect(r.printed.isEmpty)
  }

  /// `-p` and `=`: off again, in one batch; decorations change no bytes.
  @Test func offAgainAndDecorations() throws {
    let r = try Self.harness([
      "--plugin", "--query", "module DynDbgCache +p", "--query", "module DynDbgCache line 11-12 -p",
      "--query", "module DynDbgNet =pmfl", "--query", "module DynDbgNet +t",
    ])
    #expect(r.queries == [
      "query matched=4 changed=4 on=4 off=0 batches=1 syncs=3",
      "query matched=2 changed=2 on=0 off=2 batches=1 syncs=3",
      "query matched=1 changed=1 on=1 off=0 batches=1 syncs=3",
      "query matched=1 changed=1 on=0 off=0 batches=0 syncs=0",
    ], "\(r.queries)")
    #expect(r.listed.first { $0.line.contains("NetStatements") }?.line.contains("=ptmfl") == true)
    #expect(r.printed.contains { $0.hasSuffix("] DynDbgNet:decode(_:):9: frame 41") && $0.hasPrefix("[") }, "\(r.printed)")
    #expect(r.printed.contains("store 9") && r.printed.contains("negative key -3"))
    #expect(!r.printed.contains("cache miss for 7"))
  }

  /// A syntax error anywhere refuses the whole query, with its position and
  /// reason, and changes nothing; the same query without the error applies
  /// (the negative control).
  @Test func aSyntaxErrorChangesNothing() throws {
    let bad = try Self.harness(["--plugin", "--query", "module DynDbgCache +p; fil x +p"])
    #expect(bad.queries == ["query-error syntax error at 23: unknown keyword 'fil' (module, file, func, line, format)"], "\(bad.queries)")
    Self.expectOnly([], bad)
    for q in ["module DynDbgCache +q", "line 9-3 +p", "module", "format \"open +p", "module a module b +p", "file x.swift:+p"] {
      let r = try Self.harness(["--query", q])
      #expect(r.queries.count == 1 && r.queries[0].hasPrefix("query-error syntax error at "), "\(q): \(r.queries)")
      Self.expectOnly([], r, plugin: false)
    }
    let good = try Self.harness(["--plugin", "--query", "module DynDbgCache +p; file x +p"])
    #expect(good.queries == ["query matched=4 changed=4 on=4 off=0 batches=1 syncs=3"], "\(good.queries)")
    Self.expectOnly([0, 1, 2, 3], good)
  }

  /// `JUMPLABEL_DYNDBG` reaches the library loaded after start-up: its
  /// statement is on (a JMP) from its first instruction. Negative control:
  /// without the variable it is off.
  @Test func startupQueryAppliesToTheLateLibrary() throws {
    let r = try Self.harness(["--plugin"], env: ["JUMPLABEL_DYNDBG": "module DynDbgPlugin +pt # the plugin\nfunc store +p"])
    Self.expectOnly([3, 5], r, flags: [5: "pt"])
    #expect(r.printed.contains { $0.hasPrefix("[") && $0.hasSuffix("] plugin run 5") }, "\(r.printed)")
    let control = try Self.harness(["--plugin"])
    Self.expectOnly([], control)
    // A bad variable is reported and ignored.
    let bad = try Self.harness(["--plugin"], env: ["JUMPLABEL_DYNDBG": "module DynDbgPlugin +pz"])
    Self.expectOnly([], bad)
    #expect(bad.printed.contains { $0.contains("JUMPLABEL_DYNDBG ignored: syntax error at") })
  }

  /// The text commands the control server carries (DebugControlCommand):
  /// a listing as JSON, a query, the live levels; bad commands are
  /// refused with a reason and change nothing (the negative control: the
  /// listing after them is as before).
  @Test func controlTextCommands() throws {
    let r = try Self.harness([], "--command", "list-json module DynDbgNet", "--command", "query file Net* +p",
                             "--command", "list line 9", "--command", "bogus", "--command", "query module +p",
                             "--command", "log module DynDbgCache loud", "--command", "log module DynDbgCache debug",
                             "--command", "log label db  pool one  debug", "--command", "log label solo",
                             "--command", "log show")
    #expect(r.replies == [
      "reply {\"file\":\"DynDbgNet/NetStatements.swift\",\"line\":9,\"column\":10,\"module\":\"DynDbgNet\",\"function\":\"decode(_:)\",\"flags\":\"_\",\"format\":\"frame\",\"level\":0,\"sites\":1,\"key\":\"dyndbg:DynDbgNet/NetStatements.swift:9:10 decode(_:) 0 frame\"}",
      "reply matched=1 changed=1 on=1 off=0",
      "reply DynDbgNet/NetStatements.swift:9 [DynDbgNet]decode(_:) =p \"frame\"",
      "reply-error syntax error at 0: unknown command 'bogus' (query, list, list-json, log)",
      "reply-error syntax error at 0: 'module' needs a value",
      "reply-error syntax error at 0: unknown level 'loud' (trace, debug, info, notice, warning, error, critical, none, or default)",
      "reply changed=0 on=0 off=0",
      "reply changed=0 on=0 off=0",
      "reply-error syntax error at 0: log takes: module NAME LEVEL | label NAME LEVEL | default LEVEL | show",
      "reply default info",
      "reply module DynDbgCache debug",
      "reply label db  pool one debug",
    ], "\(r.replies)")
    Self.expectOnly([4], r, plugin: false)
  }

  /// A query that matches 1,000 statements switches them all in one batch
  /// of three syncs, every site a JMP after it, every message printed. The
  /// duration is reported, not asserted.
  @Test func aThousandStatementsAreOneBatch() throws {
    let r = try spawn(StressCommandTests.harness, ["dyndbg", "--many"], timeout: 120)
    #expect(r.status == 0, "\(r.stderr)")
    let line = r.stdout.split(separator: "\n").first { $0.hasPrefix("many ") }.map(String.init) ?? ""
    #expect(line.hasPrefix("many matched=1000 on=1000 batches=1 syncs=3 sites=1000 jmp=1000 nanoseconds="), "\(line)")
    let printed = Set(r.stderr.split(separator: "\n").map(String.init))
    #expect((0..<1000).allSatisfy { printed.contains("many \($0) 1") }, "\(printed.count) lines")
  }
}
