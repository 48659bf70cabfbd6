import ArgumentParser
import Glibc
import JumpLabel
import Synchronization
import Tracepoints
import JumpLabelFixtures
import StressWorkload
import USDTFixtures

/// `jumplabel-harness usdt-target`: a process for bpftrace and perf to
/// attach to. A thread emits `jltest.usdt.tick` from its two probe points
/// (and `jltest.usdt.wide-6`) in a loop; another writes a timeline line
/// every 5 ms to `--timeline`:
///
///     t=MONOTONIC_NS enabled=0|1 count=N nop=0|1 sem=MAX_SEMAPHORE
///
/// (`nop`: every site of the key holds a NOP; `sem`: the largest
/// semaphore of its probe points). Prints `usdt-target: pid P`
/// once the first line is written; on SIGTERM or SIGINT, or after
/// `--duration`, prints the watcher's counters and exits 0.
struct USDTTargetCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "usdt-target", abstract: "A process with USDT probe points (for the tests).")

  @Option var timeline: String?
  @Option var duration = 120.0
  @Option(help: "Microseconds between emits; 0: do not emit at all (the watcher's idle cost).") var periodUs = 500
  @Flag(help: "Attach an in-process probe to jltest.usdt.tick for the whole run (a second consumer).") var holdProbe = false
  @Flag(help: "dlopen the USDT fixture library and emit its tracepoint too; the timeline follows its key.") var library = false
  @Flag(help: "Start the runtime and its watcher, then fork: the child is the target (its pid is printed), the parent waits for it and passes SIGTERM/SIGINT on.")
  var fork = false
  @Flag(help: "Once the USDT watcher holds the key (a tracer attached) and a few events went out, force the key off, as an operator's `ctl disable --force` does; prints `usdt-target: forced off`.")
  var forceOffWhenTraced = false

  func run() throws {
    var stopSignals = sigset_t()
    sigemptyset(&stopSignals)
    sigaddset(&stopSignals, SIGTERM)
    sigaddset(&stopSignals, SIGINT)
    pthread_sigmask(SIG_BLOCK, &stopSignals, nil)  // the threads below inherit it
    if fork { try forkTarget(stopSignals) }  // returns in the child only

    typealias Emit = @convention(c) (Int) -> Void
    var opened: Emit? = nil
    if library {
      let lib = try OpenedLibrary.open(try FixtureLibrary.usdt.requireBuilt())
      opened = try lib.function("jl_test_usdt_lib_emit", as: Emit.self)
    }
    let libraryEmit = opened
    let key = library ? "jltestlib.usdt.libtick" : "jltest.usdt.tick"
    let sites = try StaticKeys.sites(named: key)
    let inProcess = Atomic<Int>(0)
    let held = holdProbe ? try Tracepoint.usdtTick.attach { _ in inProcess.add(1, ordering: .relaxed) } : nil
    let stop = Atomic<Bool>(false)
    let lines = Atomic<Int>(0)
    let forced = Atomic<Bool>(false)
    let forceOff = forceOffWhenTraced
    let out: UnsafeMutablePointer<FILE>? = timeline.flatMap { fopen($0, "w") }
    nonisolated(unsafe) let file = out
    let periodUs = periodUs
    withThreads(periodUs > 0 ? 2 : 1, { index in
      if index == 1 {
        var i = 0
        while !stop.load(ordering: .relaxed) {
          if i % 2 == 0 { USDTFixture.tickA(i) } else { USDTFixture.tickB(i) }
          if i % 16 == 0 { USDTFixture.wide(i) }
          libraryEmit?(i)
          i += 1
          usleep(UInt32(periodUs))
        }
        return
      }
      var tracedSince = 0
      while !stop.load(ordering: .relaxed) {
        let info = try? StaticKeys.info(named: key)
        // Forced 100 ms after the tracer's hold was first seen (some
        // events reach it first, and the timeline shows the key on).
        if forceOff && !forced.load(ordering: .relaxed) && info?.holders[.usdt] != nil {
          let now = monotonicNanoseconds()
          if tracedSince == 0 { tracedSince = now }
          if now - tracedSince > 100_000_000,
             (try? StaticKeys.set(names: [key], enabled: false, force: "disabled by the usdt-target (test)")) != nil {
            forced.store(true, ordering: .relaxed)
          }
        }
        let nop = sites.allSatisfy { $0.currentBytes == StaticKeySite.nop5 }
        let sem = USDT.probePoints().filter { $0.tracepoint == key }.map(\.semaphore).max() ?? 0
        if let file {
          var ts = timespec()
          clock_gettime(CLOCK_MONOTONIC, &ts)
          let t = Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
          fputs("t=\(t) enabled=\((info?.state ?? false) ? 1 : 0) count=\(info?.count ?? -1) nop=\(nop ? 1 : 0) sem=\(sem)\n", file)
          fflush(file)
        }
        lines.add(1, ordering: .relaxed)
        usleep(5_000)
      }
    }, during: {
      while lines.load(ordering: .relaxed) == 0 { usleep(1_000) }
      print("usdt-target: pid \(getpid()) probe points \(USDT.probePoints().count)")
      fflush(nil)
      var wait = timespec(tv_sec: Int(duration), tv_nsec: Int((duration - duration.rounded(.down)) * 1e9))
      _ = sigtimedwait(&stopSignals, nil, &wait)
      stop.store(true, ordering: .relaxed)
    })
    if let out { fclose(out) }
    held?.detach()
    if holdProbe { print("usdt-target: in-process probe saw \(inProcess.load(ordering: .relaxed)) events") }
    if forced.load(ordering: .relaxed) { print("usdt-target: forced off") }
    let w = USDT.watcher
    print("usdt-target: watcher running=\(w.running ? 1 : 0) polls=\(w.polls) changes=\(w.changes) failures=\(w.failures) "
          + "probe-points=\(w.probePoints) cpu-ns=\(w.cpuTime.components.seconds * 1_000_000_000 + w.cpuTime.components.attoseconds / 1_000_000_000)")
    if let e = w.lastError { print("usdt-target: last error: \(e)") }
    if !USDT.problems().isEmpty { print("usdt-target: probe points missing: \(USDT.problems())") }
  }

  /// Forks once the parent's watcher runs. In the child, returns (the
  /// atfork handler must have started a watcher of its own, or no tracer
  /// switches anything on). In the parent, waits for the child, passes
  /// SIGTERM and SIGINT on, and exits with the child's status.
  private func forkTarget(_ stopSignals: sigset_t) throws {
    _ = StaticKeys.list()  // the runtime is up before the fork (README, Limits)
    let deadline = monotonicNanoseconds() + 10_000_000_000
    while !USDT.watcher.running {
      guard monotonicNanoseconds() < deadline else { throw ValidationError("the watcher did not start in the parent") }
      usleep(1_000)
    }
    var waitFor = stopSignals
    sigaddset(&waitFor, SIGCHLD)
    pthread_sigmask(SIG_BLOCK, &waitFor, nil)
    let child = Glibc.fork()
    if child < 0 { throw ValidationError("fork failed: errno \(errno)") }
    if child == 0 {
      var chld = sigset_t()
      sigemptyset(&chld)
      sigaddset(&chld, SIGCHLD)
      pthread_sigmask(SIG_UNBLOCK, &chld, nil)
      return
    }
    var status: Int32 = 0
    while true {
      var sig: Int32 = 0
      sigwait(&waitFor, &sig)
      if sig != SIGCHLD { kill(child, SIGTERM) }
      if waitpid(child, &status, WNOHANG) == child { break }
    }
    Glibc.exit(status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
  }
}
