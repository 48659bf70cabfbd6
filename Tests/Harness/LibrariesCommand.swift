import ArgumentParser
import CHarness
import CStressWorkload
import StressWorkload
import Foundation
import Glibc
import JumpLabel
import TextPoke

/// `jumplabel-harness exercise-libraries`: the shared-library scenarios, run in a
/// child process by the tests (a process can load a pinned library once).
/// Prints one line per check; exits 0 if all passed, 1 if one failed, 3 if
/// the watchdog found a deadlock.
struct LibrariesCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "exercise-libraries", abstract: "Shared-library scenarios (for the tests).", shouldDisplay: true)

  enum Scenario: String, ExpressibleByArgument { case pair, churn, initOrder = "init-order", foreign }

  enum Fault: String, ExpressibleByArgument {
    /// Load hooks do nothing (negative control of the load-time patching).
    case ignoreLoads = "ignore-loads"
    /// Unload hooks do nothing (negative control of the unload handling).
    case ignoreUnloads = "ignore-unloads"
    /// Every batch calls dlopen while holding the registry and patch locks:
    /// the lock-order violation, to prove the watchdog catches the deadlock.
    case loaderUnderLock = "loader-under-lock"
    /// The first walk dlopens every image it saw (negative control of
    /// init-order).
    case dlopenWalkedImages = "dlopen-walked-images"
    /// Runtime copies of another ABI go unnoticed (negative control of foreign).
    case ignoreForeignRuntimes = "ignore-foreign-runtimes"
    /// Every batch runs the runtime's own pre-loader-call check while
    /// holding those locks: it must trap at once.
    case checkedLoaderUnderLock = "checked-loader-under-lock"
  }

  @Argument var scenario: Scenario
  @Option var duration = 3.0
  @Option var threads = 2
  @Option(help: "Seconds without progress before the watchdog fails the run.") var watchdog = 15.0
  @Option var fault: Fault?
  @Option(help: "init-order: the folder with libA.so, libX.so, libZ.so (Tests/SharedLibraries/InitOrder).")
  var dir: String?

  func run() throws {
    _ = jl_cli_die_with_parent()
    switch fault {
    case .ignoreLoads?: StaticKeys._injectImageEventFaults(.ignoreLoads)
    case .ignoreUnloads?: StaticKeys._injectImageEventFaults(.ignoreUnloads)
    case .dlopenWalkedImages?: StaticKeys._injectImageEventFaults(.dlopenWalkedImages)
    case .ignoreForeignRuntimes?: StaticKeys._injectImageEventFaults(.ignoreForeignRuntimes)
    case .loaderUnderLock?, .checkedLoaderUnderLock?, nil: break
    }
    let lines: [String]
    switch scenario {
    case .pair: lines = try LibraryPair().run()
    case .churn: lines = try runChurn()
    case .initOrder: lines = try runInitOrder()
    case .foreign: lines = try runForeign()
    }
    for l in lines { print(l) }
    fflush(nil)
    if lines.contains(where: { $0.hasPrefix("FAIL") }) { throw ExitCode(1) }
  }

  /// The runtime's first use happens inside a constructor (X's) while
  /// another image of the same dlopen (Z) is mapped but not initialised;
  /// the runtime's walk must not initialise Z there.
  private func runInitOrder() throws -> [String] {
    guard let dir else { throw FixtureError("init-order needs --dir") }
    var checks = CheckLines()
    func check(_ ok: Bool, _ what: String) { checks.check(ok, what) }
    let a = try OpenedLibrary.open(dir + "/libA.so")
    func int(_ name: String) throws -> Int32 {
      guard let p = dlsym(a.handle, name) else { throw FixtureError("dlsym(\(name)) failed") }
      return p.assumingMemoryBound(to: Int32.self).pointee
    }
    check(StaticKeys.list().contains { $0.name == "order.key" }, "X's constructor made the runtime's first use (order.key is known)")
    check(StaticKeys.images().contains { $0.path.hasSuffix("/libZ.so") }, "the runtime's walk, inside X's constructor, indexed Z")
    check(try int("x_saw") == 0, "X's read saw the default")
    let inside = try int("z_ran_inside_x")
    check(inside == 0, "Z's constructor ran after X's, not inside it (z_ran_inside_x = \(inside))")
    return checks.lines
  }

  /// A runtime copy of another ABI arrives: keys stop being toggled, with
  /// an error naming it, and `problems()` reports it.
  private func runForeign() throws -> [String] {
    var checks = CheckLines()
    func check(_ ok: Bool, _ what: String) { checks.check(ok, what) }
    let churn = try OpenedLibrary.open(try FixtureLibrary.churn.requireBuilt())
    let (k0, k1) = (ChurnKeys.all[0], ChurnKeys.all[1])
    do {
      try k0.enable()
      check(true, "before: a toggle works")
    } catch {
      check(false, "before: a toggle failed: \(error)")
    }
    let path = try FixtureLibrary.foreignRuntime.requireBuilt()
    let foreign = try OpenedLibrary.open(path)
    let expected = JumpLabelError.foreignRuntime(image: path, abi: 999)
    do {
      try k0.disable()
      check(false, "after loading \(path): a toggle still patched")
    } catch {
      check(error == expected, "after loading it, a toggle is refused: \(error)")
    }
    do {
      try k1.increment()
      check(false, "after loading it: an increment still patched")
    } catch {
      check(error == expected, "... and so is a first increment")
    }
    check(StaticKeys.problems().contains(expected), "problems() names it")
    check(StaticKeys.isPrimaryRuntime, "the election ignores it")
    check(k0.state && !k1.state, "nothing changed")
    foreign.close()
    churn.close()
    return checks.lines
  }

  private func runChurn() throws -> [String] {
    let churn = DlopenChurn(path: try FixtureLibrary.churn.requireBuilt())
    if fault == .loaderUnderLock {
      let path = churn.path
      TextPoke._addBatchHook {
        // Deliberately wrong: the loader's lock, taken under ours.
        if let h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD) { dlclose(h) }
      }
    }
    if fault == .checkedLoaderUnderLock {
      // No churn here: the library stays loaded, so nothing else holds the
      // loader's lock and the trap's own report (which may need the
      // loader) cannot hang.
      let lib = try OpenedLibrary.open(churn.path)
      StaticKeys._checkMayCallLoader()  // no lock held here: passes
      print("ok   the check passes outside our locks")
      fflush(nil)
      TextPoke._addBatchHook { StaticKeys._checkMayCallLoader() }
      try ChurnKeys.all[0].set(!ChurnKeys.all[0].state)  // a batch: traps inside
      lib.close()
      return ["FAIL the check did not trap under our locks"]
    }
    let dog = Watchdog(limit: watchdog, what: "dlopen churn") { churn.progress }
    dog.start()
    let done = DispatchGroup()
    func spawn(_ body: @escaping @Sendable () -> Void) {
      done.enter()
      Thread { body(); done.leave() }.start()
    }
    spawn { churn.loadLoop() }
    spawn { churn.toggleLoop() }
    for _ in 0..<max(1, threads) { spawn { churn.workLoop() } }
    usleep(UInt32(duration * 1e6))
    churn.stop()
    done.wait()
    let (sitesChecked, sitesWrong) = churn.finalCheck()
    dog.stop()

    var checks = CheckLines()
    func check(_ ok: Bool, _ what: String) { checks.check(ok, what) }
    let loads = churn.loads.load(ordering: .relaxed), unloads = churn.unloads.load(ordering: .relaxed)
    let toggles = churn.toggles.load(ordering: .relaxed)
    let checked = churn.checks.load(ordering: .relaxed), violations = churn.violations.load(ordering: .relaxed)
    let unmapped = churn.unmapped.load(ordering: .relaxed)
    check(loads > 0 && unloads > 0 && unmapped == unloads,
          "\(loads) loads, \(unloads) unloads of \(churn.path), \(unmapped) of them really unmapped it")
    check(toggles > 0, "\(toggles) toggles of the churn keys meanwhile")
    check(checked > 0, "\(churn.executions.load(ordering: .relaxed)) calls into the library, \(checked) checked against a returned toggle")
    check(violations == 0, "\(violations) linearizability violations")
    check(sitesChecked == 512 && sitesWrong == 0, "after a final load \(sitesChecked - sitesWrong)/\(sitesChecked) of its sites hold their key's instruction")
    check(churn.errors.isEmpty, "the swiftrt-linked C library is pinned, the other one unmapped, none left indexed")
    for e in churn.errors { check(false, e) }
    return checks.lines
  }
}
