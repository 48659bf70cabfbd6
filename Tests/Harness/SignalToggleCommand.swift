import ArgumentParser
import Foundation
import Glibc
import JumpLabel
import JumpLabelFixtures
import StressWorkload
import Synchronization
import TextPoke

/// `jumplabel-harness signal-toggle`: the shape of the field report. One
/// thread toggles a key in a loop; another sends it SIGHUP every
/// `--interval` µs; the SIGHUP handler toggles the same key. Every call
/// must succeed or throw, the process must never hang (a watchdog turns a
/// hang into a thread dump and exit status 3), and at the end the site must
/// agree with the key's state. Prints one line of counts, exits 0 or 1.
struct SignalToggleCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "signal-toggle", abstract: "Toggle a key from a SIGHUP handler while the interrupted thread toggles it too.")

  @Option(help: "SIGHUPs to send.") var signals = 4000
  @Option(help: "Microseconds between two SIGHUPs.") var interval = 300
  @Option(help: "Seconds without progress before the watchdog fails the run.") var watchdog = 20.0
  @Option(help: "Microseconds the toggler spins between two toggles (so that some signals land outside the runtime).")
  var gap = 50
  @Flag(help: "Negative control: entry points do not notice re-entry (expect a hang, caught by the watchdog).")
  var ignoreReentry = false

  func run() throws {
    let key = StaticKey.fixtureSignal
    _ = Fixture.signalSite()
    if ignoreReentry { TextPoke._injectFaults(.ignoreReentry) }
    let gapNs = gap * 1000
    var sa = sigaction()
    sa.__sigaction_handler.sa_handler = { _ in SignalToggleCounters.shared.handle() }
    sa.sa_flags = SA_RESTART
    sigemptyset(&sa.sa_mask)
    sigaction(SIGHUP, &sa, nil)

    let c = SignalToggleCounters.shared
    let dog = Watchdog(limit: watchdog, what: "signal-toggle") {
      c.loopToggles.load(ordering: .relaxed) + c.handled.load(ordering: .relaxed)
    }
    dog.start()
    let target = Atomic<UInt>(0)
    let ready = Atomic<Bool>(false)
    let toggler = Thread {
      target.store(UInt(pthread_self()), ordering: .releasing)
      ready.store(true, ordering: .releasing)
      while !c.stop.load(ordering: .relaxed) {
        do { try key.enable() } catch { c.loopErrors.add(1, ordering: .relaxed) }
        do { try key.disable() } catch { c.loopErrors.add(1, ordering: .relaxed) }
        c.loopToggles.add(2, ordering: .relaxed)
        // Outside the runtime for a while: a spin, which allocates nothing.
        let until = monotonicNanoseconds() + gapNs
        while monotonicNanoseconds() < until {}
      }
      c.loopDone.store(true, ordering: .releasing)
    }
    toggler.start()
    while !ready.load(ordering: .acquiring) { usleep(100) }
    let thread = pthread_t(target.load(ordering: .acquiring))
    for _ in 0..<signals {
      pthread_kill(thread, SIGHUP)
      usleep(UInt32(interval))
    }
    c.stop.store(true, ordering: .relaxed)
    while !c.loopDone.load(ordering: .acquiring) { usleep(1000) }
    dog.stop()
    // Give a SIGHUP still in flight time to land, then look.
    usleep(20_000)
    let state = key.state
    let site = Fixture.signalSite()
    let problems = StaticKeys.verify()
    let handled = c.handled.load(ordering: .relaxed)
    var line = "signal-toggle: signals=\(signals) handled=\(handled) succeeded=\(c.succeeded.load(ordering: .relaxed))"
    line += " refused=\(c.refused.load(ordering: .relaxed)) otherErrors=\(c.otherErrors.load(ordering: .relaxed))"
    line += " loopToggles=\(c.loopToggles.load(ordering: .relaxed)) loopErrors=\(c.loopErrors.load(ordering: .relaxed))"
    line += " state=\(state) site=\(site) verify=\(problems.count)"
    // Both outcomes must have happened: refusals (the handler interrupted
    // the runtime) and full toggles from the handler (it did not).
    let ok = c.succeeded.load(ordering: .relaxed) > 0 && c.refused.load(ordering: .relaxed) > 0
      && c.otherErrors.load(ordering: .relaxed) == 0 && site == state && problems.isEmpty
    print(line + (ok ? " ok" : " FAILED \(problems)"))
    if !ok { throw ExitCode(1) }
  }
}

/// What the SIGHUP handler did. Its counters are atomics: the handler may
/// run on top of anything.
final class SignalToggleCounters: Sendable {
  static let shared = SignalToggleCounters()
  let handled = Atomic<Int>(0), succeeded = Atomic<Int>(0), refused = Atomic<Int>(0), otherErrors = Atomic<Int>(0)
  let loopToggles = Atomic<Int>(0), loopErrors = Atomic<Int>(0)
  let stop = Atomic<Bool>(false), loopDone = Atomic<Bool>(false)

  /// The handler's body: flip the key.
  func handle() {
    handled.add(1, ordering: .relaxed)
    // A site read in the handler too: a NOP in release, a fallback read of
    // the key in debug (which must not wait either).
    _ = Fixture.signalSite()
    let key = StaticKey.fixtureSignal
    do {
      if handled.load(ordering: .relaxed) & 1 == 0 { try key.enable() } else { try key.disable() }
      succeeded.add(1, ordering: .relaxed)
    } catch {
      if case .reentrantControl = error { refused.add(1, ordering: .relaxed) } else { otherErrors.add(1, ordering: .relaxed) }
    }
  }
}
