import ArgumentParser
import Foundation
import Glibc
import JumpLabel
import JumpLabelFixtures
import StressWorkload
import Synchronization
import TextPoke

/// `jumplabel-harness self-loop-signal`: a signal handler that runs a site
/// on the patcher's own thread in the middle of a self-loop batch. A
/// thread that blocks SIGTRAP makes every batch a self-loop batch; a batch
/// hook (which runs on the patcher's thread once the sites loop) raises
/// SIGUSR1, whose handler executes a site of the key being toggled. The
/// engine holds off asynchronous signals for the batch, so the handler runs
/// after it, on the new instruction. Without that (`--keep-signals`, the
/// negative control) the handler spins on `jmp .` forever: the watchdog
/// turns the hang into a thread dump and exit status 3. Release builds
/// only (a debug build has no sites). Prints one line, exits 0 or 1.
struct SelfLoopSignalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "self-loop-signal", abstract: "Raise a signal whose handler runs a site, on the patcher's thread, mid self-loop batch.")

  @Option(help: "Toggles (each raises one signal mid-batch).") var toggles = 50
  @Option(help: "Seconds without progress before the watchdog fails the run.") var watchdog = 10.0
  @Flag(help: "Negative control: the self-loop leaves the patcher's signal mask alone (expect a hang, caught by the watchdog).")
  var keepSignals = false

  func run() throws {
    if keepSignals { TextPoke._injectFaults(.selfLoopKeepsSignals) }
    let key = StaticKey.fixtureSignal
    _ = Fixture.signalSite()
    var sa = sigaction()
    sa.__sigaction_handler.sa_handler = { _ in SelfLoopSignalCounters.shared.handle() }
    sa.sa_flags = SA_RESTART
    sigemptyset(&sa.sa_mask)
    sigaction(SIGUSR1, &sa, nil)

    // The hazard that rules out int3: a thread that blocks SIGTRAP.
    let blocking = DispatchSemaphore(value: 0)
    let blocker = Thread {
      var set = sigset_t()
      sigemptyset(&set)
      sigaddset(&set, SIGTRAP)
      pthread_sigmask(SIG_BLOCK, &set, nil)
      blocking.signal()
      while true { usleep(100_000) }  // until the process exits
    }
    blocker.start()
    blocking.wait()  // an event, not a time: the first batch must see the hazard

    let c = SelfLoopSignalCounters.shared
    let dog = Watchdog(limit: watchdog, what: "self-loop-signal") { c.toggles.load(ordering: .relaxed) + c.handled.load(ordering: .relaxed) }
    dog.start()
    let patcher = TextPoke.currentThreadID
    let token = TextPoke._addBatchHook {
      // Only on the patcher's thread, and only for this key's batches.
      if TextPoke.currentThreadID == patcher { c.raised.add(1, ordering: .relaxed); raise(SIGUSR1) }
    }
    let before = TextPoke.statistics
    var errors = 0
    for i in 0..<toggles {
      do { try key.set(i % 2 == 0) } catch { errors += 1; print("toggle error: \(error)") }
      c.toggles.add(1, ordering: .relaxed)
    }
    TextPoke._removeBatchHook(token)
    dog.stop()
    let after = TextPoke.statistics
    let selfLoops = after.selfLoopBatches - before.selfLoopBatches
    let raised = c.raised.load(ordering: .relaxed), handled = c.handled.load(ordering: .relaxed)
    // Every handler ran after its batch: the site it read agreed with the
    // state the batch had just set (checked in the handler).
    let ok = errors == 0 && selfLoops == UInt64(toggles) && raised == toggles && handled == toggles
      && c.disagreed.load(ordering: .relaxed) == 0 && Fixture.signalSite() == key.state
    print("self-loop-signal: toggles=\(toggles) selfLoop=\(selfLoops) raised=\(raised) handled=\(handled) disagreed=\(c.disagreed.load(ordering: .relaxed)) errors=\(errors)\(ok ? " ok" : " FAIL")")
    if !ok { throw ExitCode(1) }
  }
}

/// What the SIGUSR1 handler saw. Atomics only: the handler is async-signal-safe.
final class SelfLoopSignalCounters: Sendable {
  static let shared = SelfLoopSignalCounters()
  let toggles = Atomic<Int>(0)
  let raised = Atomic<Int>(0)
  let handled = Atomic<Int>(0)
  let disagreed = Atomic<Int>(0)

  /// Runs the site; it must show the state of the toggle that raised the
  /// signal (an odd count of raised signals: toggle i enabled it iff i is even).
  func handle() {
    let site = Fixture.signalSite()
    let expected = raised.load(ordering: .relaxed) % 2 == 1
    if site != expected { disagreed.add(1, ordering: .relaxed) }
    handled.add(1, ordering: .relaxed)
  }
}
