import Glibc
import Synchronization

/// Writes each event as one line of JSON to a file descriptor or a file:
/// `{"time":"2026-12-03T12:18:51.123456789Z","tid":4242,"tracepoint":"http.request.start","payload":{...}}`.
///
/// One `write(2)` per line, so lines from several threads do not
/// interleave (a pipe keeps writes of up to 4 KiB whole; a file opened
/// here is opened with O_APPEND). A write that fails is counted in
/// ``writeErrors`` and the event is lost; the emitter never sees an error.
public final class JSONLinesSink: TracepointSink, @unchecked Sendable {
  // @unchecked: the descriptor is immutable; counters are atomic.
  private let fd: Int32
  private let ownsDescriptor: Bool
  private let errors = Atomic<Int>(0)
  private let lines = Atomic<Int>(0)

  /// Writes to `fileDescriptor` (not closed by the sink).
  public init(fileDescriptor: Int32) {
    fd = fileDescriptor
    ownsDescriptor = false
  }

  /// Appends to the file at `path`, created with mode 0600 if needed.
  public init(path: String) throws(SinkError) {
    let d = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
    if d < 0 { throw SinkError.cannotOpen(path: path, errno: errno) }
    fd = d
    ownsDescriptor = true
  }

  deinit { if ownsDescriptor { close(fd) } }

  /// Lines that could not be written.
  public var writeErrors: Int { errors.load(ordering: .relaxed) }
  /// Lines written.
  public var linesWritten: Int { lines.load(ordering: .relaxed) }

  /// Writes `event` as one JSON line with one `write` (continued after a
  /// partial write or EINTR), on the emitting thread. A failed write is counted in ``writeErrors``;
  /// the event is then lost.
  public func receive(_ event: borrowing TracepointEvent) {
    var w = JSONWriter()
    event.jsonLine(into: &w)
    w.raw("\n")
    let ok = w.bytes.withUnsafeBytes { buf -> Bool in
      var done = 0
      while done < buf.count {
        let n = write(fd, buf.baseAddress! + done, buf.count - done)
        if n < 0 {
          if errno == EINTR { continue }
          return false
        }
        done += n
      }
      return true
    }
    if ok { lines.add(1, ordering: .relaxed) } else { errors.add(1, ordering: .relaxed) }
  }
}

/// Why a sink could not be made.
public enum SinkError: Error, Sendable, CustomStringConvertible {
  /// The file could not be opened; `errno` says why.
  case cannotOpen(path: String, errno: Int32)
  /// The sink's memory could not be allocated.
  case outOfMemory

  public var description: String {
    switch self {
    case let .cannotOpen(path, e): return "cannot open \(path): \(String(cString: strerror(e)))"
    case .outOfMemory: return "out of memory"
    }
  }
}
