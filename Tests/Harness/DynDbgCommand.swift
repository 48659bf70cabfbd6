import ArgumentParser
import DynDbgCache
import DynDbgNet
import Foundation
import JumpLabel
@_spi(Testing) import JumpLabelControl
import TextPoke

/// `jumplabel-harness dyndbg`: debug statements in two modules (DynDbgCache,
/// DynDbgNet) and, with `--plugin`, in a library dlopened after the runtime
/// started. Applies each `--query` in order, then prints:
///
///     query matched=M changed=C on=N off=F batches=B syncs=S
///     query-error <description>                 (nothing applied)
///     reply <line> / reply-error <description>  (each --command)
///     stmt <control-file line>|sites=N|bytes=nop|jmp|mixed|none
///
/// one `stmt` line per statement (after `--list SPECS`, only those), then
/// runs every statement once (enabled ones print to stderr).
struct DynDbgCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "dyndbg", abstract: "Debug statements for the dynamic-debug tests.")

  @Flag(help: "dlopen the statement library after the runtime started.") var plugin = false
  @Option(help: "A query to apply (repeatable, in order).") var query: [String] = []
  @Option(help: "List only the statements these match specs select.") var list = ""
  @Option(help: "A control text command (DebugControlCommand), run after the queries (repeatable).") var command: [String] = []
  @Flag(help: "Switch DynDbgMany's 1,000 statements on in one query and report it: 'many matched=M batches=B syncs=S sites=N jmp=J nanoseconds=T matching-only=T2' (T2: the same query again, nothing left to switch).")
  var many = false
  @Flag(help: "Start the control server, print 'dyndbg: pid P socket S', then for each line on stdin report and run the statements (then 'done'); exit at EOF.")
  var serve = false
  @Flag(help: "With --serve: a debug lease's end puts back only the statements' p flag (the negative control of the lease tests).")
  var testLeaseRestoresOnlyPrint = false

  func run() throws {
    _ = StaticKeys.list()  // the runtime indexes the loaded images now
    typealias Run = @convention(c) (Int) -> Void
    var pluginRun: Run?
    if plugin { pluginRun = try Self.open("libJumpLabelTestDynDbgPlugin.so", "jl_test_dyndbg_plugin_run") }
    for q in query {
      let before = TextPoke.statistics
      do {
        let r = try DynamicDebug.apply(q)
        let after = TextPoke.statistics
        print("query matched=\(r.matched) changed=\(r.changed) on=\(r.enabled) off=\(r.disabled) batches=\(after.batches - before.batches) syncs=\(after.syncs - before.syncs)")
      } catch {
        print("query-error \(error)")
      }
    }
    if serve { return try serveLoop(pluginRun) }
    if many { return try manyStatements(try Self.open("libJumpLabelTestDynDbgMany.so", "jl_test_dyndbg_many_run")) }
    for c in command {
      do {
        for l in try DebugControlCommand.run(c) { print("reply \(l)") }
      } catch {
        print("reply-error \(error)")
      }
    }
    try report(pluginRun)
  }

  /// The `stmt` lines, then one run of every statement.
  func report(_ pluginRun: (@convention(c) (Int) -> Void)?) throws {
    for e in try DynamicDebug.statements(matching: list) {
      let sites = (try? StaticKeys.sites(named: e.keyName)) ?? []
      let nop = sites.filter { $0.currentBytes == StaticKeySite.nop5 }.count
      let bytes = sites.isEmpty ? "none" : nop == sites.count ? "nop" : nop == 0 ? "jmp" : "mixed"
      print("stmt \(e)|sites=\(sites.count)|bytes=\(bytes)")
    }
    fflush(nil)
    _ = DynDbgCache.lookup(7)
    _ = DynDbgCache.lookup(-3)
    DynDbgCache.store(9)
    _ = DynDbgNet.decode(41)
    pluginRun?(5)
  }

  func serveLoop(_ pluginRun: (@convention(c) (Int) -> Void)?) throws {
    var o = JumpLabelControl.Options()
    o._debugLeaseRestoresOnlyPrint = testLeaseRestoresOnlyPrint
    try JumpLabelControl.start(o)
    let deadline = Date().addingTimeInterval(30)
    while JumpLabelControl.socketPath == nil && Date() < deadline { usleep(10_000) }
    guard let path = JumpLabelControl.socketPath else { throw ValidationError("no control socket") }
    print("dyndbg: pid \(getpid()) socket \(path)")
    fflush(nil)
    while readLine() != nil {
      try report(pluginRun)
      print("done")
      fflush(nil)
    }
  }

  /// dlopens a fixture library next to this program; its function `name`.
  static func open(_ file: String, _ name: String) throws -> @convention(c) (Int) -> Void {
    let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let path = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(file).path
    guard let h = dlopen(path, RTLD_NOW | RTLD_LOCAL) else { throw ValidationError("dlopen \(path): \(String(cString: dlerror()))") }
    guard let f = dlsym(h, name) else { throw ValidationError("dlsym \(name) failed in \(path)") }
    return unsafeBitCast(f, to: (@convention(c) (Int) -> Void).self)
  }

  /// One query that matches DynDbgMany's statements (the duration is
  /// reported, never asserted), then their bytes.
  func manyStatements(_ run: @convention(c) (Int) -> Void) throws {
    _ = DynamicDebug.statements()  // indexed before the measurement
    let before = TextPoke.statistics
    var t0 = timespec(), t1 = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t0)
    let r = try DynamicDebug.apply("module DynDbgMany +p")
    clock_gettime(CLOCK_MONOTONIC, &t1)
    let after = TextPoke.statistics
    let ns = (t1.tv_sec - t0.tv_sec) * 1_000_000_000 + (t1.tv_nsec - t0.tv_nsec)
    // The part of it that is listing and matching, not patching: the same
    // listing and match again, with nothing to switch.
    var t2 = timespec(), t3 = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t2)
    _ = try DynamicDebug.apply("module DynDbgMany +p")
    clock_gettime(CLOCK_MONOTONIC, &t3)
    let matchNs = (t3.tv_sec - t2.tv_sec) * 1_000_000_000 + (t3.tv_nsec - t2.tv_nsec)
    var sites = 0, jmp = 0
    for e in DynamicDebug.statements() where e.statement.module == "DynDbgMany" {
      for s in try StaticKeys.sites(named: e.keyName) {
        sites += 1
        if s.currentBytes == s.expectedBytes(enabled: true) && s.currentBytes != StaticKeySite.nop5 { jmp += 1 }
      }
    }
    print("many matched=\(r.matched) on=\(r.enabled) batches=\(after.batches - before.batches) syncs=\(after.syncs - before.syncs) sites=\(sites) jmp=\(jmp) nanoseconds=\(ns) matching-only=\(matchNs)")
    run(1)
  }
}
