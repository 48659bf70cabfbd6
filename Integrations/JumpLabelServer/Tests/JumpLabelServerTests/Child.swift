import Foundation
import Synchronization

/// A child process whose output is collected as it runs.
final class Child: @unchecked Sendable {
  // @unchecked: `process` is only read after `run()`; the buffers are locked.
  let process: Process
  private let output = Mutex(Data())
  private let errors = Mutex(Data())
  private let readers = DispatchGroup()

  /// Starts `path` with `arguments`; `environment` is added to ours.
  init(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    process = p
    try p.run()
    collect(out.fileHandleForReading, isError: false)
    collect(err.fileHandleForReading, isError: true)
  }

  private func collect(_ handle: FileHandle, isError: Bool) {
    readers.enter()
    Thread.detachNewThread { [self] in
      let me = self
      while true {
        let chunk = handle.availableData
        if chunk.isEmpty { break }
        if isError { me.errors.withLock { $0.append(chunk) } } else { me.output.withLock { $0.append(chunk) } }
      }
      me.readers.leave()
    }
  }

  var pid: Int32 { process.processIdentifier }
  var stdout: String { output.withLock { String(decoding: $0, as: UTF8.self) } }
  var stderr: String { errors.withLock { String(decoding: $0, as: UTF8.self) } }

  /// Waits for the child to exit; kills it after `timeout` (a hang guard).
  /// Returns its exit status, or nil if it had to be killed.
  @discardableResult
  func wait(timeout: Duration) -> Int32? {
    let deadline = ContinuousClock.now + timeout
    while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
    var killed = false
    if process.isRunning {
      kill(pid, SIGKILL)
      killed = true
    }
    process.waitUntilExit()
    readers.wait()
    return killed ? nil : process.terminationStatus
  }

  /// Asks the child to stop (SIGTERM) and waits for it.
  @discardableResult
  func stop(timeout: Duration = .seconds(30)) -> Int32? {
    if process.isRunning { kill(pid, SIGTERM) }
    return wait(timeout: timeout)
  }

  /// Waits until `condition` holds on the output so far, polling; false
  /// after `timeout` (a hang guard) or if the child exited first.
  func waitForOutput(timeout: Duration, _ condition: (String) -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      if condition(stdout) { return true }
      if !process.isRunning { return condition(stdout) }
      usleep(20_000)
    }
    return false
  }

  /// Runs `path` to completion (killed after `timeout`).
  static func run(_ path: String, _ arguments: [String], environment: [String: String] = [:],
                  timeout: Duration = .seconds(120)) throws -> (status: Int32?, stdout: String, stderr: String) {
    let c = try Child(path, arguments, environment: environment)
    let status = c.wait(timeout: timeout)
    return (status, c.stdout, c.stderr)
  }
}

/// Polls `condition` until it holds; false after `timeout` (a hang guard).
func eventually(timeout: Duration = .seconds(60), _ condition: () throws -> Bool) rethrows -> Bool {
  let deadline = ContinuousClock.now + timeout
  while ContinuousClock.now < deadline {
    if try condition() { return true }
    usleep(50_000)
  }
  return try condition()
}

/// Runs `body` holding the machine-wide lock that the root package's tests
/// take around bpftrace, perf and CPU hot-plug (flock on
/// /tmp/jumplabel-tests.machine-wide.lock), so that two test runs do not
/// interfere machine-wide.
func machineWide<T>(_ body: () throws -> T) rethrows -> T {
  let fd = open("/tmp/jumplabel-tests.machine-wide.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
  if fd >= 0 { while flock(fd, LOCK_EX) != 0 && errno == EINTR {} }
  defer { if fd >= 0 { close(fd) } }  // closing releases the lock
  return try body()
}
