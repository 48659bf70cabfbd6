import Glibc

/// Where control sockets live, and the checks that make that directory
/// safe to use.
///
/// The directory is `$XDG_RUNTIME_DIR/jumplabel/`, else
/// `/run/user/<uid>/jumplabel/` if `/run/user/<uid>` exists, else
/// `/tmp/jumplabel-<uid>/`. It is created with mode 0700 and then checked
/// with `lstat`, never followed: it must be a directory, not a symbolic
/// link, owned by this user, with no permission bits for group or others.
/// Anything else (someone else's directory planted in /tmp, a symlink, a
/// loosened mode) is refused with an error that says which check failed.
///
/// A socket is named `<pidns>-<pid>-<starttime>.sock`: the inode of the
/// process's pid namespace (/proc/self/ns/pid), its pid and its start
/// time there (clock ticks since boot, /proc/PID/stat), so that a socket
/// left behind by a dead process is recognised even after its pid was
/// reused, and a socket of another pid namespace sharing the directory (a
/// container, `unshare --pid`) is never taken for one of this namespace.
/// A socket is removed as stale only by a process of its namespace whose
/// /proc shows that namespace, when its pid is gone or started at another
/// time; sockets of other namespaces, and names of any other form, are
/// left alone.
public enum SocketDirectory {
  /// The directories a user's sockets may be in, in order of preference.
  public static func candidates(uid: uid_t = geteuid(), xdgRuntimeDir: String? = SocketDirectory.environment("XDG_RUNTIME_DIR")) -> [String] {
    var out: [String] = []
    if let x = xdgRuntimeDir, x.hasPrefix("/") { out.append(x + "/jumplabel") }
    let run = "/run/user/\(uid)"
    if isDirectory(run) { out.append(run + "/jumplabel") }
    out.append("/tmp/jumplabel-\(uid)")
    return out
  }

  /// The directory this process uses: the first candidate, created if
  /// needed and checked.
  public static func prepare(_ path: String? = nil) throws(ControlError) -> String {
    let dir = path ?? candidates()[0]
    if mkdir(dir, 0o700) != 0 && errno != EEXIST {
      throw .unsafeDirectory(path: dir, reason: "cannot create it: \(String(cString: strerror(errno)))")
    }
    try verify(dir)
    return dir
  }

  /// The checks, with lstat (a symlink is never followed): a directory,
  /// owned by `owner`, no permission bits for group or others.
  public static func verify(_ dir: String, owner: uid_t = geteuid()) throws(ControlError) {
    var st = stat()
    guard lstat(dir, &st) == 0 else { throw .unsafeDirectory(path: dir, reason: "lstat failed: \(String(cString: strerror(errno)))") }
    try check(st, dir, owner: owner)
  }

  static func check(_ st: stat, _ dir: String, owner: uid_t) throws(ControlError) {
    let type = st.st_mode & S_IFMT
    if type == S_IFLNK { throw .unsafeDirectory(path: dir, reason: "it is a symbolic link") }
    guard type == S_IFDIR else { throw .unsafeDirectory(path: dir, reason: "it is not a directory") }
    guard st.st_uid == owner else { throw .unsafeDirectory(path: dir, reason: "it belongs to uid \(st.st_uid), not to uid \(owner)") }
    guard st.st_mode & 0o077 == 0 else {
      throw .unsafeDirectory(path: dir, reason: "its mode is \(String(st.st_mode & 0o777, radix: 8)): group or others have access (must be 700)")
    }
  }

  /// Opens `dir` without following a symbolic link (O_NOFOLLOW |
  /// O_DIRECTORY) and checks what was opened (fstat: the checks of
  /// ``verify(_:owner:)``). Everything done in the directory afterwards
  /// goes through this descriptor (openat, unlinkat), so the directory
  /// cannot be swapped for a symlink between the check and the use.
  public static func open(verified dir: String, owner: uid_t) throws(ControlError) -> Int32 {
    let fd = Glibc.open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    if fd < 0 {
      let e = errno
      throw .unsafeDirectory(path: dir, reason: e == ELOOP || e == ENOTDIR ? "it is a symbolic link or not a directory" : "cannot open it: \(String(cString: strerror(e)))")
    }
    var st = stat()
    guard fstat(fd, &st) == 0 else {
      close(fd)
      throw .unsafeDirectory(path: dir, reason: "fstat failed")
    }
    do {
      try check(st, dir, owner: owner)
    } catch {
      close(fd)
      throw error
    }
    return fd
  }

  /// The inode of this process's pid namespace (/proc/self/ns/pid), or 0
  /// if it cannot be read.
  public static var pidNamespace: UInt64 {
    var st = stat()
    return stat("/proc/self/ns/pid", &st) == 0 ? UInt64(st.st_ino) : 0
  }

  /// True if /proc shows this process's pid namespace (its /proc/self is
  /// this process's pid): only then do /proc/PID paths name the processes
  /// that pids in this namespace name. A process in a new pid namespace
  /// that kept its parent's /proc sees other processes there.
  public static var procShowsThisNamespace: Bool {
    var buf = [CChar](repeating: 0, count: 32)
    let n = readlink("/proc/self", &buf, buf.count - 1)
    guard n > 0 else { return false }
    return String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) == "\(getpid())"
  }

  /// `<pidns>-<pid>-<starttime>.sock`.
  public static func socketName(pidNamespace: UInt64, pid: Int32, startTime: UInt64) -> String {
    "\(pidNamespace)-\(pid)-\(startTime).sock"
  }

  /// The pid namespace, pid and start time in a socket's name, or nil for
  /// any other name.
  public static func parse(_ name: String) -> (pidNamespace: UInt64, pid: Int32, startTime: UInt64)? {
    guard name.hasSuffix(".sock") else { return nil }
    let parts = name.dropLast(5).split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count == 3, let ns = UInt64(parts[0]), let pid = Int32(parts[1]), let start = UInt64(parts[2]), pid > 0 else { return nil }
    return (ns, pid, start)
  }

  /// A process's start time in clock ticks since boot (/proc/PID/stat,
  /// field 22), or nil if there is no such process.
  public static func startTime(of pid: Int32) -> UInt64? { startTime(statPath: "/proc/\(pid)/stat") }

  /// This process's start time (through /proc/self, right even when /proc
  /// shows another pid namespace).
  public static var ownStartTime: UInt64? { startTime(statPath: "/proc/self/stat") }

  static func startTime(statPath: String) -> UInt64? {
    guard let text = readFile(statPath) else { return nil }
    // The command name (field 2) may contain spaces and parentheses: the
    // fields after it start after the last ')'.
    guard let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // fields[0] is field 3 (state); field 22 is fields[19].
    guard fields.count > 19 else { return nil }
    return UInt64(fields[19])
  }

  /// A process's effective uid (/proc/PID/status, "Uid:" second field).
  public static func effectiveUID(of pid: Int32) -> uid_t? {
    guard let text = readFile("/proc/\(pid)/status") else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("Uid:") {
      let f = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
      return f.count > 2 ? uid_t(f[2]) : nil
    }
    return nil
  }

  /// True if `pid` is alive and started at `startTime`.
  public static func isLive(pid: Int32, startTime: UInt64) -> Bool { self.startTime(of: pid) == startTime }

  /// Removes the sockets in `dir` (which must pass the checks for
  /// `owner`) that are provably stale: of this pid namespace, seen through
  /// a /proc of this namespace, and whose process is gone (or whose pid
  /// now belongs to another process). Never follows a symbolic link: the
  /// directory is opened with O_NOFOLLOW and checked, each entry is
  /// lstat'ed through it (fstatat) and must be a socket, and is removed
  /// with unlinkat. Returns the removed names.
  @discardableResult
  public static func removeStale(in dir: String, owner: uid_t = geteuid()) -> [String] {
    removeStale(in: dir, owner: owner, disabled: ControlTesting.disabledDefences)
  }

  static func removeStale(in dir: String, owner: uid_t, disabled: Set<ControlDefence>) -> [String] {
    let checkNamespace = !disabled.contains(.namespaceCheck)
    if checkNamespace && !procShowsThisNamespace { return [] }  // cannot prove anything stale
    let ours = pidNamespace
    func stale(_ name: String) -> Bool {
      guard let (ns, pid, start) = parse(name) else { return false }
      if checkNamespace && ns != ours { return false }
      return !isLive(pid: pid, startTime: start)
    }
    if disabled.contains(.safeCleanup) {
      // The unsafe way, for the negative control only: by path.
      return entries(of: dir).filter { stale($0) && unlink(dir + "/" + $0) == 0 }
    }
    guard let dfd = try? open(verified: dir, owner: owner) else { return [] }
    defer { close(dfd) }
    var removed: [String] = []
    for name in entries(ofDirectory: dfd) where stale(name) {
      var st = stat()
      guard fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & S_IFMT == S_IFSOCK else { continue }
      if unlinkat(dfd, name, 0) == 0 { removed.append(name) }
    }
    return removed
  }

  /// The names in the directory open at `fd` (the descriptor stays open).
  static func entries(ofDirectory fd: Int32) -> [String] {
    let d2 = dup(fd)
    guard d2 >= 0 else { return [] }
    guard let d = fdopendir(d2) else {
      close(d2)
      return []
    }
    defer { closedir(d) }
    return names(in: d)
  }

  static func names(in d: OpaquePointer) -> [String] {
    var out: [String] = []
    while let e = readdir(d) {
      let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      if name != "." && name != ".." { out.append(name) }
    }
    return out
  }

  /// The names in a directory (empty if it cannot be read).
  public static func entries(of dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    return names(in: d)
  }

  static func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
  }

  static func readFile(_ path: String) -> String? {
    let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { return nil }
    defer { close(fd) }
    var data: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      data += buf[0..<n]
    }
    return data.isEmpty ? nil : String(decoding: data, as: UTF8.self)
  }
}

extension SocketDirectory {
  /// An environment variable, or nil.
  public static func environment(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    return String(cString: v)
  }
}

/// Why the control channel could not be set up or used.
public enum ControlError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The socket directory failed a check.
  case unsafeDirectory(path: String, reason: String)
  /// A socket call failed.
  case socket(String)
  /// The server is running already.
  case alreadyRunning(path: String)
  /// No live control socket for this process.
  case noSocket(pid: Int32)
  /// The other side broke the protocol.
  case protocolError(ProtocolError)
  /// The server answered with an error.
  case refused(code: UInt16, message: String)
  /// The connection closed.
  case closed
  /// The request is not valid (checked before it is sent).
  case invalidRequest(String)
  /// The client refused a socket or a server: it failed a check (owner,
  /// mode, symlink, or a welcome that names another process).
  case untrusted(path: String, reason: String)

  public var description: String {
    switch self {
    case let .unsafeDirectory(path, reason): return "refusing to use \(ControlText.escaped(path)) for control sockets: \(reason)"
    case let .socket(what): return what
    case let .alreadyRunning(path): return "the control server is running already (\(path))"
    case let .noSocket(pid): return "process \(pid) has no live JumpLabel control socket (was it started with JUMPLABEL_CONTROL=1 or JumpLabelControl.start(), and as this user?)"
    case let .protocolError(e): return "protocol error: \(e)"
    case let .refused(code, message): return "the process refused the request (code \(code)): \(ControlText.escaped(message))"
    case let .invalidRequest(why): return why
    case let .untrusted(path, reason): return "not trusting the control socket \(ControlText.escaped(path)): \(reason)"
    case .closed: return "the connection was closed"
    }
  }
}
