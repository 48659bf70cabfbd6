import CStressWorkload
import Foundation
import JumpLabel
import Synchronization
import TextPoke

/// Which writer toggles the keys.
package enum PatcherKind: String, Codable, Sendable {
  /// JumpLabel / TextPoke: int3 + membarrier.
  case textpoke
  /// The negative control: mprotect + plain copy. For proving the test.
  case unsafeDirect = "unsafe-direct"
}

/// The workload itself: workers, churn threads, the toggler.
package struct StressWorkload {
  package let duration: Double
  package let threads: Int
  package let sites: Int
  package let keys: Int
  package let threadChurn: Bool
  package let patcher: PatcherKind
  package let progress: Bool
  /// Stop after this many toggles (also bounded by `duration`).
  package var maxToggles = Int.max
  /// Adds a worker thread that blocks SIGTRAP.
  package var sigtrapBlockingWorker = false
  /// Runs the dlopen churn (Libraries/DlopenChurn.swift) on this library too.
  package var dlopenLibrary: String?

  package init(duration: Double, threads: Int, sites: Int, keys: Int, threadChurn: Bool, patcher: PatcherKind, progress: Bool) {
    self.duration = duration
    self.threads = threads
    self.sites = sites
    self.keys = keys
    self.threadChurn = threadChurn
    self.patcher = patcher
    self.progress = progress
  }

  /// The workload functions selected by `--sites`.
  package var functions: ArraySlice<(run: @Sendable () -> UInt16, keys: UInt16)> {
    let n = max(1, min(stressFunctions.count, (sites + stressSitesPerFunction - 1) / stressSitesPerFunction))
    return stressFunctions.prefix(n)
  }

  package func run() -> StressReport {
    var report = StressReport()
    report.patcher = patcher.rawValue
    report.threads = threads
    let keyCount = max(1, min(keys, StressKeys.count))
    report.keys = keyCount
    let fns = Array(functions)
    report.sitesInWorkload = fns.count * stressSitesPerFunction

    var initial: UInt16 = 0
    for (i, k) in StressKeys.all.enumerated() where k.state { initial |= 1 << i }
    let probe = StressProbe(initial: initial)
    let maxStallNs = Atomic<Int>(0)
    let churnStarted = Atomic<Int>(0), churnExited = Atomic<Int>(0)

    // One worker loop: run every selected function, checked, until stopped
    // (or for `limit` rounds), tracking the longest time one call took
    // (a trap, a wait for a batch, being descheduled or migrated).
    @Sendable func work(limit: Int) {
      var worst = 0
      var n = 0, checked = 0, violated = 0, rounds = 0
      while !probe.stop.load(ordering: .relaxed) && rounds < limit {
        for f in fns {
          let t0 = monotonicNanoseconds()
          switch probe.check(f.run, keys: f.keys) {
          case .unchecked: break
          case .agreed: checked += 1
          case .violated: checked += 1; violated += 1
          }
          worst = max(worst, monotonicNanoseconds() - t0)
          n += 1
        }
        rounds += 1
      }
      probe.executions.add(n, ordering: .relaxed)
      probe.checks.add(checked, ordering: .relaxed)
      probe.violations.add(violated, ordering: .relaxed)
      var cur = maxStallNs.load(ordering: .relaxed)
      while worst > cur {
        let (done, now) = maxStallNs.compareExchange(expected: cur, desired: worst, ordering: .relaxed)
        if done { break }
        cur = now
      }
    }

    var workers: [Thread] = []
    let finished = DispatchGroup()
    for _ in 0..<max(threads, 0) {
      finished.enter()
      let t = Thread { work(limit: .max); finished.leave() }
      workers.append(t)
      t.start()
    }
    // Signalled once the SIGTRAP-blocking worker blocks it: the first
    // toggle waits for that (an event, not a time), or a scan made before
    // could see no hazard and the batch use int3.
    let sigtrapBlocked = DispatchSemaphore(value: 0)
    if sigtrapBlockingWorker {
      finished.enter()
      let t = Thread {
        // The hazard: an int3 on this thread would kill the process.
        jl_cli_block_sigtrap()
        sigtrapBlocked.signal()
        work(limit: .max)
        finished.leave()
      }
      workers.append(t)
      t.start()
    }
    if threadChurn {
      finished.enter()
      Thread {
        // Threads that start, run the sites for a short while and exit,
        // continuously: the patcher always races thread creation and exit.
        while !probe.stop.load(ordering: .relaxed) {
          let done = DispatchSemaphore(value: 0)
          churnStarted.add(1, ordering: .relaxed)
          Thread { work(limit: 200); churnExited.add(1, ordering: .relaxed); done.signal() }.start()
          done.wait()
        }
        finished.leave()
      }.start()
    }

    // The dlopen churn: its own loader, toggler and caller threads, under a
    // watchdog that turns a deadlock into a thread dump and exit status 3.
    let churn = dlopenLibrary.map { DlopenChurn(path: $0) }
    let dog = churn.map { c in Watchdog(limit: 30, what: "dlopen churn") { c.progress } }
    dog?.start()
    if let churn {
      for body in [churn.loadLoop, churn.toggleLoop, churn.workLoop] {
        finished.enter()
        Thread { body(); finished.leave() }.start()
      }
    }

    // The toggler: this thread.
    let start = monotonicNanoseconds()
    let end = start + Int(duration * 1e9)
    var toggles = 0
    var states = initial
    var nextProgress = start + 1_000_000_000
    let before = TextPoke.statistics
    // Let every worker get going first; the SIGTRAP blocker must be blocking.
    usleep(20_000)
    if sigtrapBlockingWorker { sigtrapBlocked.wait() }
    while monotonicNanoseconds() < end && toggles < maxToggles {
      let k = toggles % keyCount
      let on = states & (1 << k) == 0
      probe.beginToggle()
      do {
        switch patcher {
        case .textpoke: try StressKeys.all[k].set(on)
        case .unsafeDirect: try NaivePatcher.set(StressKeys.all[k], on)
        }
      } catch {
        report.errors.append("toggle of \(StressKeys.all[k]) failed: \(error)")
        probe.endToggle(states: states)
        break
      }
      if on { states |= 1 << k } else { states &= ~(1 << k) }
      probe.endToggle(states: states)
      probe.settle()
      toggles += 1
      if progress, monotonicNanoseconds() >= nextProgress {
        nextProgress += 1_000_000_000
        let s = TextPoke.statistics
        FileHandle.standardError.write(Data(String(
          format: "\r  %4.0fs  toggles %d  traps %llu  stale %llu  violations %d   ",
          Double(monotonicNanoseconds() - start) / 1e9, toggles, s.trapsEmulated - before.trapsEmulated,
          s.staleTraps - before.staleTraps, probe.violations.load(ordering: .relaxed)).utf8))
      }
    }
    let elapsed = Double(monotonicNanoseconds() - start) / 1e9
    probe.stop.store(true, ordering: .relaxed)
    churn?.stop()
    // A worker that does not come back is stuck (a broken patcher can send
    // a thread into a loop): a hang, reported as such rather than waited
    // for. The report is still written; exit ends the stuck threads.
    if finished.wait(timeout: .now() + 10) == .timedOut {
      report.errors.append("a workload thread did not finish within 10 s after the run: it is stuck (hang)")
      report.hung = true
      report.durationSeconds = Double(monotonicNanoseconds() - start) / 1e9
      report.toggles = toggles
      report.verdict = "FAIL"
      return report
    }
    if let churn {
      let (verified, wrong) = churn.finalCheck()
      dog?.stop()
      report.dlopenChurn = true
      report.dlopenLoads = churn.loads.load(ordering: .relaxed)
      report.dlopenUnmapped = churn.unmapped.load(ordering: .relaxed)
      report.dlopenToggles = churn.toggles.load(ordering: .relaxed)
      report.dlopenCalls = churn.executions.load(ordering: .relaxed)
      report.dlopenChecked = churn.checks.load(ordering: .relaxed)
      report.dlopenViolations = churn.violations.load(ordering: .relaxed)
      report.dlopenSitesVerified = verified
      report.dlopenSitesWrong = wrong
      report.errors += churn.errors.map { "dlopen churn: \($0)" }
      if report.dlopenViolations > 0 { report.errors.append("dlopen churn: \(report.dlopenViolations) linearizability violations") }
      if report.dlopenLoads == 0 || report.dlopenUnmapped != report.dlopenLoads {
        report.errors.append("dlopen churn: \(report.dlopenLoads) loads but \(report.dlopenUnmapped) real unmaps")
      }
    }
    if progress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }

    // Every site ends in the state its key says.
    for (i, k) in StressKeys.all.enumerated() {
      let on = states & (1 << i) != 0
      do {
        for s in try StaticKeys.sites(named: k.nameString) {
          report.sitesVerified += 1
          if s.currentBytes != s.expectedBytes(enabled: on) {
            report.sitesWrong += 1
            report.errors.append("\(s) holds [\(s.currentBytes.map { String($0, radix: 16) }.joined(separator: " "))], expected the \(on ? "enabled" : "disabled") instruction")
          }
        }
      } catch { report.errors.append("\(error)") }
    }

    let after = TextPoke.statistics
    report.durationSeconds = elapsed
    report.toggles = toggles
    report.togglesPerSecond = Double(toggles) / max(elapsed, 1e-9)
    report.sitesPatched = after.sitesPatched - before.sitesPatched
    report.batches = after.batches - before.batches
    report.syncs = after.syncs - before.syncs
    report.trapsEmulated = after.trapsEmulated - before.trapsEmulated
    report.staleTraps = after.staleTraps - before.staleTraps
    report.handlerRetries = after.handlerRetries - before.handlerRetries
    report.retireWaits = after.retireWaits - before.retireWaits
    report.writer = patcher == .textpoke ? (after.writer?.description ?? "none") : "mprotect + copy (unsafe)"
    report.executions = probe.executions.load(ordering: .relaxed)
    report.checkedExecutions = probe.checks.load(ordering: .relaxed)
    report.violations = probe.violations.load(ordering: .relaxed)
    report.churnThreadsStarted = churnStarted.load(ordering: .relaxed)
    report.churnThreadsExited = churnExited.load(ordering: .relaxed)
    report.maxStallMicroseconds = Double(maxStallNs.load(ordering: .relaxed)) / 1000
    let siteless = StaticKeys.list().filter { $0.name.hasPrefix("stress.") && $0.sites == 0 }
    if !siteless.isEmpty { report.errors.append("keys without NOP sites (debug build?): \(siteless.map(\.name))") }
    report.verdict = report.violations == 0 && report.errors.isEmpty && toggles > 0 ? "PASS" : "FAIL"
    return report
  }
}

/// CLOCK_MONOTONIC in nanoseconds.
package func monotonicNanoseconds() -> Int {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}
