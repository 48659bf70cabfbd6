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
    errData.data = errHandle.readDataToEndOfFile()
    errDone.signal()
  }.start()
  let o = out.fileHandleForReading.readDataToEndOfFile()
  errDone.wait()
  let x = errData.data
  p.waitUntilExit()
  return ChildRun(status: p.terminationStatus, signalled: p.terminationReason == .uncaughtSignal,
                  timedOut: killer.finish(),
                  stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: x, as: UTF8.self))
}

/// Kills a process group's leader with SIGKILL after a deadline, unless
/// `finish()` comes first. Reports whether it had to.
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
          kill(pid, SIGKILL)
        }
      }
    }.start()
  }

  /// The child exited: stop the timer. True if it was killed by it.
  func finish() -> Bool { lock.withLock { done = true; return fired } }
}
