import CJumpLabelControl
import Glibc

/// The client side of the control protocol: what `jumplabel ctl` uses to
/// talk to a process. Blocking, one request at a time.
public final class ControlClient {
  /// The connection's descriptor.
  public let fd: Int32
  /// The server's answer to hello.
  public private(set) var version: UInt16 = 0
  public private(set) var pid: UInt32 = 0
  public private(set) var program = ""
  private var input: [UInt8] = []
  private var pending: [Message] = []

  /// Connects to the socket at `path` and says hello. Reads time out after
  /// `timeout` (a server that stops answering is reported, not waited for).
  public init(path: String, timeout: Duration = .seconds(10), client: String = "jumplabel-ctl") throws(ControlError) {
    let d = jlc_connect(path)
    if d < 0 { throw .socket("cannot connect to \(path): \(String(cString: strerror(-d)))") }
    fd = d
    let (s, a) = timeout.components
    _ = jlc_set_receive_timeout(fd, Int32(clamping: s * 1000 + a / 1_000_000_000_000_000))
    // A server that refuses us writes its error and closes at once: our
    // hello may then fail to send, but the error is still there to read.
    let sent: ControlError?
    do { try send(.hello(minVersion: Frame.versions.lowerBound, maxVersion: Frame.versions.upperBound, client: client)); sent = nil } catch { sent = error }
    let first: Message
    do {
      first = try receive()
    } catch {
      Glibc.close(fd)
      throw sent ?? error
    }
    switch first {
    case let .welcome(v, p, _, program, _):
      version = v
      pid = p
      self.program = program
    case let .error(code, message):
      Glibc.close(fd)
      throw .refused(code: code.rawValue, message: message)
    default:
      Glibc.close(fd)
      throw .protocolError(.malformed("expected welcome"))
    }
  }

  deinit { Glibc.close(fd) }

  /// Sends one message.
  public func send(_ m: Message) throws(ControlError) {
    var bytes = m.frame.bytes
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { throw .closed }
      done += n
    }
  }

  /// The next message; throws `.closed` at end of stream, a socket error
  /// on a timeout.
  public func receive() throws(ControlError) -> Message {
    while pending.isEmpty {
      var buf = [UInt8](repeating: 0, count: 65_536)
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n == 0 { throw .closed }
      if n < 0 {
        if errno == EINTR { continue }
        if errno == EAGAIN || errno == EWOULDBLOCK { throw .socket("no answer from the process within the timeout") }
        throw .socket("read: \(String(cString: strerror(errno)))")
      }
      input += buf[0..<n]
      do {
        pending += try Message.decodeAll(from: &input)
      } catch {
        throw .protocolError(error)
      }
    }
    return pending.removeFirst()
  }

  /// The next message, or nil if none came within `milliseconds`.
  public func receive(waitingAtMost milliseconds: Int32) throws(ControlError) -> Message? {
    if !pending.isEmpty { return pending.removeFirst() }
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let n = poll(&p, 1, milliseconds)
    if n == 0 { return nil }
    if n < 0 { return errno == EINTR ? nil : try receive() }
    return try receive()
  }

  /// Every key and tracepoint of the process.
  public func list() throws(ControlError) -> [Message.ListEntry] {
    try send(.list)
    var all: [Message.ListEntry] = []
    while true {
      switch try receive() {
      case let .listPart(last, entries):
        all += entries
        if last { return all }
      case let .error(code, message): throw .refused(code: code.rawValue, message: message)
      default: throw .protocolError(.malformed("expected a list part"))
      }
    }
  }

  /// Switches the keys matching `patterns` in one batch.
  public func set(enable: Bool, patterns: [String], dryRun: Bool = false, hold: Bool = false, ttlMillis: UInt32 = 0) throws(ControlError) -> [Message.Change] {
    try send(.set(enable: enable, dryRun: dryRun, hold: hold, ttlMillis: ttlMillis, patterns: patterns))
    switch try receive() {
    case let .setResult(changes): return changes
    case let .error(code, message): throw .refused(code: code.rawValue, message: message)
    default: throw .protocolError(.malformed("expected a set result"))
    }
  }

  /// Starts a trace; events follow as `.event` messages, then `.traceEnd`.
  public func startTrace(patterns: [String], maxEvents: UInt32 = 0, durationMillis: UInt32 = 0, bufferEvents: UInt32 = 0) throws(ControlError) -> [String] {
    try send(.trace(maxEvents: maxEvents, durationMillis: durationMillis, bufferEvents: bufferEvents, patterns: patterns))
    switch try receive() {
    case let .traceStarted(names): return names
    case let .error(code, message): throw .refused(code: code.rawValue, message: message)
    default: throw .protocolError(.malformed("expected trace started"))
    }
  }

  /// Finds the control socket of process `pid` among this user's socket
  /// directories (and, as root, every user's).
  public static func socketPath(forPID pid: Int32) throws(ControlError) -> String {
    guard let p = ControlProcess.all(removeStale: false).first(where: { $0.pid == pid }) else { throw .noSocket(pid: pid) }
    return p.socket
  }
}

/// A process with a live control socket.
public struct ControlProcess: Sendable, Hashable {
  public let pid: Int32
  public let startTime: UInt64
  /// The socket file's owner.
  public let uid: UInt32
  /// /proc/PID/comm.
  public let command: String
  public let socket: String

  /// Every process with a live socket in the directories this user may
  /// look at: its own (``SocketDirectory/candidates(uid:xdgRuntimeDir:)``),
  /// and as root every user's. Sockets whose process is gone (or whose pid
  /// now names another process: the start time differs) are removed when
  /// `removeStale` (and this user may).
  public static func all(removeStale: Bool) -> [ControlProcess] {
    var dirs = SocketDirectory.candidates()
    if geteuid() == 0 {
      for u in SocketDirectory.entries(of: "/run/user") { dirs.append("/run/user/\(u)/jumplabel") }
      for e in SocketDirectory.entries(of: "/tmp") where e.hasPrefix("jumplabel-") { dirs.append("/tmp/\(e)") }
    }
    var seen = Set<String>()
    var out: [ControlProcess] = []
    for dir in dirs where seen.insert(dir).inserted {
      for name in SocketDirectory.entries(of: dir) {
        guard let (pid, start) = SocketDirectory.parse(name) else { continue }
        let path = dir + "/" + name
        if !SocketDirectory.isLive(pid: pid, startTime: start) {
          if removeStale { unlink(path) }
          continue
        }
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK else { continue }
        let comm = SocketDirectory.readFile("/proc/\(pid)/comm")?.trimmingCharacters() ?? "?"
        out.append(ControlProcess(pid: pid, startTime: start, uid: st.st_uid, command: comm, socket: path))
      }
    }
    return out.sorted { $0.pid < $1.pid }
  }
}
