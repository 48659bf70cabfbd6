import Foundation
import JumpLabelControl
import JumpLabelFixtures
import Testing

/// Live control end to end: a real child process with keys and
/// tracepoints in hot loops (`jumplabel-harness control-target`), driven by
/// the real `jumplabel ctl`.
@Suite(.serialized) struct ControlTests {
  /// A running control target.
  final class Target: @unchecked Sendable {
    // @unchecked: immutable after init; Process is used from one thread at a time.
    let process: Process
    let pid: Int32
    let socket: String
    let auditLog: String
    let sinkFile: String?

    /// `launcher`: a command that runs the harness (e.g. `unshare ...`).
    init(env: [String: String] = ["JUMPLABEL_CONTROL": "1"], args: [String] = [], sinkFile: String? = nil, launcher: [String] = []) throws {
      let tmp = FileManager.default.temporaryDirectory.path
      auditLog = "\(tmp)/jumplabel-audit-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
      self.sinkFile = sinkFile
      let p = Process()
      var a = ["control-target", "--duration", "900"] + args
      if let sinkFile { a += ["--sink-file", sinkFile] }
      if let first = launcher.first {
        p.executableURL = URL(fileURLWithPath: first)
        p.arguments = Array(launcher.dropFirst()) + [StressCommandTests.harness] + a
      } else {
        p.executableURL = URL(fileURLWithPath: StressCommandTests.harness)
        p.arguments = a
      }
      var e = ProcessInfo.processInfo.environment
      for (k, v) in env { e[k] = v }
      e["SWIFT_BACKTRACE"] = "enable=no"
      p.environment = e
      let out = Pipe()
      p.standardOutput = out
      // The audit log goes to stderr (the default): captured in a file.
      _ = FileManager.default.createFile(atPath: auditLog, contents: nil)
      p.standardError = FileHandle(forWritingAtPath: auditLog)
      p.standardInput = FileHandle.nullDevice
      try p.run()
      process = p
      // The first line says where it listens.
      let line = readFirstLine(out.fileHandleForReading)
      let parts = line.split(separator: " ")
      guard parts.count == 5, parts[0] == "control-target:", let pid = Int32(parts[2]) else {
        p.terminate()
        throw TestFailure("control-target did not start: \(line)")
      }
      self.pid = pid
      socket = String(parts[4]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func stop() {
      if process.isRunning { kill(process.processIdentifier, SIGKILL) }
      process.waitUntilExit()
      // Killed, it could not unlink its socket: leave no stale one behind.
      try? FileManager.default.removeItem(atPath: socket)
      try? FileManager.default.removeItem(atPath: auditLog)
      if let sinkFile { try? FileManager.default.removeItem(atPath: sinkFile) }
    }

    var audit: String { (try? String(contentsOfFile: auditLog, encoding: .utf8)) ?? "" }
  }

  struct TestFailure: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

  /// `jumplabel ctl ...`, stdout parsed as JSON when asked.
  static func ctl(_ args: [String], timeout: Double = 30) throws -> ChildRun {
    try spawn(StressCommandTests.tool, ["ctl"] + args, timeout: timeout)
  }

  static func json(_ r: ChildRun) -> [[String: Any]] {
    (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [[String: Any]] ?? []
  }

  static func entry(_ list: [[String: Any]], _ name: String) -> [String: Any]? { list.first { $0["name"] as? String == name } }

  static func list(_ t: Target) throws -> [[String: Any]] {
    let r = try ctl(["list", "--pid", "\(t.pid)", "--json"])
    #expect(r.status == 0, "\(r.stderr)")
    return json(r)
  }

  /// ps, list, enable, trace (events with the right payloads), disable
  /// (the events stop), --ttl.
  @Test(.enabled(if: Fixture.compiledWithSites, Comment(rawValue: StressCommandTests.releaseOnly)))
  func psListEnableTraceDisable() throws {
    let sink = FileManager.default.temporaryDirectory.appendingPathComponent("jumplabel-sink-\(getpid()).jsonl").path
    let t = try Target(sinkFile: sink)
    defer { t.stop() }

    let ps = try Self.ctl(["ps", "--json"])
    #expect(Self.json(ps).contains { $0["pid"] as? Int == Int(t.pid) && $0["socket"] as? String == t.socket }, "\(ps.stdout)")

    var l = try Self.list(t)
    let tp = try #require(Self.entry(l, "fixture.trace.request"), "\(l)")
    #expect(tp["kind"] as? String == "tracepoint" && tp["enabled"] as? Bool == false && (tp["sites"] as? Int ?? 0) >= 1)
    #expect(Self.entry(l, "fixture.ctl.verbose")?["enabled"] as? Bool == false)
    // The in-process sink is attached: that tracepoint is on.
    #expect(Self.entry(l, "fixture.trace.sample")?["enabled"] as? Bool == true)

    let en = try Self.ctl(["enable", "--pid", "\(t.pid)", "fixture.ctl.*", "--json"])
    #expect(en.status == 0 && Self.json(en).count == 2, "\(en.stdout)\(en.stderr)")
    l = try Self.list(t)
    #expect(Self.entry(l, "fixture.ctl.verbose")?["enabled"] as? Bool == true && Self.entry(l, "fixture.ctl.audit")?["enabled"] as? Bool == true)
    #expect(t.audit.contains("fixture.ctl.verbose false -> true"), "\(t.audit)")

    // Trace: 5 events of the request tracepoint, with their payloads.
    let tr = try Self.ctl(["trace", "--pid", "\(t.pid)", "fixture.trace.req*", "--count", "5"])
    #expect(tr.status == 0, "\(tr.stderr)")
    let events = tr.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    #expect(events.count == 5, "\(tr.stdout)")
    for e in events {
      #expect(e["tracepoint"] as? String == "fixture.trace.request")
      let p = e["payload"] as? [String: Any] ?? [:]
      #expect(p["method"] as? String == "GET" && (p["path"] as? String)?.hasPrefix("/item/") == true && p["status"] as? Int == 200, "\(e)")
    }
    #expect(tr.stderr.contains("5 events"), "\(tr.stderr)")
    // The trace's probe is gone and its key back where it was (deferred).
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline, Self.entry(try Self.list(t), "fixture.trace.request")?["enabled"] as? Bool != false { usleep(50_000) }
    #expect(Self.entry(try Self.list(t), "fixture.trace.request")?["enabled"] as? Bool == false)

    // Disable of a key: off; enable: on again. (A tracepoint that an
    // in-process sink holds refuses a plain disable: ControlHolderTests.)
    func sinkSize() -> Int { ((try? FileManager.default.attributesOfItem(atPath: sink))?[.size] as? Int) ?? 0 }
    #expect(sinkSize() > 0)
    let dis = try Self.ctl(["disable", "--pid", "\(t.pid)", "fixture.ctl.audit"])
    #expect(dis.status == 0, "\(dis.stderr)")
    #expect(Self.entry(try Self.list(t), "fixture.ctl.audit")?["enabled"] as? Bool == false)
    _ = try Self.ctl(["enable", "--pid", "\(t.pid)", "fixture.ctl.audit"])
    #expect(Self.entry(try Self.list(t), "fixture.ctl.audit")?["enabled"] as? Bool == true)

    // --ttl: reverted by the process itself.
    // The state the change left is the reply's (a second `ctl list`
    // could come after the revert on a loaded machine).
    let ttl = try Self.ctl(["disable", "--pid", "\(t.pid)", "fixture.ctl.verbose", "--ttl", "500ms", "--json"])
    #expect(ttl.status == 0, "\(ttl.stderr)")
    #expect(Self.json(ttl).first?["before"] as? Bool == true && Self.json(ttl).first?["after"] as? Bool == false, "\(ttl.stdout)")
    // The revert is an event that must happen: waited for, with a hang guard.
    let reverted = Date().addingTimeInterval(60)
    while Date() < reverted, Self.entry(try Self.list(t), "fixture.ctl.verbose")?["enabled"] as? Bool != true { usleep(50_000) }
    #expect(Self.entry(try Self.list(t), "fixture.ctl.verbose")?["enabled"] as? Bool == true)
    #expect(t.audit.contains("revert (its ttl ran out)"), "\(t.audit)")
    // A key nothing declared yet: remembered by name.
    let late = try Self.ctl(["enable", "--pid", "\(t.pid)", "--undeclared", "plugin.not.loaded.yet", "--json"])
    #expect(Self.json(late).first?["declared"] as? Bool == false, "\(late.stdout)")
  }

  /// A trace ends cleanly on Ctrl-C (the client asks the process to
  /// detach, and reports the counts), and a trace client that dies
  /// (SIGKILL) has its probe detached by the process.
  @Test(.enabled(if: Fixture.compiledWithSites, Comment(rawValue: StressCommandTests.releaseOnly)))
  func traceEndsOnCtrlCAndWhenTheClientDies() throws {
    let t = try Target()
    defer { t.stop() }
    func probes() throws -> Int { Self.entry(try Self.list(t), "fixture.trace.request")?["probes"] as? Int ?? -1 }
    // Ctrl-C once the first event has arrived (no time: an event that
    // must happen; spawn's timeout is the hang guard).
    nonisolated(unsafe) var first = Data()
    let r = try spawn(StressCommandTests.tool, ["ctl", "trace", "--pid", "\(t.pid)", "fixture.trace.request"], timeout: 30) { p in
      if let h = (p.standardOutput as? Pipe)?.fileHandleForReading {
        while !first.contains(0x0A) {
          // The throwing read: availableData traps on an error.
          guard let d = try? h.read(upToCount: 4096), !d.isEmpty else { break }
          first.append(d)
        }
      }
      kill(p.processIdentifier, SIGINT)
    }
    #expect(r.status == 0 && r.stderr.contains("trace ended (stopped by the client)"), "\(r.stderr)")
    #expect(first.contains(0x0A), "no event before Ctrl-C: \(r.stderr)")
    #expect(try probes() == 0)
    // SIGKILL: no goodbye; the process notices the closed connection.
    let killed = try spawn(StressCommandTests.tool, ["ctl", "trace", "--pid", "\(t.pid)", "fixture.trace.request"], timeout: 30) { p in
      // Killed once its probe is attached (hang guard: 60 s).
      let attached = Date().addingTimeInterval(60)
      while (try? probes()) != 1 && Date() < attached { usleep(20_000) }
      kill(p.processIdentifier, SIGKILL)
    }
    #expect(killed.signalled)
    let deadline = Date().addingTimeInterval(60)
    while try probes() != 0 && Date() < deadline { usleep(50_000) }
    #expect(try probes() == 0, "the dead client's probe is still attached")
  }

  /// --hold: the change reverts when the holding command dies (SIGKILL).
  @Test func holdRevertsWhenTheClientDies() throws {
    let t = try Target()
    defer { t.stop() }
    let holder = Process()
    holder.executableURL = URL(fileURLWithPath: StressCommandTests.tool)
    holder.arguments = ["ctl", "enable", "--pid", "\(t.pid)", "fixture.ctl.audit", "--hold"]
    holder.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    holder.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try holder.run()
    var on = false
    let deadline = Date().addingTimeInterval(60)
    while !on && Date() < deadline {
      on = Self.entry(try Self.list(t), "fixture.ctl.audit")?["enabled"] as? Bool == true
      if !on { usleep(50_000) }
    }
    #expect(on, "the held change never took effect")
    kill(holder.processIdentifier, SIGKILL)
    holder.waitUntilExit()
    var off = false
    while !off && Date() < deadline.addingTimeInterval(60) {
      off = Self.entry(try Self.list(t), "fixture.ctl.audit")?["enabled"] as? Bool == false
      if !off { usleep(50_000) }
    }
    #expect(off, "the held change was not reverted when its client died")
    #expect(t.audit.contains("ended (the client holding it disconnected): released fixture.ctl.audit, now off"), "\(t.audit)")
  }

  /// A lease is a holder of its own: `enable --hold` shows in `ctl list`
  /// as "lease pid N ...", next to the `.enabled` holder of a plain
  /// enable (the negative control: a plain enable is `enabled`, never a
  /// lease), and ends by releasing its own share when the command exits:
  /// the key stays on for the plain enable, and goes off once that is
  /// gone too. While the lease holds, `disable --ttl` is refused as a
  /// plain disable is.
  @Test func leaseIsItsOwnHolder() throws {
    let t = try Target()
    defer { t.stop() }
    let key = "fixture.ctl.audit"
    func holders() throws -> [String] { Self.entry(try Self.list(t), key)?["holders"] as? [String] ?? ["?"] }
    // Negative control: a plain enable holds as `enabled`.
    let plain = try Self.ctl(["enable", "--pid", "\(t.pid)", key])
    #expect(plain.status == 0, "\(plain.stderr)")
    #expect(try holders() == ["enabled"])
    let holder = Process()
    holder.executableURL = URL(fileURLWithPath: StressCommandTests.tool)
    holder.arguments = ["ctl", "enable", "--pid", "\(t.pid)", key, "--hold"]
    holder.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    holder.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try holder.run()
    defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() } }
    let lease = "lease pid \(holder.processIdentifier) "
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline, try !holders().contains(where: { $0.hasPrefix(lease) }) { usleep(50_000) }
    let held = try holders()
    #expect(held.count == 2 && held.first == "enabled" && held.last?.hasPrefix(lease) == true && held.last?.hasSuffix(" hold") == true, "\(held)")
    // Off-leases switch off, so they are refused while others hold.
    let off = try Self.ctl(["disable", "--pid", "\(t.pid)", key, "--ttl", "30s"])
    #expect(off.status != 0 && off.stderr.contains("--force"), "\(off.stderr)")
    #expect(Self.entry(try Self.list(t), key)?["enabled"] as? Bool == true)
    // The command exits (Ctrl-C): the lease releases its share only.
    kill(holder.processIdentifier, SIGINT)
    holder.waitUntilExit()
    while Date() < deadline, try holders() != ["enabled"] { usleep(50_000) }
    #expect(try holders() == ["enabled"])
    #expect(Self.entry(try Self.list(t), key)?["enabled"] as? Bool == true, "the lease's end switched off what `enabled` holds")
    #expect(t.audit.contains("held by \(lease.dropLast())"), "\(t.audit)")
    #expect(t.audit.contains("ended (the client holding it disconnected): released \(key), still on (held by enabled)"), "\(t.audit)")
    // With the plain enable gone, the key is off: nobody holds it.
    let plainOff = try Self.ctl(["disable", "--pid", "\(t.pid)", key])
    #expect(plainOff.status == 0, "\(plainOff.stderr)")
    #expect(try holders() == [] && Self.entry(try Self.list(t), key)?["enabled"] as? Bool == false)
  }

  /// Another user is refused: by the socket's permissions (the directory
  /// is 0700, the socket 0600), and, where those are opened up on purpose
  /// (a test option), by the SO_PEERCRED check on accept, which logs it.
  @Test(.enabled(if: TestRequirements.isRoot || TestRequirements.strict, "needs root, to run a client as nobody"))
  func anotherUserIsRefused() throws {
    try #require(TestRequirements.isRoot, "needs root, to run a client as nobody")
    let runuser = try #require(TestRequirements.path(of: "runuser"), "runuser (util-linux) is needed")
    // Default permissions: nobody cannot even reach the socket.
    let t = try Target()
    defer { t.stop() }
    let denied = try spawn(runuser, ["-u", "nobody", "--", StressCommandTests.tool, "ctl", "list", "--pid", "\(t.pid)", "--socket", t.socket])
    #expect(denied.status != 0 && denied.stderr.contains("Permission denied"), "\(denied.stdout)\(denied.stderr)")
    // Opened up: the peer check refuses, and the refusal is logged.
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jumplabel-open-\(getpid())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    chmod(dir, 0o777)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let open = try Target(env: [:], args: ["--start", "--test-directory", dir, "--test-socket-mode", "777"])
    defer { open.stop() }
    let refused = try spawn(runuser, ["-u", "nobody", "--", StressCommandTests.tool, "ctl", "list", "--pid", "\(open.pid)", "--socket", open.socket])
    #expect(refused.status != 0 && refused.stderr.contains("may not control this process"), "\(refused.stdout)\(refused.stderr)")
    // Positive control: root is let in through the same socket.
    let root = try Self.ctl(["list", "--pid", "\(open.pid)", "--socket", open.socket, "--json"])
    #expect(root.status == 0 && !Self.json(root).isEmpty, "\(root.stderr)")
  }

  /// 50 clients at once while one sends garbage and one stalls mid-message:
  /// the garbage gets an error and is closed, the staller is timed out,
  /// the 50 are all served, and the process is unharmed.
  @Test func fiftyClientsAndOneBadOne() throws {
    let t = try Target()
    defer { t.stop() }
    // Garbage: a valid magic, then a header announcing a 1 GiB body.
    let garbage = try rawConnect(t.socket)
    var bad: [UInt8] = Frame.magic + [1, 0, 0x10, 0, 0, 0, 0, 0x40, 0, 0, 0, 0]
    _ = bad.withUnsafeMutableBytes { send(garbage, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    // A staller: half a header, then nothing.
    let staller = try rawConnect(t.socket)
    var half: [UInt8] = Array(Frame.magic.prefix(3))
    _ = half.withUnsafeMutableBytes { send(staller, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    let ok = Mutex(0)
    let failures = Mutex<[String]>([])
    let group = DispatchGroup()
    for _ in 0..<50 {
      group.enter()
      Thread {
        do {
          let c = try ControlClient(path: t.socket)
          let entries = try c.list()
          if entries.contains(where: { $0.name == "fixture.trace.request" }) { ok.withLock { $0 += 1 } }
        } catch {
          failures.withLock { $0.append("\(error)") }
        }
        group.leave()
      }.start()
    }
    group.wait()
    #expect(ok.withLock { $0 } == 50, "\(failures.withLock { $0 })")
    // The garbage connection got an error and was closed.
    let reply = readAll(garbage)
    #expect(reply.count >= Frame.headerSize && Array(reply.prefix(4)) == Frame.magic, "no error reply to garbage")
    // The staller is closed after the request timeout (5 s).
    let stalled = readAll(staller)
    #expect(!stalled.isEmpty, "the stalled client was not answered")
    close(garbage)
    close(staller)
    #expect(t.process.isRunning, "the process did not survive")
    #expect(!(try Self.list(t)).isEmpty)
  }

  /// The welcome names the runtime ABI the process runs (the header's
  /// JL_RUNTIME_ABI), not a number written into the server (which said 2
  /// after the ABI became 3: the negative control this test was for).
  @Test func welcomeCarriesTheRuntimeABI() throws {
    let header = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Sources/CJumpLabelSite/include/jumplabel_runtime_abi.h")
    let define = try #require(try String(contentsOf: header, encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("#define JL_RUNTIME_ABI ") })
    let abi = try #require(UInt32(define.split(separator: " ")[2].filter(\.isNumber)), "\(define)")
    let t = try Target()
    defer { t.stop() }
    let fd = try rawConnect(t.socket)
    defer { close(fd) }
    try ControlSecurityTests.sendAll(fd, try Message.hello(minVersion: 2, maxVersion: 2, client: "abi").encoded())
    var buffer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    var got: [Message] = []
    // Until the first message (the socket's 15 s receive timeout is the hang guard).
    while got.isEmpty {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n <= 0 { break }
      buffer += chunk[0..<n]
      got += try Message.decodeAll(from: &buffer)
    }
    guard case let .welcome(_, _, _, _, _, runtimeABI, _)? = got.first else { Issue.record("no welcome: \(got)"); return }
    #expect(runtimeABI == abi && abi >= 3, "welcome says \(runtimeABI), the header \(abi)")
  }

  func rawConnect(_ path: String) throws -> Int32 {
    sigpipeHandled
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var a = sockaddr_un()
    a.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &a.sun_path) { p in for (i, b) in path.utf8.enumerated() { p[i] = b } }
    let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
    guard r == 0 else { throw TestFailure("connect: \(errno)") }
    var tv = timeval(tv_sec: 15, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    return fd
  }

  /// Reads until the peer closes (or 15 s pass).
  func readAll(_ fd: Int32) -> [UInt8] {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n <= 0 { break }
      out += buf[0..<n]
    }
    return out
  }
}

import Synchronization
