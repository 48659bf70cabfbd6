import Foundation
import Testing

/// Sites in shared libraries, with the libraries this package builds
/// (Tests/SharedLibraries), loaded for real with dlopen in a child process
/// (`jumplabel-harness exercise-libraries`): a pinned Swift library stays loaded
/// for the rest of a process, so each scenario needs a fresh one. The
/// fixture libraries are optimised in every configuration, so these tests
/// check real NOP/JMP sites in debug runs too.
@Suite(.serialized) struct SharedLibraryTests {
  static func libraries(_ args: [String]) throws -> ChildRun {
    try spawn(StressCommandTests.harness, ["exercise-libraries"] + args, env: ["SWIFT_BACKTRACE": "enable=no"], timeout: 240)
  }

  static func failures(_ r: ChildRun) -> [String] {
    r.stdout.split(separator: "\n").filter { $0.hasPrefix("FAIL") }.map(String.init)
  }

  /// Library A inverts keys in its initializer; library B, loaded after,
  /// sees the inverted states in its own constructor, follows toggles made
  /// from the executable and through its own runtime copy, and survives
  /// dlclose and reload (pinned: it holds Swift code).
  @Test func libraryPairSeesKeysFromItsFirstInstruction() throws {
    let r = try Self.libraries(["pair"])
    #expect(r.status == 0 && !r.signalled, "\(r.stdout)\(r.stderr)")
    #expect(Self.failures(r).isEmpty, "\(r.stdout)")
    #expect(r.stdout.contains("ok   B's sites, run by B's constructor inside dlopen, saw the inverted states"), "\(r.stdout)")
    #expect(r.stdout.contains("ok   dlclose(B) leaves the pinned B loaded"), "\(r.stdout)")
  }

  /// Negative control: without the load hook, B's constructor runs its
  /// sites in their compiled-in state, and the check above catches it.
  @Test func libraryPairCheckFailsWithoutTheLoadHook() throws {
    let r = try Self.libraries(["pair", "--fault", "ignore-loads"])
    #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
    #expect(Self.failures(r).contains { $0.contains("B's constructor inside dlopen") }, "\(r.stdout)")
  }

  /// The churn stress: toggles, dlopen/dlclose of a C library with 512
  /// sites (really unmapped each time), workers calling into it, checked
  /// for linearizability, under a watchdog that fails with a thread dump.
  @Test func dlopenChurnKeepsSitesRightAndNeverDeadlocks() throws {
    let r = try Self.libraries(["churn", "--duration", "3", "--watchdog", "20"])
    #expect(r.status == 0 && !r.signalled, "\(r.stdout)\(r.stderr)")
    #expect(Self.failures(r).isEmpty, "\(r.stdout)")
    #expect(r.stdout.contains("\nok   0 linearizability violations"), "\(r.stdout)")
    #expect(r.stdout.contains("512/512 of its sites"), "\(r.stdout)")
    #expect(r.stdout.contains("ok   the swiftrt-linked C library is pinned"), "\(r.stdout)")
  }

  /// Negative controls of the churn: a load hook that does nothing leaves
  /// new copies of the library in the wrong state (violations); an unload
  /// hook that does nothing leaves stale sites in the index (a toggle finds
  /// foreign bytes where a site was, or the reloaded library is not
  /// re-indexed).
  ///
  /// Every way a broken run can end counts as caught: failed checks (exit
  /// 1), a crash (a signal: a toggle that finds foreign bytes where a site
  /// was stops the process rather than leave text half-patched), or the
  /// watchdog's exit 3 (the crash report itself can hang on the loader's
  /// lock while another thread waits in dlopen, and the watchdog ends it).
  @Test func dlopenChurnCatchesMissingHooks() throws {
    let loads = try Self.libraries(["churn", "--duration", "2", "--watchdog", "10", "--fault", "ignore-loads"])
    #expect(Self.caught(loads), "\(loads.stdout)\(loads.stderr.suffix(2000))")
    if loads.status == 1 {
      #expect(Self.failures(loads).contains { $0.contains("linearizability violations") }, "\(loads.stdout)")
    }
    let unloads = try Self.libraries(["churn", "--duration", "2", "--watchdog", "10", "--fault", "ignore-unloads"])
    #expect(Self.caught(unloads), "the stale index went unnoticed: \(unloads.stdout)\(unloads.stderr.suffix(2000))")
  }

  /// A broken run, however it ended.
  static func caught(_ r: ChildRun) -> Bool {
    r.signalled || r.timedOut || r.status == 3 || (r.status == 1 && !failures(r).isEmpty)
  }

  /// The enforcement: the check the runtime makes before every loader call
  /// traps when it runs under the registry and patch locks (here from the
  /// patcher's mid-batch hook), naming the violation, instead of
  /// deadlocking; the same check passed before, outside the locks.
  @Test func loaderCallUnderOurLocksIsCaughtByTheCheck() throws {
    let r = try Self.libraries(["churn", "--fault", "checked-loader-under-lock"])
    #expect(r.stdout.contains("ok   the check passes outside our locks"), "\(r.stdout)")
    #expect(r.signalled, "the check did not trap: \(r.stdout)\(r.stderr)")
    #expect(r.stderr.contains("lock order violation"), "\(r.stderr.suffix(2000))")
  }

  /// Builds Tests/SharedLibraries/InitOrder with the toolchain's clang (a
  /// shape SwiftPM cannot build: libraries linked against each other).
  static func buildInitOrderLibraries() throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let src = root.appendingPathComponent("Tests/SharedLibraries/InitOrder").path
    let include = root.appendingPathComponent("Sources/CJumpLabelSite/include").path
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jumplabel-init-order-\(getpid())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let clang = ["/opt/swift/usr/bin/clang", "/usr/bin/clang"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "clang"
    let common = ["-fPIC", "-shared", "-I", include, "-Wl,-rpath,$ORIGIN", "-L", dir]
    for (lib, opt, file, libs) in [("X", "-O0", "x.c", [String]()), ("Z", "-O2", "z.c", ["-lX"]), ("A", "-O2", "a.c", ["-lX", "-lZ"])] {
      let r = try spawn(clang, [opt] + common + ["\(src)/\(file)"] + libs + ["-o", "\(dir)/lib\(lib).so"])
      if r.status != 0 {
        try? FileManager.default.removeItem(atPath: dir)
        throw CompileFailure(description: "clang lib\(lib).so: \(r.stderr)")
      }
    }
    return dir
  }

  struct CompileFailure: Error, CustomStringConvertible { let description: String }

  /// The runtime's first use inside a constructor of one library while a
  /// sibling of the same dlopen is mapped but not initialised: the
  /// runtime's walk of the images must not initialise the sibling early.
  /// Negative control: the earlier design, which asked the loader about
  /// every walked image with dlopen(RTLD_NOLOAD), does exactly that.
  @Test func firstUseInsideAConstructorKeepsConstructorOrder() throws {
    try MachineWide.exclusively { try initOrder() }
  }

  private func initOrder() throws {
    let dir = try Self.buildInitOrderLibraries()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = try Self.libraries(["init-order", "--dir", dir])
    #expect(r.status == 0 && !r.signalled, "\(r.stdout)\(r.stderr)")
    #expect(Self.failures(r).isEmpty, "\(r.stdout)")
    // Deterministic once no bpftrace attached by path switches the
    // harness's tracepoints on meanwhile (MachineWide): that made the
    // runtime's first walk on the USDT watcher's thread, before the dlopen.
    let bad = try Self.libraries(["init-order", "--dir", dir, "--fault", "dlopen-walked-images"])
    #expect(Self.failures(bad).contains { $0.contains("Z's constructor ran after X's") }, "the hazard did not reproduce: \(bad.stdout)\(bad.stderr)")
  }

  /// Another version of the runtime (another ABI) cannot share the
  /// registry: it is detected, reported, and toggles are refused rather than
  /// risk two patchers on one site. Negative control: with detection off,
  /// the toggle goes ahead.
  @Test func runtimeOfAnotherABIIsDetectedAndTogglingStops() throws {
    let r = try Self.libraries(["foreign"])
    #expect(r.status == 0 && Self.failures(r).isEmpty, "\(r.stdout)\(r.stderr)")
    let bad = try Self.libraries(["foreign", "--fault", "ignore-foreign-runtimes"])
    #expect(Self.failures(bad).contains { $0.contains("a toggle still patched") }, "\(bad.stdout)\(bad.stderr)")
  }

  /// Negative control of the lock order and of the watchdog: a patcher that
  /// calls dlopen while holding the registry and patch locks deadlocks
  /// against dlclose (the seed's hang), and the watchdog ends the process
  /// with exit status 3 and a thread dump instead of hanging.
  @Test func lockOrderViolationDeadlocksAndTheWatchdogSaysSo() throws {
    let r = try Self.libraries(["churn", "--duration", "3", "--watchdog", "3", "--fault", "loader-under-lock"])
    #expect(r.status == 3, "no deadlock detected: \(r.stdout)\(r.stderr)")
    #expect(r.stderr.contains("watchdog: FAIL (deadlock in dlopen churn)"), "\(r.stderr)")
    if HardeningTests.gdb != nil {
      // The dump shows both halves of the cycle: the toggler waiting in the
      // loader, and the loader running our hook under its lock: the unload
      // hook in dlclose, or the load hook in dlopen (which the churn meets
      // first is a race; tail calls may hide jl_image_hook's own frame in
      // a release build).
      let loaderInHook = ["_dl_call_fini", "_dl_init", "call_init"].contains { r.stderr.contains($0) }
      #expect(r.stderr.contains("_dl_open") && loaderInHook && r.stderr.contains("jl_rt_image_event"),
              "\(r.stderr.suffix(4000))")
    }
  }
}
