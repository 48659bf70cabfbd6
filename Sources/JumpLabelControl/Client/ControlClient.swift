import CJumpLabelControl
import Glibc

/// The client side of the control protocol: what `jumplabel ctl` uses to
/// talk to a process. Blocking, one request at a time.
///
/// ``connect(pid:socket:timeout:)`` checks what it connects to before it believes
/// a word (see ControlSecurity.md): the socket is found only in
/// directories that pass the server's own checks, it must be owned by the
/// target process's user, the kernel's credentials of the peer
/// (SO_PEERCRED) must name the target process, and the welcome must name
/// it too (pid, start time, pid namespace).
public final class ControlClient {
  /// The connection's descriptor.
  public let fd: Int32
  /// The server's answer to hello.
  public private(set) var version: UInt16 = 0
  public private(set) var pid: UInt32 = 0
  public private(set) var startTime: UInt64 = 0
  public private(set) var pidNamespace: UInt64 = 0
  /// The server's program name, as it says (escape it before printing).
  public private(set) var program = ""
  /// The server closes a connection idle this long; `receive(waitingAtMost:)`
  /// sends a `ping` after a third of it.
  public private(set) var idleTimeoutMillis: UInt32 = 0
  private var input: [UInt8] = []
  private var pending: [(message: Message, size: Int)] = []
  private var lastSent: UInt64 = 0

  /// The process a client means to reach.
  public struct Expected: Sendable, Equatable {
    public var pid: Int32
    public var startTime: UInt64
    public var pidNamespace: UInt64
    /// The process's effective uid.
    public var uid: uid_t
    public init(pid: Int32, startTime: UInt64, pidNamespace: UInt64, uid: uid_t) {
      self.pid = pid
      self.startTime = startTime
      self.pidNamespace = pidNamespace
      self.uid = uid
    }

    /// Process `pid` of this pid namespace, as /proc describes it now.
    public static func process(_ pid: Int32) throws(ControlError) -> Expected {
      guard let start = SocketDirectory.startTime(of: pid), let uid = SocketDirectory.effectiveUID(of: pid) else {
        throw .noSocket(pid: pid)
      }
      return Expected(pid: pid, startTime: start, pidNamespace: SocketDirectory.pidNamespace, uid: uid)
    }
  }

  /// Connects to the socket at `path` and says hello. With `expecting`,
  /// refuses (``ControlError/untrusted(path:reason:)``) a peer whose
  /// kernel credentials or welcome name another process. Reads time out
  /// after `timeout` (a server that stops answering is reported, not
  /// waited for).
  public convenience init(path: String, expecting: Expected? = nil, timeout: Duration = .seconds(10), client: String = "jumplabel-ctl") throws(ControlError) {
    let d = jlc_connect(path)
    if d < 0 { throw .socket("cannot connect to \(ControlText.escaped(path)): \(String(cString: strerror(-d)))") }
    try self.init(connected: d, path: path, expecting: expecting, timeout: timeout, client: client)
  }

  /// Tests only (the client's fuzz test): says hello over a descriptor
  /// that is connected already (one end of a socketpair). Takes
  /// ownership of `d` (closed on failure and at deinit).
  @_spi(Testing) public init(connected d: Int32, path: String, expecting: Expected? = nil, timeout: Duration = .seconds(10), client: String = "jumplabel-ctl") throws(ControlError) {
    // Every stored property has its value once `fd` is set, so a throw
    // from here on runs deinit, which closes `fd`: the failure paths must
    // not close it too. (They did: the second close hit whatever the
    // process had opened under that number meanwhile, another thread's
    // socket or pipe, which then failed with EPIPE or ECONNRESET.)
    fd = d
    let (s, a) = timeout.components
    _ = jlc_set_receive_timeout(fd, Int32(clamping: s * 1000 + a / 1_000_000_000_000_000))
    let checks = ControlTesting.isOn(.peerChecks)
    if checks, let e = expecting {
      // The kernel's word, not the peer's: who is at the other end.
      var ppid: Int32 = 0, puid: UInt32 = 0, pgid: UInt32 = 0
      guard jlc_peer(fd, &ppid, &puid, &pgid) == 0 else {
        throw .untrusted(path: path, reason: "cannot read the server's credentials (SO_PEERCRED)")
      }
      guard ppid == e.pid, puid == e.uid else {
        throw .untrusted(path: path, reason: "the socket is served by pid \(ppid) uid \(puid), not by pid \(e.pid) uid \(e.uid)")
      }
    }
    // A server that refuses us writes its error and closes at once: our
    // hello may then fail to send, but the error is still there to read.
    let sent: ControlError?
    do { try send(.hello(minVersion: Frame.versions.lowerBound, maxVersion: Frame.versions.upperBound, client: client)); sent = nil } catch { sent = error }
    let first: Message
    do {
      first = try receive()
    } catch {
      throw sent ?? error
    }
    switch first {
    case let .welcome(v, p, start, ns, program, _, idle):
      version = v
      pid = p
      startTime = start
      pidNamespace = ns
      self.program = program
      idleTimeoutMillis = idle
      if checks, let e = expecting, p != UInt32(bitPattern: e.pid) || start != e.startTime || ns != e.pidNamespace {
        throw .untrusted(path: path, reason: "the server says it is pid \(p) (start \(start), pid namespace \(ns)), not pid \(e.pid) (start \(e.startTime), pid namespace \(e.pidNamespace))")
      }
    case let .error(code, message):
      throw .refused(code: code.rawValue, message: message)
    default:
      throw .protocolError(.malformed("expected welcome"))
    }
  }

  deinit { Glibc.close(fd) }

  /// Connects to process `pid` (of this pid namespace): through `socket`
  /// if given, else through the socket found for it by
  /// ``ControlProcess/scan(removeStale:)``. The socket must be a socket
  /// (not a symlink) owned by the process's user, and the peer must be
  /// the process (SO_PEERCRED, then the welcome). Each answer is waited
  /// for at most `timeout`.
  public static func connect(pid: Int32, socket: String? = nil, timeout: Duration = .seconds(10)) throws(ControlError) -> ControlClient {
    let expected = try Expected.process(pid)
    let path: String
    if let socket {
      path = socket
    } else {
      guard let p = ControlProcess.scan(removeStale: false).processes.first(where: { $0.pid == pid && $0.inThisNamespace }) else {
        throw .noSocket(pid: pid)
      }
      path = p.socket
    }
    if ControlTesting.isOn(.peerChecks) {
      var st = stat()
      guard lstat(path, &st) == 0 else { throw .socket("cannot reach \(ControlText.escaped(path)): \(String(cString: strerror(errno)))") }
      guard st.st_mode & S_IFMT == S_IFSOCK else { throw .untrusted(path: path, reason: "it is not a socket (a symbolic link?)") }
      guard st.st_uid == expected.uid else {
        throw .untrusted(path: path, reason: "it belongs to uid \(st.st_uid), but process \(pid) runs as uid \(expected.uid)")
      }
    }
    return try ControlClient(path: path, expecting: expected, timeout: timeout)
  }

  /// Sends one message. A request too large for a message (too many or
  /// too long names) is refused here, before anything is sent.
  public func send(_ m: Message) throws(ControlError) {
    let bytes: [UInt8]
    do {
      bytes = try m.encoded()
    } catch {
      throw .invalidRequest("the request does not fit in one control message (at most \(Frame.maxBody) bytes): name fewer or shorter keys")
    }
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { throw .closed }
      done += n
    }
    lastSent = monotonic()
  }

  /// The next message (heartbeat answers are skipped); throws `.closed`
  /// at end of stream, a socket error on a timeout.
  public func receive() throws(ControlError) -> Message { try receiveSized().message }

  /// The next message and its size on the wire.
  private func receiveSized() throws(ControlError) -> (message: Message, size: Int) {
    while true {
      while pending.isEmpty { try readOnce() }
      let m = pending.removeFirst()
      if case .pong = m.message { continue }
      return m
    }
  }

  /// One read (blocking, up to the receive timeout), decoded into `pending`.
  private func readOnce() throws(ControlError) {
    var buf = [UInt8](repeating: 0, count: 65_536)
    var n: Int
    repeat { n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } } while n < 0 && errno == EINTR
    if n == 0 { throw .closed }
    if n < 0 {
      if errno == EAGAIN || errno == EWOULDBLOCK { throw .socket("no answer from the process within the timeout") }
      throw .socket("read: \(String(cString: strerror(errno)))")
    }
    input += buf[0..<n]
    do {
      while let f = try Frame.extractOne(from: &input) { pending.append((try Message.decode(f), Frame.headerSize + f.body.count)) }
    } catch {
      throw .protocolError(error)
    }
  }

  /// Drops heartbeat answers at the front of `pending`.
  private func dropPongs() {
    while let first = pending.first, case .pong = first.message { pending.removeFirst() }
  }

  /// Receives the parts of one reply (bounded: ``ReplyParts``).
  private func collect<Item>(_ parts: inout ReplyParts<Item>, _ part: (Message) -> (last: Bool, items: [Item])?) throws(ControlError) {
    while true {
      let (m, size) = try receiveSized()
      let step: ReplyParts<Item>.Step
      do {
        step = try parts.take(m, size: size, part: part)
      } catch {
        throw .protocolError(error)
      }
      switch step {
      case .more: continue
      case .done: return
      case let .failed(code, message): throw .refused(code: code.rawValue, message: message)
      }
    }
  }

  /// The next message, or nil if none came within `milliseconds`. Sends
  /// a `ping` first when a third of the server's idle timeout passed since
  /// this client last sent anything: a `--hold` lease or a quiet trace
  /// keeps its connection that way.
  public func receive(waitingAtMost milliseconds: Int32) throws(ControlError) -> Message? {
    if idleTimeoutMillis > 0 && monotonic() - lastSent > UInt64(idleTimeoutMillis) * 1_000_000 / 3 { try send(.ping) }
    dropPongs()
    if !pending.isEmpty { return pending.removeFirst().message }
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let n = poll(&p, 1, milliseconds)
    if n == 0 || (n < 0 && errno == EINTR) { return nil }
    // Readable: one read, never a second (what came may be only a pong).
    try readOnce()
    dropPongs()
    return pending.isEmpty ? nil : pending.removeFirst().message
  }

  /// Every key and tracepoint of the process, with its holders and the
  /// reason of its last forced disable (all parts of the reply).
  public func list() throws(ControlError) -> [Message.ListEntry] {
    try send(.list)
    var parts = ReplyParts<Message.ListEntry>(expecting: "a list part")
    try collect(&parts) { if case let .listPart(last, e) = $0 { (last, e) } else { nil } }
    return parts.items
  }

  /// Switches the keys matching `patterns` in one batch. Names are
  /// checked here first (``ControlText/problem(withName:what:)``).
  /// `force` drops the other holders of keys being disabled instead of
  /// refusing; `undeclared` remembers names no image declares (else they
  /// are refused, with suggestions). Returns the changes and what the
  /// batch cost in the process (nil: nothing was patched).
  public func set(enable: Bool, patterns: [String], dryRun: Bool = false, hold: Bool = false, ttlMillis: UInt32 = 0,
                  force: Bool = false, undeclared: Bool = false) throws(ControlError) -> (changes: [Message.Change], cost: Message.BatchCost?) {
    try Self.check(patterns, what: "key name or pattern")
    try send(.set(enable: enable, dryRun: dryRun, hold: hold, ttlMillis: ttlMillis, force: force, undeclared: undeclared, patterns: patterns))
    var parts = ReplyParts<Message.Change>(expecting: "a set result part")
    var cost: Message.BatchCost?
    try collect(&parts) {
      guard case let .setResultPart(last, c, changes) = $0 else { return nil }
      if last { cost = c }
      return (last, changes)
    }
    return (parts.items, cost)
  }

  /// Forgets the remembered states of these undeclared names; returns
  /// those it dropped.
  public func forget(_ names: [String]) throws(ControlError) -> [String] {
    try Self.check(names, what: "key name")
    try send(.forget(names: names))
    var all: [String] = []
    while true {
      switch try receive() {
      case let .forgottenPart(last, names):
        all += names
        if last { return all }
      case let .error(code, message): throw .refused(code: code.rawValue, message: message)
      default: throw .protocolError(.malformed("expected forgotten names"))
      }
    }
  }

  /// A dynamic-debug or live-log-level command (`query QUERY`, `list
  /// [SPECS]`, `list-json [SPECS]`, `log module|label NAME LEVEL`, `log
  /// default LEVEL`, `log show`): the reply's lines.
  public func debug(_ command: String) throws(ControlError) -> [String] {
    try send(.debug(command: command))
    var parts = ReplyParts<String>(expecting: "a debug reply part")
    try collect(&parts) { if case let .debugReplyPart(last, l) = $0 { (last, l) } else { nil } }
    return parts.items
  }

  /// Starts a trace; events follow as `.event` messages, then `.traceEnd`.
  /// Returns the tracepoints attached and the buffer granted (in events).
  public func startTrace(patterns: [String], maxEvents: UInt32 = 0, durationMillis: UInt32 = 0, bufferEvents: UInt32 = 0) throws(ControlError) -> (names: [String], bufferEvents: UInt32) {
    try Self.check(patterns, what: "tracepoint name or pattern")
    try send(.trace(maxEvents: maxEvents, durationMillis: durationMillis, bufferEvents: bufferEvents, patterns: patterns))
    var parts = ReplyParts<String>(expecting: "a trace started part")
    try collect(&parts) { if case let .traceStartedPart(last, _, n) = $0 { (last, n) } else { nil } }
    return (parts.items, parts.bufferEvents)
  }

  static func check(_ names: [String], what: String) throws(ControlError) {
    for n in names { if let p = ControlText.problem(withName: n, what: what) { throw .invalidRequest(p) } }
  }

  /// Finds the control socket of process `pid` among this user's socket
  /// directories (and, as root, every user's).
  public static func socketPath(forPID pid: Int32) throws(ControlError) -> String {
    guard let p = ControlProcess.scan(removeStale: false).processes.first(where: { $0.pid == pid && $0.inThisNamespace }) else {
      throw .noSocket(pid: pid)
    }
    return p.socket
  }
}
