import Foundation

/// What a child process did.
struct ChildRun {
  let status: Int32
  let signalled: Bool
  /// The child outlived `timeout` and was killed (SIGKILL).
  var timedOut = false
  let stdout: String
  let stderr: String
  /// stdout parsed as a JSON object (the tools' `--json` reports).
  var report: [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
  }
}

/// Runs `path` with `args` the way a shell would start it: stdin from
/// /dev/null and no signal blocked. (The test runner's threads block some
/// signals and a spawned child inherits that mask: gdb then waits for
/// SIGCHLD forever, and the stress supervisor never sees SIGTERM.)
/// `whileRunning` gets the process, for instance to signal it.
/// A child still running after `timeout` seconds is killed and reported as
/// `timedOut`: a hang fails the test instead of hanging the suite.
func spawn(_ path: String, _ args: [String], env: [String: String] = [:], timeout: Double = 300,
           whileRunning: ((Process) -> Void)? = nil) throws -> ChildRun {
  sigpipeHandled
  let p = Process()
  p.executableURL = URL(fileURLWithPath: path)
  p.arguments = args
  var e = ProcessInfo.processInfo.environment
  for (k, v) in env { e[k] = v }
  p.environment = e
  let out = Pipe(), err = Pipe()
  p.standardOutput = out
  p.standardError = err
  p.standardInput = FileHandle.nullDevice
  var none = sigset_t(), old = sigset_t()
  sigemptyset(&none)
  pthread_sigmask(SIG_SETMASK, &none, &old)
  defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
  try p.run()
  let killer = Killer(pid: p.processIdentifier, after: timeout)
  whileRunning?(p)
  // Both pipes at once: a child that fills one while we wait on the other
  // would block forever (a thread dump on stderr is tens of kilobytes).
  final class Box: @unchecked Sendable { var data = Data() }
  let errData = Box()
  let errDone = DispatchSemaphore(value: 0)
  let errHandle = err.fileHandleForReading
  Thread {
    errData.data = (try? errHandle.readToEnd()) ?? Data()
    errDone.signal()
  }.start()
  let o = (try? out.fileHandleForReading.readToEnd()) ?? Data()
  errDone.wait()
  let x = errData.data
  p.waitUntilExit()
  return ChildRun(status: p.terminationStatus, signalled: p.terminationReason == .uncaughtSignal,
                  timedOut: killer.finish(),
                  stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: x, as: UTF8.self))
}

/// Kills a child and all its descendants with SIGKILL after a deadline,
/// unless `finish()` comes first. Reports whether it had to. Descendants
/// too: a tool such as strace or gdb that is killed leaves its tracee
/// running, orphaned, holding our pipes, and reading them would never end.
final class Killer: @unchecked Sendable {
  // @unchecked: the two flags are only touched under `lock`.
  private let lock = NSLock()
  private var done = false
  private var fired = false

  init(pid: Int32, after seconds: Double) {
    Thread { [self] in
      let deadline = Date().addingTimeInterval(seconds)
      while Date() < deadline {
        Thread.sleep(forTimeInterval: 0.05)
        if lock.withLock({ done }) { return }
      }
      lock.withLock {
        if !done {
          fired = true
          killTree(pid)
        }
      }
    }.start()
  }

  /// The child exited: stop the timer. True if it was killed by it.
  func finish() -> Bool { lock.withLock { done = true; return fired } }
}

/// SIGKILLs `pid` and every process descended from it, found through
/// /proc before any is killed (an orphan is reparented and then cannot be
/// told from others).
func killTree(_ pid: Int32) {
  var children: [Int32: [Int32]] = [:]
  for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
    guard let p = Int32(entry),
          let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { continue }
    // After "pid (comm) ": the state, then the parent's pid.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    if fields.count > 1, let parent = Int32(fields[1]) { children[parent, default: []].append(p) }
  }
  var tree: [Int32] = [pid]
  var i = 0
  while i < tree.count {
    tree += children[tree[i]] ?? []
    i += 1
  }
  for p in tree { kill(p, SIGKILL) }
}

/// Reads `h` up to and including the first newline, a byte at a time (so
/// that nothing after it is consumed): a child's first line, which says
/// where it listens. Empty or partial if the child closed its end first.
func readFirstLine(_ h: FileHandle) -> String {
  sigpipeHandled
  var line = ""
  while !line.hasSuffix("\n") {
    // The throwing read: readData(ofLength:) traps on an error.
    guard let d = try? h.read(upToCount: 1), !d.isEmpty else { break }
    line += String(decoding: d, as: UTF8.self)
  }
  return line
}

/// The test process never dies of SIGPIPE: a write to a pipe or socket
/// whose reader is gone fails with EPIPE instead (every test write
/// handles it: `send(..., MSG_NOSIGNAL)`, `write(contentsOf:)`). Set once,
/// from the helpers every suite that spawns or connects goes through
/// (spawn, readFirstLine, ControlTests.rawConnect). An empty handler, not
/// SIG_IGN: an ignored signal stays ignored across exec, so the children
/// (the CLI, the harness) would lose their default; a handler is reset.
let sigpipeHandled: Void = {
  _ = signal(SIGPIPE) { _ in }
}()

/// Tests whose effects reach past their own child process take turns: CPU
/// hot-plug (bpftrace cannot open its per-CPU buffers while a CPU is
/// offline: "perf_event_open: No such device"), bpftrace and perf sessions
/// (attached by path, a tracer switches the tracepoints of every process
/// that runs the harness, which makes the runtime's first walk early in
/// the init-order scenario), and that scenario. Both were seen in CI runs.
/// Not reentrant: never nest.
///
/// The turn is taken in this process (a lock) and across processes (an
/// `flock` on /tmp/jumplabel-tests.machine-wide.lock), so that two test
/// runs on one machine (two checkouts, or the debug and release suites of
/// two clones) do not unplug a CPU under each other's bpftrace.
enum MachineWide {
  private static let lock = NSLock()
  private static let path = "/tmp/jumplabel-tests.machine-wide.lock"

  static func exclusively<T>(_ body: () throws -> T) rethrows -> T {
    lock.lock()
    defer { lock.unlock() }
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
    if fd >= 0 {
      while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
    }
    defer { if fd >= 0 { close(fd) } }  // closing releases the flock
    return try body()
  }
}
