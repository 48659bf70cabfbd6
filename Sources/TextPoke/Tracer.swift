import Glibc
import Synchronization

/// A process that traces this one with ptrace (`TracerPid` in
/// /proc/self/status), and what it does with a SIGTRAP it did not cause.
///
/// That decides the protocol. A tracer sees every signal of the process
/// before the process does. One that **stops** on a SIGTRAP it did not
/// cause (a debugger: it reports "Program received signal SIGTRAP") turns
/// each of our int3 traps into a stop the user must deal with, and one that
/// **swallows** it resumes the thread in the middle of the instruction; with
/// either, the engine must not write int3 and parks threads instead. One
/// that **re-delivers** it (strace reports the signal and injects it back)
/// is harmless: our handler still runs.
///
/// The rule, checked on this machine type with a program that traps 2,000
/// times in a SIGTRAP handler of its own (see the Hardening article, "Tracers"):
/// - `strace` re-delivers: all 2,000 traps reach the handler;
/// - `ltrace` swallows: 0 of 2,000 reach it (the program keeps running);
/// - `gdb` stops at the first one.
/// Only tracers known to re-deliver are trusted: a tracer is identified by
/// its command name (/proc/PID/comm, readable by anyone), and every other
/// tracer (gdb, lldb, gdbserver, ltrace, rr, anything unknown) counts as one
/// that stops. `JUMPLABEL_SIGTRAP_TRANSPARENT_TRACERS` (command names,
/// comma-separated) adds names for a tracer the operator knows to
/// re-deliver.
public struct Tracer: Sendable, Hashable, CustomStringConvertible {
  /// Its process id.
  public let pid: Int
  /// Its command name ("?" if it could not be read).
  public let name: String
  /// False only for tracers known to re-deliver SIGTRAP.
  public let stopsOnSigtrap: Bool

  /// Tracers known to re-deliver every signal they did not cause.
  public static let transparentByDefault: Set<String> = ["strace"]

  init(pid: Int) {
    self.pid = pid
    let comm = Tracer.readComm(pid)
    name = comm ?? "?"
    let transparent = comm.map { Tracer.transparentNames.contains($0) } ?? false
    stopsOnSigtrap = !transparent || Tracer.allStop.load(ordering: .relaxed)
  }

  public var description: String { "\(name) (pid \(pid))" }

  /// The names trusted to re-deliver: the defaults plus the environment's.
  static let transparentNames: Set<String> = {
    var names = transparentByDefault
    if let env = getenv("JUMPLABEL_SIGTRAP_TRANSPARENT_TRACERS") {
      for n in String(cString: env).split(separator: ",") {
        let t = n.trimmingCharacters(inSet: " \t")
        if !t.isEmpty { names.insert(t) }
      }
    }
    return names
  }()

  /// Fault injection (tests): every tracer counts as one that stops.
  static let allStop = Atomic<Bool>(false)

  private static func readComm(_ pid: Int) -> String? {
    let fd = open("/proc/\(pid)/comm", O_RDONLY | O_CLOEXEC)
    if fd < 0 { return nil }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: 64)
    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if n <= 0 { return nil }
    var end = n
    while end > 0 && (buf[end - 1] == 0x0A || buf[end - 1] == 0) { end -= 1 }
    return String(decoding: buf[0..<end], as: UTF8.self)
  }
}

extension Substring {
  fileprivate func trimmingCharacters(inSet set: String) -> String {
    let drop = Set(set)
    return String(self.drop { drop.contains($0) }.reversed().drop { drop.contains($0) }.reversed())
  }
}
