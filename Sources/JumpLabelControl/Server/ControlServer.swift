import CJumpLabelControl
import Glibc
import JumpLabel
import Synchronization
import Tracepoints

/// The control server: one thread, one poll loop, all its state owned by
/// that thread (no lock), except what `stop()` and `start()` touch, which
/// goes through `running`.
final class ControlServer: @unchecked Sendable {
  // @unchecked: everything mutable is touched only by the server thread,
  // after `start` published the object.
  let path: String
  let options: JumpLabelControl.Options
  let audit: AuditLog
  private let listenFD: Int32
  private let wakeFD: Int32
  private let ownerPID = getpid()
  private let stopping = Atomic<Bool>(false)
  private(set) var connections: [Int32: Connection] = [:]
  var reverts: [Revert] = []
  /// Numbers the leases, so that each is a holder of its own.
  var leaseSerial = 0
  /// When to hand freed trace buffers back to the system (see `tick`).
  var trimDue: UInt64?

  private static let running = Mutex<ControlServer?>(nil)

  static var current: ControlServer? { running.withLock { $0 } }

  private init(path: String, options: JumpLabelControl.Options, audit: AuditLog, listenFD: Int32, wakeFD: Int32) {
    self.path = path
    self.options = options
    self.audit = audit
    self.listenFD = listenFD
    self.wakeFD = wakeFD
  }

  /// Sets up the directory and the socket, then runs the loop on a new
  /// thread (or on this one, for the autostart thread).
  @discardableResult
  static func start(_ options: JumpLabelControl.Options, onThisThread: Bool = false) throws(ControlError) -> String {
    let server: ControlServer = try running.withLock { (cur: inout ControlServer?) throws(ControlError) -> ControlServer in
      if let cur { throw .alreadyRunning(path: cur.path) }
      let s = try make(options)
      cur = s
      return s
    }
    installExitHandlers()
    server.audit.write("listening on \(server.path)")
    if onThisThread { server.loop() } else { spawn { server.loop() } }
    return server.path
  }

  private static func make(_ options: JumpLabelControl.Options) throws(ControlError) -> ControlServer {
    let dir: String
    if options._skipDirectoryChecks, let d = options.directory {
      dir = d
    } else {
      dir = try SocketDirectory.prepare(options.directory)
    }
    let removed = SocketDirectory.removeStale(in: dir, owner: geteuid(), disabled: options._disabledDefences)
    let pid = getpid()
    guard let start = SocketDirectory.ownStartTime else { throw .socket("cannot read this process's start time from /proc/self/stat") }
    let name = SocketDirectory.socketName(pidNamespace: SocketDirectory.pidNamespace, pid: pid, startTime: start)
    let final = dir + "/" + name
    let temporary = dir + "/." + name + ".tmp"
    guard final.utf8.count < 108 else { throw .socket("socket path too long for a Unix socket (\(final.utf8.count) bytes, at most 107): \(final)") }
    // Bound under a temporary name, given its mode, then renamed into
    // place: the socket never exists under its real name with any other
    // mode (and the directory is 0700 anyway).
    unlink(temporary)
    let fd = jlc_listen(temporary, 64)
    if fd < 0 { throw .socket("cannot listen on \(temporary): \(String(cString: strerror(-fd)))") }
    if chmod(temporary, options._socketMode) != 0 || rename(temporary, final) != 0 {
      let e = errno
      Glibc.close(fd)
      unlink(temporary)
      throw .socket("cannot put the socket in place at \(final): \(String(cString: strerror(e)))")
    }
    let wake = jlc_eventfd()
    if wake < 0 {
      Glibc.close(fd)
      unlink(final)
      throw .socket("eventfd: \(String(cString: strerror(-wake)))")
    }
    let audit = try AuditLog(options.auditLog, escaping: !options._disabledDefences.contains(.auditEscaping))
    for r in removed { audit.write("removed the stale socket \(dir)/\(r)") }
    return ControlServer(path: final, options: options, audit: audit, listenFD: fd, wakeFD: wake)
  }

  /// atexit: remove the socket (only in the process that made it); fork:
  /// the child drops the listening socket it inherited (it has no server
  /// thread) and never removes the parent's socket.
  private static let exitHandlersInstalled = Atomic<Bool>(false)
  private static func installExitHandlers() {
    guard !exitHandlersInstalled.exchange(true, ordering: .relaxed) else { return }
    atexit {
      if let s = ControlServer.current, s.ownerPID == getpid() { unlink(s.path) }
    }
    pthread_atfork(nil, nil) {
      ControlServer.running.withLock { cur in
        if let s = cur {
          Glibc.close(s.listenFD)
          Glibc.close(s.wakeFD)
        }
        cur = nil
      }
    }
  }

  static func stopCurrent() {
    guard let s = running.withLock({ $0 }) else { return }
    s.stopping.store(true, ordering: .releasing)
    var one: UInt64 = 1
    _ = write(s.wakeFD, &one, 8)
  }

  /// Runs `body` on a new detached thread.
  static func spawn(_ body: @escaping @Sendable () -> Void) {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    var t = pthread_t()
    let arg = Unmanaged.passRetained(Box(body)).toOpaque()
    if pthread_create(&t, nil, { p in
      Unmanaged<Box>.fromOpaque(p!).takeRetainedValue().body()
      return nil
    }, arg) == 0 {
      pthread_detach(t)
    } else {
      Unmanaged<Box>.fromOpaque(arg).release()
    }
  }

  // MARK: - The loop

  private func loop() {
    jl_control_name_thread()
    while !stopping.load(ordering: .acquiring) {
      var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
      let order = connections.keys.sorted()
      for fd in order {
        let c = connections[fd]!
        // A client that does not read its replies is not read either
        // until it does (its requests wait in the kernel's buffer): the
        // output queued for it stays near `outputLimit`.
        var ev = c.acceptsRequests ? Int16(POLLIN) : 0
        if !c.output.isEmpty { ev |= Int16(POLLOUT) }
        fds.append(pollfd(fd: fd, events: ev, revents: 0))
      }
      let n = poll(&fds, nfds_t(fds.count), timeoutMillis())
      if n < 0 && errno != EINTR { break }
      if fds[1].revents != 0 {
        var v: UInt64 = 0
        _ = read(wakeFD, &v, 8)
      }
      if fds[0].revents & Int16(POLLIN) != 0 { acceptAll() }
      for (i, fd) in order.enumerated() {
        guard let c = connections[fd] else { continue }
        let re = fds[i + 2].revents
        // Closed both ways (or an error): no reply can be delivered, so
        // whatever is still unread does not matter. (Also keeps a client
        // that hung up while over the output limit from waking the loop
        // forever: its input is not polled then, its hangup always is.)
        if re & Int16(POLLHUP | POLLERR) != 0 && re & Int16(POLLIN) == 0 {
          drop(c, reason: nil)
          continue
        }
        if re & Int16(POLLIN | POLLHUP | POLLERR) != 0 { readFrom(c) }
        if re & Int16(POLLOUT) != 0, connections[fd] != nil {
          c.flush()
          // Below the limit again: the requests read but not handled yet.
          if c.acceptsRequests && !c.input.isEmpty { process(c) }
        }
      }
      tick()
    }
    shutdown()
  }

  /// How long poll may sleep: until the nearest deadline; 10 ms while a
  /// trace streams (its buffer is drained that often); forever when idle.
  private func timeoutMillis() -> Int32 {
    let now = monotonic()
    var next = UInt64.max
    for c in connections.values {
      if let d = c.partialDeadline { next = min(next, d) }
      if let d = idleDeadline(c) { next = min(next, d) }
      if let t = c.trace {
        next = min(next, now + 10_000_000)
        if let end = t.endsAt { next = min(next, end) }
      }
    }
    for r in reverts { if let d = r.due { next = min(next, d) } }
    if let d = trimDue { next = min(next, d) }
    if next == .max { return -1 }
    return Int32(clamping: (next > now ? next - now : 0) / 1_000_000 + 1)
  }

  private func acceptAll() {
    while true {
      let fd = jlc_accept(listenFD)
      if fd < 0 { return }
      var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
      if jlc_peer(fd, &pid, &uid, &gid) != 0 {
        audit.write("refused a connection whose credentials cannot be read")
        Glibc.close(fd)
        continue
      }
      // Same user, or root. Checked on every connection, whatever the
      // socket file's mode says (unix(7): do not rely on it alone).
      // A refusal: audited, answered with one error frame, closed.
      func refuse(_ audited: String, _ code: Message.ErrorCode, _ message: String) {
        audit.write("refused connection from pid \(pid) uid \(uid)\(audited)")
        let c = Connection(fd: fd, peerPID: pid, peerUID: uid, server: self)
        c.send(.error(code: code, message: message))
        c.flush()
        Glibc.close(fd)
      }
      guard uid == geteuid() || uid == 0 else {
        refuse(" (only uid \(geteuid()) or root may connect)", .refused, "uid \(uid) may not control this process")
        continue
      }
      guard connections.count < options.maxConnections else {
        refuse(": \(options.maxConnections) connections already", .busy, "too many control connections")
        continue
      }
      let c = Connection(fd: fd, peerPID: pid, peerUID: uid, server: self)
      c.partialDeadline = monotonic() + nanoseconds(options.requestTimeout)  // hello within the timeout
      connections[fd] = c
      if connections.count == options.maxConnections {
        audit.write("all \(options.maxConnections) connection slots are taken (the last by pid \(pid) uid \(uid))")
      }
    }
  }

  private func readFrom(_ c: Connection) {
    var buf = [UInt8](repeating: 0, count: 16_384)
    // At most two frames' worth is buffered: the rest waits in the kernel.
    while c.input.count <= Frame.maxSize * 2 {
      let n = buf.withUnsafeMutableBytes { read(c.fd, $0.baseAddress, $0.count) }
      if n > 0 {
        c.input += buf[0..<n]
        c.lastActivity = monotonic()
        continue
      }
      if n == 0 { return drop(c, reason: nil) }
      if errno == EINTR { continue }
      if errno == EAGAIN || errno == EWOULDBLOCK { break }
      return drop(c, reason: nil)
    }
    process(c)
  }

  /// Handles the complete requests in `c.input`, one at a time, while
  /// the connection's queued output is under the limit; the rest stay
  /// buffered until the client has read its replies.
  func process(_ c: Connection) {
    do {
      while c.acceptsRequests, let f = try Frame.extractOne(from: &c.input) {
        handle(try Message.decode(f), from: c)
        if connections[c.fd] == nil { return }
      }
      // Only a partial frame left (or hello still awaited): it has until
      // the request timeout to arrive.
      let waiting = c.acceptsRequests && (!c.input.isEmpty || !c.greeted)
      c.partialDeadline = waiting ? (c.partialDeadline ?? monotonic() + nanoseconds(options.requestTimeout)) : nil
    } catch {
      let code: Message.ErrorCode
      switch error {
      case .tooLarge: code = .tooLarge
      case .unsupportedVersion: code = .unsupportedVersion
      case .unknownType: code = .unknownType
      default: code = .malformed
      }
      c.send(.error(code: code, message: error.description))
      close(c, reason: "protocol error: \(error)")
    }
  }

  /// Sends what is queued, then closes.
  func close(_ c: Connection, reason: String?) {
    c.flush()
    drop(c, reason: reason)
  }

  /// Closes a connection: its trace is detached, its held changes revert.
  func drop(_ c: Connection, reason: String?) {
    guard connections.removeValue(forKey: c.fd) != nil else { return }
    if let t = c.trace {
      t.detachAll()
      traceReleased()
    }
    c.trace = nil
    for r in reverts where r.connection == c.fd { revert(r, why: "the client holding it disconnected") }
    reverts.removeAll { $0.connection == c.fd }
    Glibc.close(c.fd)
  }

  /// Periodic work: trace buffers, deadlines.
  private func tick() {
    let now = monotonic()
    for c in Array(connections.values) {
      if let d = c.partialDeadline, now >= d {
        c.send(.error(code: .timeout, message: c.greeted ? "incomplete message for too long" : "no hello within the timeout"))
        close(c, reason: "timeout")
        continue
      }
      if let d = idleDeadline(c), now >= d {
        let idle = options.idleTimeout.map { "\($0.components.seconds) s" } ?? ""
        audit.write("closed the connection of \(c.peer): idle for \(idle)\(c.output.count >= options.outputLimit ? " with \(c.output.count) bytes of replies unread" : "")")
        c.send(.error(code: .timeout, message: "idle for \(idle): closing"))
        close(c, reason: "idle")
        continue
      }
      if c.trace != nil && !endIfForcedOff(c) { pumpTrace(c, now: now) }
    }
    // A trace's ring is freed once the probe lists that held its sink
    // are retired (a grace period after the detach); malloc_trim then
    // returns the freed pages, so that the process shrinks back after
    // traces (glibc keeps freed heap otherwise).
    if let d = trimDue, now >= d {
      trimDue = nil
      jlc_trim_heap()
    }
    let due = reverts.filter { $0.due.map { $0 <= now } ?? false }
    reverts.removeAll { $0.due.map { $0 <= now } ?? false }
    for r in due { revert(r, why: "its ttl ran out") }
  }

  /// A trace ended: trim the heap a little later (see `tick`).
  func traceReleased() { trimDue = monotonic() + 2_000_000_000 }

  /// When `c` times out for idleness: a greeted connection that neither
  /// sent nor took a byte for `idleTimeout`. nil: no timeout.
  private func idleDeadline(_ c: Connection) -> UInt64? {
    guard c.greeted, let t = options.idleTimeout else { return nil }
    return c.lastActivity + nanoseconds(t)
  }

  private func shutdown() {
    for c in Array(connections.values) { drop(c, reason: "server stopping") }
    for r in reverts { revert(r, why: "the server stopped") }
    reverts.removeAll()
    Glibc.close(listenFD)
    Glibc.close(wakeFD)
    unlink(path)
    Self.running.withLock { cur in if cur === self { cur = nil } }
  }
}

func monotonic() -> UInt64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func nanoseconds(_ d: Duration) -> UInt64 {
  let (s, a) = d.components
  return UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, a / 1_000_000_000))
}
