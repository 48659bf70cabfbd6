import Glibc
import Synchronization
import Tracepoints

/// Where the server writes what it changed and whom it refused: one line
/// per event, to stderr or to a file the process chooses.
///
///     jumplabel-control[4242] 2026-12-03T12:18:51.123456789Z change by pid 99 uid 0: http.request.start false -> true (enable, ttl 30000 ms)
///     jumplabel-control[4242] 2026-12-03T12:18:52.000000000Z refused connection from pid 77 uid 65534 (not uid 0 or root)
public enum AuditDestination: Sendable, Equatable {
  case standardError
  case file(String)
}

/// Every line is escaped whole before it is written
/// (``ControlText/escaped(_:)``): a name or a message that came from a
/// peer can hold no newline, carriage return, escape sequence or NUL by
/// the time it reaches the log, so it can neither forge a line nor drive
/// the terminal of whoever reads the log. (Names with control characters
/// are refused anyway; this holds for everything else a peer sends too.)
final class AuditLog: @unchecked Sendable {
  // @unchecked: the descriptor is set once; lines are written whole.
  private let fd: Int32
  private let owns: Bool
  private let escaping: Bool

  init(_ destination: AuditDestination, escaping: Bool = true) throws(ControlError) {
    self.escaping = escaping
    switch destination {
    case .standardError:
      fd = 2
      owns = false
    case let .file(path):
      let d = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
      if d < 0 { throw .socket("cannot open the audit log \(path): \(String(cString: strerror(errno)))") }
      fd = d
      owns = true
    }
  }

  deinit { if owns { close(fd) } }

  func write(_ line: String) {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    let stamp = TimeFormat.rfc3339(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    let text = "jumplabel-control[\(getpid())] \(stamp) \(escaping ? ControlText.escaped(line) : line)\n"
    var bytes = Array(text.utf8)
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      done += n
    }
  }
}
