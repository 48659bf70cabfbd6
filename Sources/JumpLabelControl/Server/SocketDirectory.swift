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
/// A socket is named `<pid>-<starttime>.sock`, the start time being the
/// process's (clock ticks since boot, /proc/PID/stat), so that a socket
/// left behind by a dead process is recognised even after its pid was
/// reused.
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

  /// The checks, with lstat (a symlink is never followed).
  public static func verify(_ dir: String) throws(ControlError) {
    var st = stat()
    guard lstat(dir, &st) == 0 else { throw .unsafeDirectory(path: dir, reason: "lstat failed: \(String(cString: strerror(errno)))") }
    let type = st.st_mode & S_IFMT
    if type == S_IFLNK { throw .unsafeDirectory(path: dir, reason: "it is a symbolic link") }
    guard type == S_IFDIR else { throw .unsafeDirectory(path: dir, reason: "it is not a directory") }
    guard st.st_uid == geteuid() else { throw .unsafeDirectory(path: dir, reason: "it belongs to uid \(st.st_uid), not to this process's uid \(geteuid())") }
    guard st.st_mode & 0o077 == 0 else {
      throw .unsafeDirectory(path: dir, reason: "its mode is \(String(st.st_mode & 0o777, radix: 8)): group or others have access (must be 700)")
    }
  }

  /// `<pid>-<starttime>.sock`.
  public static func socketName(pid: Int32, startTime: UInt64) -> String { "\(pid)-\(startTime).sock" }

  /// The pid and start time in a socket's name, or nil.
  public static func parse(_ name: String) -> (pid: Int32, startTime: UInt64)? {
    guard name.hasSuffix(".sock") else { return nil }
    let parts = name.dropLast(5).split(separator: "-")
    guard parts.count == 2, let pid = Int32(parts[0]), let start = UInt64(parts[1]), pid > 0 else { return nil }
    return (pid, start)
  }

  /// A process's start time in clock ticks since boot (/proc/PID/stat,
  /// field 22), or nil if there is no such process.
  public static func startTime(of pid: Int32) -> UInt64? {
    guard let text = readFile("/proc/\(pid)/stat") else { return nil }
    // The command name (field 2) may contain spaces and parentheses: the
    // fields after it start after the last ')'.
    guard let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // fields[0] is field 3 (state); field 22 is fields[19].
    guard fields.count > 19 else { return nil }
    return UInt64(fields[19])
  }

  /// True if `pid` is alive and started at `startTime`.
  public static func isLive(pid: Int32, startTime: UInt64) -> Bool { self.startTime(of: pid) == startTime }

  /// Removes sockets in `dir` whose process is gone (or whose pid now
  /// belongs to another process). Returns their names.
  @discardableResult
  public static func removeStale(in dir: String) -> [String] {
    var removed: [String] = []
    for name in entries(of: dir) {
      guard let (pid, start) = parse(name), !isLive(pid: pid, startTime: start) else { continue }
      if unlink(dir + "/" + name) == 0 { removed.append(name) }
    }
    return removed
  }

  /// The names in a directory (empty if it cannot be read).
  public static func entries(of dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var out: [String] = []
    while let e = readdir(d) {
      let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      if name != "." && name != ".." { out.append(name) }
    }
    return out
  }

  static func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
  }

  static func readFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
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

  public var description: String {
    switch self {
    case let .unsafeDirectory(path, reason): return "refusing to use \(path) for control sockets: \(reason)"
    case let .socket(what): return what
    case let .alreadyRunning(path): return "the control server is running already (\(path))"
    case let .noSocket(pid): return "process \(pid) has no live JumpLabel control socket (was it started with JUMPLABEL_CONTROL=1 or JumpLabelControl.start(), and as this user?)"
    case let .protocolError(e): return "protocol error: \(e)"
    case let .refused(code, message): return "the process refused the request (code \(code)): \(message)"
    case .closed: return "the connection was closed"
    }
  }
}
