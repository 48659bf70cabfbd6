import Foundation
import Glibc
import Synchronization

/// Ends the process with a thread dump, exit status 3, if its progress
/// counter stops moving for `limit` seconds: a deadlock fails loudly and
/// explains itself instead of hanging CI.
///
/// It takes no lock of ours and never calls the dynamic loader, so it keeps
/// running whatever the rest of the process is stuck on.
package final class Watchdog: Sendable {
  private let limit: Double
  private let what: String
  private let progress: @Sendable () -> Int
  private let stopped = Atomic<Bool>(false)

  package init(limit: Double, what: String, progress: @escaping @Sendable () -> Int) {
    self.limit = limit
    self.what = what
    self.progress = progress
  }

  package func start() {
    Thread { [self] in
      var last = progress()
      var since = monotonicNanoseconds()
      while !stopped.load(ordering: .relaxed) {
        usleep(100_000)
        let now = progress()
        if now != last {
          last = now
          since = monotonicNanoseconds()
        } else if Double(monotonicNanoseconds() - since) / 1e9 > limit {
          fail()
        }
      }
    }.start()
  }

  package func stop() { stopped.store(true, ordering: .relaxed) }

  private func fail() -> Never {
    let pid = getpid()
    FileHandle.standardError.write(Data("watchdog: no progress in \(what) for \(limit) s: deadlock; thread dump follows\n".utf8))
    if !runGDB(pid) {
      // No gdb: what the kernel says each thread is waiting in.
      let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
      for t in tasks.sorted() {
        let comm = (try? String(contentsOfFile: "/proc/self/task/\(t)/comm", encoding: .utf8)) ?? "?"
        let wchan = (try? String(contentsOfFile: "/proc/self/task/\(t)/wchan", encoding: .utf8)) ?? "?"
        let stack = (try? String(contentsOfFile: "/proc/self/task/\(t)/stack", encoding: .utf8)) ?? ""
        FileHandle.standardError.write(Data("thread \(t) \(comm.trimmingCharacters(in: .whitespacesAndNewlines)) waiting in \(wchan)\n\(stack)".utf8))
      }
    }
    FileHandle.standardError.write(Data("watchdog: FAIL (deadlock in \(what))\n".utf8))
    _exit(3)
  }

  /// `gdb -batch -p PID -ex "thread apply all bt"`, output to stderr.
  private func runGDB(_ pid: pid_t) -> Bool {
    let args = ["gdb", "-nx", "-batch", "-iex", "set complaints 0", "-p", "\(pid)", "-ex", "thread apply all bt"]
    var cargs = args.map { strdup($0) } + [nil]
    defer { for a in cargs { free(a) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, 2, 1)  // the dump goes to our stderr,
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)  // gdb's chatter nowhere
    var child: pid_t = 0
    guard posix_spawnp(&child, "gdb", &actions, nil, &cargs, environ) == 0 else { return false }
    // Bounded: a gdb that hangs must not turn a caught deadlock into a hang.
    var status: Int32 = 0
    let deadline = monotonicNanoseconds() + 150_000_000_000  // 150 s: gdb reading a debug build's symbols on a loaded machine
    while waitpid(child, &status, WNOHANG) == 0 {
      if monotonicNanoseconds() > deadline {
        kill(child, SIGKILL)
        waitpid(child, &status, 0)
        return false
      }
      usleep(50_000)
    }
    return status == 0
  }
}
