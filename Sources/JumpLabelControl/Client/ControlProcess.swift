import Glibc

/// A process with a live control socket.
public struct ControlProcess: Sendable, Hashable {
  /// Its pid, in its own pid namespace.
  public let pid: Int32
  public let startTime: UInt64
  /// Its pid namespace's inode (from the socket's name).
  public let pidNamespace: UInt64
  /// False for a socket of another pid namespace sharing the directory:
  /// its pid means nothing here, it is listed only, never removed.
  public let inThisNamespace: Bool
  /// The socket file's owner.
  public let uid: UInt32
  /// /proc/PID/comm ("?" for another namespace; escape it before printing).
  public let command: String
  public let socket: String

  /// Every process with a live socket in the directories this user may
  /// look at: its own (``SocketDirectory/candidates(uid:xdgRuntimeDir:)``),
  /// and as root every user's. Sockets whose process is gone are removed
  /// when `removeStale` (see ``scan(removeStale:)``).
  public static func all(removeStale: Bool) -> [ControlProcess] { scan(removeStale: removeStale).processes }

  /// What a scan found: the processes, and why directories or sockets
  /// were passed over (to tell the user).
  public struct Scan: Sendable {
    public var processes: [ControlProcess] = []
    public var skipped: [String] = []
  }

  /// Scans the socket directories, trusting only what passes the checks:
  /// each directory is opened without following a symlink and must be a
  /// directory owned by the uid it belongs to (the caller's; as root,
  /// the uid in `/tmp/jumplabel-<uid>` or `/run/user/<uid>/jumplabel`),
  /// with no group or other bits; each socket in it is lstat'ed through
  /// that descriptor, must be a socket owned by that uid, and, in this pid
  /// namespace, by the live process it names. Stale sockets (this
  /// namespace, process gone) are removed through the same descriptor
  /// when `removeStale`.
  public static func scan(removeStale: Bool) -> Scan {
    let me = geteuid()
    var dirs = SocketDirectory.candidates().map { ($0, me) }
    if me == 0 {
      for u in SocketDirectory.entries(of: "/run/user") {
        if let uid = uid_t(u) { dirs.append(("/run/user/\(u)/jumplabel", uid)) }
      }
      for e in SocketDirectory.entries(of: "/tmp") where e.hasPrefix("jumplabel-") {
        guard let uid = uid_t(e.dropFirst("jumplabel-".count)) else { continue }
        dirs.append(("/tmp/\(e)", uid))
      }
    }
    let checks = ControlTesting.isOn(.peerChecks)
    let ours = SocketDirectory.pidNamespace
    var seen = Set<String>()
    var out = Scan()
    for (dir, owner) in dirs where seen.insert(dir).inserted {
      if removeStale { SocketDirectory.removeStale(in: dir, owner: owner) }
      if !checks {
        // The negative control's client: no check at all.
        for name in SocketDirectory.entries(of: dir) {
          guard let (ns, pid, start) = SocketDirectory.parse(name) else { continue }
          let comm = SocketDirectory.readFile("/proc/\(pid)/comm")?.trimmingCharacters() ?? "?"
          out.processes.append(ControlProcess(pid: pid, startTime: start, pidNamespace: ns, inThisNamespace: true, uid: 0,
                                              command: comm, socket: dir + "/" + name))
        }
        continue
      }
      let dfd: Int32
      do {
        dfd = try SocketDirectory.open(verified: dir, owner: owner)
      } catch {
        var st = stat()
        if lstat(dir, &st) == 0 { out.skipped.append("\(error)") }  // a missing directory is not news
        continue
      }
      defer { close(dfd) }
      for name in SocketDirectory.entries(ofDirectory: dfd) {
        guard let (ns, pid, start) = SocketDirectory.parse(name) else { continue }
        let path = dir + "/" + name
        var st = stat()
        guard fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & S_IFMT == S_IFSOCK else { continue }
        guard st.st_uid == owner else {
          out.skipped.append("not trusting \(ControlText.escaped(path)): it belongs to uid \(st.st_uid), not to uid \(owner)")
          continue
        }
        if ns != ours {
          out.processes.append(ControlProcess(pid: pid, startTime: start, pidNamespace: ns, inThisNamespace: false, uid: st.st_uid,
                                              command: "?", socket: path))
          continue
        }
        guard SocketDirectory.isLive(pid: pid, startTime: start) else { continue }
        guard SocketDirectory.effectiveUID(of: pid) == st.st_uid else {
          out.skipped.append("not trusting \(ControlText.escaped(path)): process \(pid) does not run as its owner, uid \(st.st_uid)")
          continue
        }
        let comm = SocketDirectory.readFile("/proc/\(pid)/comm")?.trimmingCharacters() ?? "?"
        out.processes.append(ControlProcess(pid: pid, startTime: start, pidNamespace: ns, inThisNamespace: true, uid: st.st_uid,
                                            command: comm, socket: path))
      }
    }
    out.processes.sort { ($0.inThisNamespace ? 0 : 1, $0.pid) < ($1.inThisNamespace ? 0 : 1, $1.pid) }
    return out
  }
}
