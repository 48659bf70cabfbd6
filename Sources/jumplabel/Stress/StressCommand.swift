import ArgumentParser
import StressWorkload
import Foundation
import Synchronization

/// `jumplabel stress`: the 2009 review's stress test. Patch in a loop while
/// threads execute the sites, while CPUs are unplugged and replugged, while
/// threads are created and destroyed. The workload runs in a child process;
/// this process supervises it, drives CPU hot-plug, and always brings every
/// CPU back online.
struct StressCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "stress",
    abstract: "Toggle keys while threads run their sites; optionally with CPU hot-plug and thread churn.",
    discussion: """
      Exit status: 0 PASS, 1 FAIL (crash, violation, wrong bytes, hang), 2 cannot run as asked.
      --patcher=unsafe-direct is a deliberately broken patcher (mprotect + a plain copy, one byte \
      at a time with a pause, no int3, no core sync). It exists to prove that this test catches \
      a broken patcher; expect FAIL.
      """)

  @Option(help: "Seconds to run.")
  var duration: Double = 10

  @Option(help: "Threads executing the sites.")
  var threads: Int = sysconf(Int32(_SC_NPROCESSORS_ONLN))

  @Option(help: "How many branch sites the workload spans (at most \(stressSiteCount)).")
  var sites: Int = stressSiteCount

  @Option(help: "How many keys to toggle (at most \(StressKeys.count)).")
  var keys: Int = StressKeys.count

  @Flag(help: "Take every CPU but CPU0 offline and back online in a loop (needs root).")
  var hotplug = false

  @Flag(help: "Continuously start and end short-lived threads that execute the sites.")
  var threadChurn = false

  @Flag(help: "Also dlopen/dlclose a C library with 512 sites in a loop while its keys are toggled and threads call into it (needs `swift build` to have built the package's libraries).")
  var dlopenChurn = false

  @Option(help: "textpoke (the real engine) or unsafe-direct (the negative control).")
  var patcher: PatcherKind = .textpoke

  @Flag(help: "Print the report as JSON.")
  var json = false

  func validate() throws {
    guard duration > 0 else { throw ValidationError("--duration must be positive") }
    guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    guard (1...stressSiteCount).contains(sites) else { throw ValidationError("--sites must be 1...\(stressSiteCount)") }
    guard (1...StressKeys.count).contains(keys) else { throw ValidationError("--keys must be 1...\(StressKeys.count)") }
  }

  func run() throws {
    if dlopenChurn {
      do {
        _ = try FixtureLibrary.churn.requireBuilt()
      } catch {
        FileHandle.standardError.write(Data("jumplabel stress: --dlopen-churn: \(error)\n".utf8))
        throw ExitCode(2)
      }
    }
    var plug: HotPlug?
    if hotplug {
      do {
        plug = try HotPlug.available()
      } catch {
        FileHandle.standardError.write(Data("jumplabel stress: \(error)\n".utf8))
        throw ExitCode(2)
      }
    }
    Supervisor.installSignalHandlers(plug)
    var report = try Supervisor(command: self, plug: plug).run()
    if json {
      let enc = JSONEncoder()
      enc.outputFormatting = [.prettyPrinted, .sortedKeys]
      print(String(decoding: try enc.encode(report), as: UTF8.self))
    } else {
      print(report.humanReadable(hotplugCPUs: plug?.cpus ?? []))
    }
    if report.verdict != "PASS" { throw ExitCode(1) }
    report.errors.removeAll()
  }
}

/// Set by SIGINT/SIGTERM; polled by the supervisor loop.
let stopRequested = Atomic<Int32>(0)

/// Runs the worker child and the hot-plug loop.
struct Supervisor {
  let command: StressCommand
  let plug: HotPlug?

  /// SIGINT/SIGTERM only set a flag: the loop then stops the child,
  /// restores the CPUs and exits with 128 + signal.
  static func installSignalHandlers(_ plug: HotPlug?) {
    var set = sigset_t()
    sigemptyset(&set)
    for sig in [SIGINT, SIGTERM] {
      signal(sig) { s in stopRequested.store(s, ordering: .relaxed) }
      sigaddset(&set, sig)
    }
    // A parent may have started us with these blocked (some process
    // launchers do); then Ctrl-C and SIGTERM would never reach the handler.
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
  }

  func run() throws -> StressReport {
    let child = Process()
    child.executableURL = URL(fileURLWithPath: Self.ownExecutable())
    var args = ["stress-worker", "--duration", "\(command.duration)", "--threads", "\(command.threads)",
                "--sites", "\(command.sites)", "--keys", "\(command.keys)", "--patcher", command.patcher.rawValue]
    if command.threadChurn { args.append("--thread-churn") }
    if command.dlopenChurn { args.append("--dlopen-churn") }
    if isatty(STDERR_FILENO) != 0 && !command.json { args.append("--progress") }
    child.arguments = args
    var env = ProcessInfo.processInfo.environment
    env["SWIFT_BACKTRACE"] = "enable=no"  // die with the real signal, at once
    child.environment = env
    let out = Pipe()
    child.standardOutput = out

    var cycles = 0, plugErrors = 0
    var interrupted: Int32 = 0
    var hung = false
    // Whatever happens below, every CPU is online again when this returns.
    defer { plug?.restoreAll() }
    try child.run()
    let deadline = monotonicNanoseconds() + Int((command.duration + 30) * 1e9)

    func shouldStop() -> Bool {
      if stopRequested.load(ordering: .relaxed) != 0 { return true }
      if monotonicNanoseconds() > deadline { hung = true; return true }
      return !child.isRunning
    }
    while !shouldStop() {
      if let plug {
        // The seed's loop: unplug all CPUs, then plug them all back.
        for cpu in plug.cpus where !shouldStop() {
          if HotPlug.set(cpu, online: false) != 0 { plugErrors += 1 }
        }
        for cpu in plug.cpus {
          if HotPlug.set(cpu, online: true) != 0 { plugErrors += 1 }
        }
        cycles += 1
      } else {
        usleep(20_000)
      }
    }
    interrupted = stopRequested.load(ordering: .relaxed)
    if child.isRunning {
      child.terminate()
      usleep(200_000)
      if child.isRunning { kill(child.processIdentifier, SIGKILL) }
    }
    child.waitUntilExit()
    let cpusBack = plug?.restoreAll() ?? true
    if interrupted != 0 {
      FileHandle.standardError.write(Data("jumplabel stress: interrupted; all CPUs online: \(cpusBack)\n".utf8))
      throw ExitCode(128 + interrupted)
    }

    var report: StressReport
    let data = out.fileHandleForReading.readDataToEndOfFile()
    if child.terminationReason == .uncaughtSignal {
      report = StressReport()
      report.patcher = command.patcher.rawValue
      report.threads = command.threads
      report.keys = command.keys
      report.sitesInWorkload = command.sites
      report.crashSignal = Self.signalName(child.terminationStatus)
      report.errors.append("workload process killed by \(report.crashSignal!)")
    } else if let r = try? JSONDecoder().decode(StressReport.self, from: data) {
      report = r
    } else {
      report = StressReport()
      report.errors.append("workload exited with status \(child.terminationStatus) and no report")
    }
    if hung {
      report.hung = true
      report.errors.append("workload did not finish within --duration + 30 s (hang)")
    }
    report.hotplugRequested = plug != nil
    report.hotplugCycles = cycles
    report.hotplugErrors = plugErrors
    report.cpusOnlineAtEnd = cpusBack
    if !cpusBack { report.errors.append("could not bring every CPU back online") }
    if plug != nil && cycles == 0 { report.errors.append("--hotplug: no hot-plug cycle completed") }
    report.verdict = report.errors.isEmpty && report.violations == 0 && report.crashSignal == nil && report.toggles > 0 ? "PASS" : "FAIL"
    return report
  }

  static func ownExecutable() -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    return n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
  }

  static func signalName(_ s: Int32) -> String {
    switch s {
    case SIGILL: return "SIGILL"
    case SIGSEGV: return "SIGSEGV"
    case SIGTRAP: return "SIGTRAP"
    case SIGBUS: return "SIGBUS"
    case SIGABRT: return "SIGABRT"
    case SIGFPE: return "SIGFPE"
    case SIGKILL: return "SIGKILL"
    case SIGTERM: return "SIGTERM"
    default: return "signal \(s)"
    }
  }
}

extension StressReport {
  func humanReadable(hotplugCPUs: [Int]) -> String {
    func f(_ x: Double, _ d: Int = 1) -> String { String(format: "%.\(d)f", x) }
    var lines = ["jumplabel stress: \(verdict)"]
    if let crashSignal {
      lines.append("  crash              the workload process died of \(crashSignal)")
    }
    lines += [
      "  patcher            \(patcher) (writer: \(writer.isEmpty ? "-" : writer))",
      "  run                \(f(durationSeconds)) s, \(threads) worker threads, \(keys) keys, \(sitesInWorkload) sites in the workload",
      "  toggles            \(toggles) (\(f(togglesPerSecond, 0))/s), \(batches) batches, \(syncs) syncs, \(sitesPatched) sites patched",
      "  executions         \(executions) (\(checkedExecutions) checked against a returned toggle), violations \(violations)",
      "  traps              \(trapsEmulated) emulated, \(staleTraps) stale, \(handlerRetries) handler retries, \(retireWaits) retire waits",
      "  thread churn       \(churnThreadsStarted) started, \(churnThreadsExited) exited",
      "  max worker stall   \(f(maxStallMicroseconds)) µs",
      dlopenChurn
        ? "  dlopen churn       \(dlopenLoads) loads (\(dlopenUnmapped) really unmapped), \(dlopenToggles) toggles, \(dlopenCalls) calls (\(dlopenChecked) checked), violations \(dlopenViolations), final \(dlopenSitesVerified - dlopenSitesWrong)/\(dlopenSitesVerified) sites right"
        : "  dlopen churn       not exercised (--dlopen-churn)",
      hotplugRequested
        ? "  cpu hot-plug       \(hotplugCycles) cycles of CPU \(hotplugCPUs.map(String.init).joined(separator: ",")) off/on, \(hotplugErrors) write errors, all online at end: \(cpusOnlineAtEnd)"
        : "  cpu hot-plug       not exercised (run as root with --hotplug)",
      "  final bytes        \(sitesVerified - sitesWrong)/\(sitesVerified) sites hold their key's instruction",
    ]
    for e in errors.prefix(10) { lines.append("  error: \(e)") }
    return lines.joined(separator: "\n")
  }
}
