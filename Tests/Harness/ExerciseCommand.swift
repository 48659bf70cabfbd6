import ArgumentParser
import CHarness
import CStressWorkload
import StressWorkload
import Foundation
import JumpLabel
import Synchronization
import TextPoke

/// `jumplabel-harness exercise`: toggles the workload's keys a fixed number of times
/// while threads run their sites, under conditions the tests impose
/// (debugger, SIGTRAP-blocking thread, W^X, no membarrier, a foreign SIGTRAP
/// handler). Prints one line `exercise: ...` and exits 0 if every check
/// passed, 1 if one failed, 3 if patching was refused with an error.
struct ExerciseCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "exercise", abstract: "Toggle keys under imposed conditions (for the hardening tests).",
    shouldDisplay: true)

  enum Fault: String, ExpressibleByArgument {
    case noMembarrier = "no-membarrier", noProcMem = "no-proc-mem", alwaysPark = "always-park", neverPark = "never-park"
    case tracersStop = "tracers-stop", unsettledScans = "unsettled-scans", ignoreValgrind = "ignore-valgrind"
    case neverSelfLoop = "never-self-loop", freshScans = "fresh-scans", skipSignalSyncCheck = "skip-signal-sync-check"
    case oldSettleRule = "old-settle-rule", heldHandlerExit = "held-handler-exit"
  }

  @Option var toggles = 2000
  @Option(help: "Stop after this many seconds even if fewer toggles were made (a hang guard: the run then fails).") var duration = 600.0
  @Option var threads = 2
  @Option(name: .customLong("fault")) var faults: [Fault] = []
  @Flag(help: "Add a worker thread that blocks SIGTRAP.") var blockSigtrapThread = false
  @Flag(help: "Set PR_SET_MDWE (refuse W+X) before anything else.") var mdwe = false
  @Flag(help: "Install a SIGTRAP handler first and check that our handler chains to it.") var foreignTrap = false
  @Flag(help: "After toggling, execute a stray int3 with no handler of the program's own.") var strayInt3 = false
  @Option(help: "Also keep this many Dispatch worker threads running the sites (they block SIGURG, as Swift concurrency's pool does).")
  var dispatchThreads = 0

  func run() throws {
    if mdwe && jl_cli_set_mdwe() != 0 {
      print("exercise: cannot set MDWE: errno \(errno)")
      throw ExitCode(4)
    }
    var f: TextPokeFaults = []
    for x in faults {
      switch x {
      case .noMembarrier: f.insert(.noMembarrier)
      case .noProcMem: f.insert(.noProcSelfMem)
      case .alwaysPark: f.insert(.alwaysPark)
      case .neverPark: f.insert(.neverPark)
      case .tracersStop: f.insert(.tracersStopOnSigtrap)
      case .unsettledScans: f.insert(.unsettledScans)
      case .ignoreValgrind: f.insert(.ignoreValgrind)
      case .neverSelfLoop: f.insert(.neverSelfLoop)
      case .freshScans: f.insert(.freshScans)
      case .skipSignalSyncCheck: f.insert(.skipSignalSyncCheck)
      case .oldSettleRule: f.insert(.oldSettleRule)
      case .heldHandlerExit: f.insert(.heldHandlerExit)
      }
    }
    TextPoke._injectFaults(f)
    let dispatch = DispatchWorkers(count: dispatchThreads)
    defer { dispatch.stop() }
    if foreignTrap { _ = jl_cli_install_counting_sigtrap_handler() }

    if let problem = StaticKeys.patchingProblem() {
      print("exercise: refused: \(problem); site pages: \(sitePageProtections())")
      throw ExitCode(3)
    }
    var w = StressWorkload(duration: duration, threads: threads, sites: stressSiteCount, keys: StressKeys.count,
                           threadChurn: false, patcher: .textpoke, progress: false)
    w.maxToggles = foreignTrap ? toggles / 2 : toggles
    w.sigtrapBlockingWorker = blockSigtrapThread
    var r = w.run()
    if foreignTrap {
      // Somebody replaces our SIGTRAP handler by theirs; the next batch
      // must notice and reinstall ours (chaining to theirs), or the int3s
      // it writes would reach a handler that cannot emulate them.
      _ = jl_cli_install_counting_sigtrap_handler()
      let second = w.run()
      r.toggles += second.toggles
      r.violations += second.violations
      r.checkedExecutions += second.checkedExecutions
      r.sitesWrong += second.sitesWrong
      r.errors += second.errors
      if second.verdict != "PASS" { r.verdict = second.verdict }
    }
    let s = TextPoke.statistics
    var line = "exercise: toggles=\(r.toggles) dispatchThreads=\(dispatch.threadsSeen) violations=\(r.violations) checked=\(r.checkedExecutions) wrong=\(r.sitesWrong)"
    line += " batches=\(s.batches) parked=\(s.parkedBatches) selfLoop=\(s.selfLoopBatches) coreSync=\(s.coreSync.map { "\($0)" } ?? "-") protocol=\(s.lastProtocol.map { "\($0)" } ?? "-") writer=\(s.writer.map { "\($0)" } ?? "-")"
    line += " traps=\(s.trapsEmulated) foreign=\(s.foreignTraps) pages=\(sitePageProtections())"
    var ok = r.verdict == "PASS" && r.toggles == toggles
    if foreignTrap {
      // The program's own traps still reach its own handler, through ours.
      let before = jl_cli_counting_handler_calls()
      raise(SIGTRAP)
      jl_cli_int3()
      let seen = jl_cli_counting_handler_calls() - before
      line += " foreignHandled=\(seen)"
      ok = ok && seen == 2
    }
    if strayInt3 {
      // Not ours, and the program has no handler of its own: the process
      // must die of SIGTRAP as it would without us (Swift's crash handler,
      // if installed, gets it first), never silently continue.
      try? FileHandle.standardOutput.write(contentsOf: Data((line + " int3-next\n").utf8))
      FileHandle.standardOutput.synchronizeFile()
      jl_cli_int3()
      print("exercise: survived a stray int3")
      throw ExitCode(1)
    }
    print(line + (ok ? " ok" : " FAILED \(r.errors)"))
    if !ok { throw ExitCode(1) }
  }

  /// Protections of the pages holding the workload's sites, e.g. "r-x".
  func sitePageProtections() -> String {
    var pages = Set<UInt>()
    for k in StressKeys.all { for s in (try? StaticKeys.sites(named: k.nameString)) ?? [] { pages.insert(s.address & ~4095) } }
    guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return "?" }
    var perms = Set<String>()
    for line in maps.split(separator: "\n") {
      let parts = line.split(separator: " ")
      let r = parts[0].split(separator: "-").compactMap { UInt($0, radix: 16) }
      guard r.count == 2 else { continue }
      if pages.contains(where: { $0 >= r[0] && $0 < r[1] }) { perms.insert(String(parts[1])) }
    }
    return perms.sorted().joined(separator: ",")
  }
}

/// Dispatch worker threads that run the workload's sites until stopped:
/// libdispatch blocks nearly every signal in them, SIGURG included (but
/// not SIGTRAP), like the threads of Swift concurrency's pool.
final class DispatchWorkers: Sendable {
  private let stopped = Atomic<Bool>(false)
  private let running = Atomic<Int>(0)
  private let group = DispatchGroup()

  /// Each worker gets its own serial queue: those run on libdispatch's
  /// overcommitting pool, which starts a thread per busy queue. On the
  /// global queue they would share a pool as wide as the online CPUs, and
  /// with a CPU unplugged (the hot-plug tests run in parallel) the second
  /// worker never started and this waited forever.
  init(count: Int) {
    for i in 0..<count {
      DispatchQueue(label: "jumplabel.harness.worker-\(i)").async(group: group) { [self] in
        running.add(1, ordering: .relaxed)
        var x: UInt16 = 0
        while !stopped.load(ordering: .relaxed) {
          for f in stressFunctions.prefix(8) { x ^= f.run() }
        }
        blackHole(x)
      }
    }
    let deadline = ContinuousClock.now + .seconds(60)
    while running.load(ordering: .relaxed) < count {
      guard ContinuousClock.now < deadline else {
        fatalError("only \(running.load(ordering: .relaxed)) of \(count) Dispatch workers started within 60 s")
      }
      usleep(1000)
    }
  }

  /// Distinct Dispatch threads running now.
  var threadsSeen: Int { running.load(ordering: .relaxed) }

  func stop() {
    stopped.store(true, ordering: .relaxed)
    group.wait()
  }
}

@inline(never) func blackHole(_ x: UInt16) { if x == 0xFFFF { print("") } }
