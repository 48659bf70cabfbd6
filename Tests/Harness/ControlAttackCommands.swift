import ArgumentParser
import Foundation
import Glibc
@_spi(Testing) import JumpLabelControl

/// `jumplabel-harness fake-control-server`: what an attacker plants: a
/// control socket named after someone else's process (its pid and start
/// time are public in /proc) that answers hello with that process's
/// identity, lists a key whose name holds terminal escape sequences, and
/// reports every `set` as done. For ControlSecurityTests (run as another
/// user, or as the same user claiming another pid).
struct FakeControlServerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "fake-control-server", abstract: "A forged control server (for the security tests).")

  @Option(help: "The directory to put the socket in (created 0700 if missing).") var directory: String
  @Option(help: "The pid to claim.") var pid: Int32
  @Option var duration = 60.0

  /// The fake key's name: an OSC title change, a colour, a forged line.
  static let fakeName = "FAKE.key\u{1B}]0;owned\u{07}\u{1B}[31m\nforged line"

  func run() throws {
    guard let start = SocketDirectory.startTime(of: pid) else { throw ValidationError("no process \(pid)") }
    if mkdir(directory, 0o700) != 0 && errno != EEXIST { throw ValidationError("mkdir \(directory): \(errno)") }
    let path = directory + "/" + SocketDirectory.socketName(pidNamespace: SocketDirectory.pidNamespace, pid: pid, startTime: start)
    unlink(path)
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var a = sockaddr_un()
    a.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &a.sun_path) { p in for (i, b) in path.utf8.enumerated() { p[i] = b } }
    let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
    guard r == 0, listen(fd, 16) == 0 else { throw ValidationError("bind \(path): \(errno)") }
    chmod(path, 0o777)
    print("fake-control-server: listening \(path)")
    fflush(nil)
    let deadline = Date().addingTimeInterval(duration)
    while Date() < deadline {
      var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&p, 1, 200) > 0 else { continue }
      let c = accept(fd, nil, nil)
      if c < 0 { continue }
      serve(c, start: start)
      close(c)
    }
    unlink(path)
  }

  private func serve(_ c: Int32, start: UInt64) {
    var tv = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var input: [UInt8] = []
    func reply(_ m: Message) {
      guard let b = try? m.encoded() else { return }
      _ = b.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
    var buf = [UInt8](repeating: 0, count: 65_536)
    while true {
      let n = buf.withUnsafeMutableBytes { read(c, $0.baseAddress, $0.count) }
      if n <= 0 { return }
      input += buf[0..<n]
      guard let messages = try? Message.decodeAll(from: &input) else { return }
      for m in messages {
        switch m {
        case .hello:
          reply(.welcome(version: Frame.versions.upperBound, pid: UInt32(pid), startTime: start, pidNamespace: SocketDirectory.pidNamespace,
                         program: "victim\u{1B}[2J", runtimeABI: 2, idleTimeoutMillis: 60_000))
        case .list:
          reply(.listPart(last: true, entries: [Message.ListEntry(
            name: Self.fakeName, isTracepoint: false, state: true, defaultValue: false, declared: true, count: 1, sites: 1,
            fallbackHits: 0, fallbackHitsInOptimizedCode: 0, probes: 0, payloadType: "", problem: "")]))
        case let .set(enable, _, _, _, _, _, patterns):
          reply(.setResultPart(last: true, cost: nil, changes: patterns.map { Message.Change(name: $0, before: !enable, after: enable, declared: true) }))
        case .ping:
          reply(.pong)
        default:
          reply(.error(code: .refused, message: "no"))
        }
      }
    }
  }
}

/// `jumplabel-harness ctl-probe`: the client library with chosen
/// defences off (the negative controls: what the real `jumplabel ctl`
/// would do without them). Prints what it was told, one line each.
struct ControlProbeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ctl-probe", abstract: "The control client with defences off (for the security tests' negative controls).")

  @Option(help: "Defences to turn off (comma-separated ControlDefence names).") var disable = ""
  @Option(help: "ps, list or enable.") var action: String
  @Option var pid: Int32 = 0
  @Option var socket: String?
  @Argument var names: [String] = []

  func run() throws {
    var off: Set<ControlDefence> = []
    for n in disable.split(separator: ",") {
      guard let d = ControlDefence(rawValue: String(n)) else { throw ValidationError("no defence \(n)") }
      off.insert(d)
    }
    ControlTesting.disabledDefences = off
    switch action {
    case "ps":
      for p in ControlProcess.scan(removeStale: true).processes { print("process \(p.pid) \(p.socket)") }
    case "list":
      let c = try ControlClient.connect(pid: pid, socket: socket)
      for e in try c.list() { print("key \(e.name)") }
    case "enable":
      let c = try ControlClient.connect(pid: pid, socket: socket)
      for ch in try c.set(enable: true, patterns: names, undeclared: true).changes { print("changed \(ch.name) \(ch.after)") }
    default:
      throw ValidationError("unknown action \(action)")
    }
  }
}
