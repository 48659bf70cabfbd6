import Foundation
import JumpLabelControl
import JumpLabelFixtures
import Synchronization
import Testing

/// The attacks of the control channel's security review (#16), each
/// against the real server (`jumplabel-harness control-target`) and the
/// real `jumplabel ctl`, each with its negative control: the same attack
/// with the one defence turned off (a test-only option of the harness,
/// `--test-disable`, or the client library in `jumplabel-harness
/// ctl-probe`) succeeds, so the test can fail.
@Suite(.serialized) struct ControlSecurityTests {
  typealias Target = ControlTests.Target
  typealias TestFailure = ControlTests.TestFailure

  static func ctl(_ args: [String], env: [String: String] = [:]) throws -> ChildRun {
    try spawn(StressCommandTests.tool, ["ctl"] + args, env: env, timeout: 300)
  }

  static func probe(_ args: [String]) throws -> ChildRun {
    try spawn(StressCommandTests.harness, ["ctl-probe"] + args, timeout: 60)
  }

  /// A process's resident set in bytes (/proc/PID/status, VmRSS).
  static func rss(_ pid: Int32) -> Int {
    let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
      return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
    return 0
  }

  static func alive(_ t: Target) -> Bool { t.process.isRunning }

  // MARK: 1. Replies that would not fit in a frame

  /// 10,000 keys and three keys with 100,000-byte names: list, dry runs on
  /// a read-only server and a set over all of them get whole answers in
  /// parts, and the process lives. Requests too large (a 70 KB name, 70
  /// names of 1,000 bytes) are refused by the CLI before anything is
  /// sent. Negative control: replies in one part (`replyParts` off): the
  /// list does not fit, and the client gets an error instead (the process
  /// lives: encoding throws, it no longer traps).
  @Test func largeRepliesComeInParts() throws {
    let t = try Target(env: [:], args: ["--start", "--read-only", "--test-keys", "10000", "--test-long-keys", "3"])
    // The answers are about size, not speed: a debug build on a busy
    // machine can take longer than the CLI's default 10 s to list 10,003
    // keys, so each call waits up to 120 s (`--timeout`).
    defer { t.stop() }
    let list = try Self.ctl(["list", "--pid", "\(t.pid)", "--timeout", "120s", "--json"])
    let entries = ControlTests.json(list)
    #expect(list.status == 0, "\(list.stderr)")
    #expect(entries.filter { ($0["name"] as? String)?.hasPrefix("test.bulk.") == true }.count == 10_000)
    let long = entries.filter { ($0["name"] as? String)?.hasPrefix("test.long.") == true }
    #expect(long.count == 3 && long.allSatisfy { ($0["name"] as? String)?.utf8.count == ControlLimits.maxNameBytes })
    #expect(long.allSatisfy { ($0["problem"] as? String)?.contains("name cut: 100000 bytes") == true }, "\(long.map { $0["problem"] ?? "" })")
    // Dry runs are allowed on a read-only server: the whole result comes back.
    for (verb, pattern) in [("enable", "*"), ("disable", "test.*")] {
      let dry = try Self.ctl([verb, "--pid", "\(t.pid)", "--timeout", "120s", "--dry-run", pattern, "--json"])
      #expect(dry.status == 0 && ControlTests.json(dry).count >= 10_003, "\(verb) \(pattern): \(dry.stderr)")
    }
    // A trace of a pattern as long as a request may carry that matches nothing: the error quotes it cut.
    let pattern = "nothing." + String(repeating: "z", count: ControlLimits.maxNameBytes - 9) + "*"
    let tr = try Self.ctl(["trace", "--pid", "\(t.pid)", "--timeout", "120s", pattern, "--count", "1"])
    #expect(tr.status != 0 && tr.stderr.contains("no tracepoint matches") && tr.stderr.contains("(1024 bytes)"), "\(tr.stderr.prefix(600))")
    // Too large to send: refused by the CLI, nothing sent.
    let auditBefore = t.audit
    let huge = try Self.ctl(["enable", "--pid", "\(t.pid)", "--timeout", "120s", String(repeating: "a", count: 70_000)])
    #expect(huge.status != 0 && huge.stderr.contains("70000 bytes long; at most 1024"), "\(huge.stderr.prefix(400))")
    let many = try Self.ctl(["enable", "--pid", "\(t.pid)", "--timeout", "120s"] + (0..<70).map { "k\($0)." + String(repeating: "b", count: 990) })
    #expect(many.status != 0 && many.stderr.contains("does not fit in one control message"), "\(many.stderr.prefix(400))")
    #expect(t.audit == auditBefore, "a refused request reached the process")
    #expect(Self.alive(t))

    // Negative control: each reply in one message.
    let one = try Target(env: [:], args: ["--start", "--read-only", "--test-keys", "10000", "--test-disable", "replyParts"])
    defer { one.stop() }
    let failed = try Self.ctl(["list", "--pid", "\(one.pid)", "--timeout", "120s", "--json"])
    #expect(failed.status != 0 && failed.stderr.contains("does not fit"), "without parts the list should not fit: \(failed.stderr.prefix(400))")
    #expect(Self.alive(one))
  }

  // MARK: 1b. Remembered names

  /// Names no image declared are remembered (on request, `--undeclared`),
  /// at most 1,024: a request
  /// that would pass the bound is refused whole with a clear error and
  /// changes nothing; up to the bound they are accepted (the positive
  /// control: the refusal is the bound, not the names).
  @Test func rememberedNamesAreBounded() throws {
    let t = try Target(env: [:], args: ["--start"])
    defer { t.stop() }
    let names = (0..<1025).map { "plugin.late.\($0)" }
    let over = try Self.ctl(["enable", "--pid", "\(t.pid)", "--undeclared", "--json"] + names)
    #expect(over.status != 0 && over.stderr.contains("1024 names that no image declared yet are remembered already"), "\(over.stderr.prefix(400))")
    let before = ControlTests.json(try Self.ctl(["list", "--pid", "\(t.pid)", "--json"]))
    #expect(!before.contains { ($0["name"] as? String)?.hasPrefix("plugin.late.") == true }, "a refused request remembered names")
    let upTo = try Self.ctl(["enable", "--pid", "\(t.pid)", "--undeclared", "--json"] + names.dropLast())
    #expect(upTo.status == 0 && ControlTests.json(upTo).count == 1024, "\(upTo.stderr.prefix(400))")
    let one = try Self.ctl(["enable", "--pid", "\(t.pid)", "--undeclared", "plugin.late.1024"])
    #expect(one.status != 0 && one.stderr.contains("(the limit)"), "\(one.stderr)")
    // Names already remembered may still change.
    let again = try Self.ctl(["disable", "--pid", "\(t.pid)", "--undeclared", "plugin.late.7", "--json"])
    #expect(again.status == 0, "\(again.stderr)")
  }

  // MARK: 2. Fake servers

  /// A socket planted in another user's directory, named after a victim
  /// process (pid and start time are public), is not trusted: `ctl ps`
  /// does not list it and warns, `ctl list --pid` finds no socket, and
  /// `--socket` by hand is refused (owner). A fake served by the victim's
  /// own user but by another process is refused too (SO_PEERCRED and the
  /// welcome). Negative control: the client library with `peerChecks`
  /// off lists the fake's key, escape sequences and all.
  @Test(.enabled(if: TestRequirements.isRoot || TestRequirements.strict, "needs root, to plant a socket as nobody"))
  func fakeServersAreNotTrusted() throws {
    try #require(TestRequirements.isRoot, "needs root, to plant a socket as nobody")
    let runuser = try #require(TestRequirements.path(of: "runuser"), "runuser (util-linux) is needed")
    // The victim: a root process with no control socket.
    let victim = Process()
    victim.executableURL = URL(fileURLWithPath: "/bin/sleep")
    victim.arguments = ["60"]
    try victim.run()
    // SIGKILL: a child may inherit the test runner's blocked SIGTERM.
    defer { kill(victim.processIdentifier, SIGKILL); victim.waitUntilExit() }
    let vpid = victim.processIdentifier
    // nobody's directory, where root's `ctl` looks (/tmp/jumplabel-<uid>).
    let dir = "/tmp/jumplabel-65534"
    let hadDir = FileManager.default.fileExists(atPath: dir)
    let fake = Process()
    fake.executableURL = URL(fileURLWithPath: runuser)
    fake.arguments = ["-u", "nobody", "--", StressCommandTests.harness, "fake-control-server", "--directory", dir, "--pid", "\(vpid)", "--duration", "60"]
    let out = Pipe()
    fake.standardOutput = out
    try fake.run()
    var line = ""
    defer {
      killTree(fake.processIdentifier)
      fake.waitUntilExit()
      if hadDir { unlink(socketPath(line)) } else { try? FileManager.default.removeItem(atPath: dir) }
    }
    line = readFirstLine(out.fileHandleForReading)
    let socket = socketPath(line)
    try #require(line.hasPrefix("fake-control-server: listening"), "\(line)")

    let ps = try Self.ctl(["ps", "--json"])
    #expect(!ps.stdout.contains(socket) && ps.stderr.contains("not trusting") && ps.stderr.contains("65534"), "\(ps.stdout)\(ps.stderr)")
    let list = try Self.ctl(["list", "--pid", "\(vpid)"])
    #expect(list.status != 0 && list.stderr.contains("no live JumpLabel control socket"), "\(list.stdout)\(list.stderr)")
    let dis = try Self.ctl(["disable", "--pid", "\(vpid)", "db.safe-mode", "--socket", socket])
    #expect(dis.status != 0 && dis.stderr.contains("belongs to uid 65534"), "\(dis.stdout)\(dis.stderr)")
    #expect(!(list.stdout + list.stderr + dis.stdout + dis.stderr).contains("\u{1B}"), "an escape sequence reached the output")

    // Negative control: without the checks the fake is believed.
    let trusted = try Self.probe(["--disable", "peerChecks", "--action", "list", "--pid", "\(vpid)"])
    #expect(trusted.status == 0 && trusted.stdout.contains("key FAKE.key\u{1B}]0;owned"), "\(trusted.stdout)\(trusted.stderr)")
    let changed = try Self.probe(["--disable", "peerChecks", "--action", "enable", "--pid", "\(vpid)", "db.safe-mode"])
    #expect(changed.stdout.contains("changed db.safe-mode true"), "\(changed.stdout)\(changed.stderr)")

    // The victim's own user, another process: owner check passes, the
    // kernel's peer credentials do not.
    let rootDir = FileManager.default.temporaryDirectory.appendingPathComponent("jumplabel-fake-\(getpid())").path
    let sameUser = Process()
    sameUser.executableURL = URL(fileURLWithPath: StressCommandTests.harness)
    sameUser.arguments = ["fake-control-server", "--directory", rootDir, "--pid", "\(vpid)", "--duration", "60"]
    let out2 = Pipe()
    sameUser.standardOutput = out2
    try sameUser.run()
    defer {
      kill(sameUser.processIdentifier, SIGKILL)
      sameUser.waitUntilExit()
      try? FileManager.default.removeItem(atPath: rootDir)
    }
    let line2 = readFirstLine(out2.fileHandleForReading)
    let socket2 = socketPath(line2)
    let byHand = try Self.ctl(["list", "--pid", "\(vpid)", "--socket", socket2])
    #expect(byHand.status != 0 && byHand.stderr.contains("served by pid \(sameUser.processIdentifier)"), "\(byHand.stdout)\(byHand.stderr)")
    let believed = try Self.probe(["--disable", "peerChecks", "--action", "list", "--pid", "\(vpid)", "--socket", socket2])
    #expect(believed.stdout.contains("key FAKE.key"), "\(believed.stdout)\(believed.stderr)")

    // The welcome must name the process asked for: a real server asked
    // for with the wrong start time (a pid reused since) is refused.
    let real = try Target(env: [:], args: ["--start"])
    defer { real.stop() }
    var expected = try ControlClient.Expected.process(real.pid)
    #expect(throws: Never.self) { _ = try ControlClient(path: real.socket, expecting: expected) }
    expected.startTime += 1
    do {
      _ = try ControlClient(path: real.socket, expecting: expected)
      Issue.record("a welcome naming another start time was accepted")
    } catch {
      #expect("\(error)".contains("the server says it is pid \(real.pid)"), "\(error)")
    }
  }

  /// The socket path in a fake server's first line.
  func socketPath(_ line: String) -> String {
    String(line.split(separator: " ").last ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
  }

  // MARK: 3. Cleanup through a symlink

  /// Root's `ctl ps` does not delete through a symlinked directory: a
  /// stale socket in a root-only directory that `/tmp/jumplabel-<uid>`
  /// points to survives; the same socket in a real directory of that uid
  /// is cleaned up (positive control). Negative control: the client
  /// library without `safeCleanup` and `peerChecks` deletes it through
  /// the link.
  @Test(.enabled(if: TestRequirements.isRoot || TestRequirements.strict, "needs root (root's ctl ps scans every user's directory)"))
  func cleanupNeverFollowsASymlink() throws {
    try #require(TestRequirements.isRoot)
    let uid: UInt32 = 42_424
    let link = "/tmp/jumplabel-\(uid)"
    let target = FileManager.default.temporaryDirectory.appendingPathComponent("jumplabel-rootonly-\(getpid())").path
    try? FileManager.default.removeItem(atPath: link)
    try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    defer {
      try? FileManager.default.removeItem(atPath: link)
      try? FileManager.default.removeItem(atPath: target)
    }
    let stale = try Self.staleSocket(in: target)
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
    let ps = try Self.ctl(["ps", "--json"])
    #expect(ps.status == 0 && ps.stderr.contains("symbolic link"), "\(ps.stderr)")
    #expect(FileManager.default.fileExists(atPath: stale), "ctl ps deleted a socket through a symlink")

    // Positive control: a real directory of that uid is cleaned up.
    try FileManager.default.removeItem(atPath: link)
    try FileManager.default.createDirectory(atPath: link, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    chown(link, uid, uid)
    let real = try Self.staleSocket(in: link)
    chown(real, uid, uid)
    _ = try Self.ctl(["ps", "--json"])
    #expect(!FileManager.default.fileExists(atPath: real), "a stale socket in a checked directory was not removed")

    // Negative control: by path, through the link.
    try FileManager.default.removeItem(atPath: link)
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
    _ = try Self.probe(["--disable", "safeCleanup,peerChecks", "--action", "ps"])
    #expect(!FileManager.default.fileExists(atPath: stale), "the unsafe cleanup should have deleted through the link")
  }

  /// A socket file named for a process of this namespace that is gone.
  static func staleSocket(in dir: String) throws -> String {
    let dead = Process()
    dead.executableURL = URL(fileURLWithPath: "/bin/true")
    try dead.run()
    dead.waitUntilExit()
    let path = dir + "/" + SocketDirectory.socketName(pidNamespace: SocketDirectory.pidNamespace, pid: dead.processIdentifier, startTime: 1)
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var a = sockaddr_un()
    a.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &a.sun_path) { p in for (i, b) in path.utf8.enumerated() { p[i] = b } }
    let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
    close(fd)
    guard r == 0 else { throw TestFailure("bind \(path): \(errno)") }
    return path
  }

  // MARK: 4. A client that does not read its replies

  /// A client sends 2,000 `list` requests (about 110 KB of reply each)
  /// and never reads: the target stops reading it once 1 MiB is queued,
  /// and its RSS grows by less than 48 MiB. Negative control: without the
  /// output limit it queues every reply (over 150 MiB).
  @Test func unreadRepliesDoNotGrowTheTarget() throws {
    let bounded = try Self.growthUnderUnreadLists(disable: nil)
    #expect(bounded < 48 << 20, "RSS grew by \(bounded >> 20) MiB")
    // Waited for until it passes 150 MiB (hang guard 60 s), not until
    // steady: a stall of the loaded target would look steady too early.
    let unbounded = try Self.growthUnderUnreadLists(disable: "outputLimit", until: 150 << 20)
    #expect(unbounded > 150 << 20, "without the limit RSS grew by only \(unbounded >> 20) MiB")
  }

  /// Sends the requests, waits until the target's RSS is steady, or with
  /// `until`, until it grew by more than that (as a hang guard, 60 s);
  /// returns the growth.
  static func growthUnderUnreadLists(disable: String?, until enough: Int? = nil) throws -> Int {
    var args = ["--start", "--test-keys", "100", "--test-key-name-bytes", "1000"]
    if let disable { args += ["--test-disable", disable] }
    let t = try Target(env: [:], args: args)
    defer { t.stop() }
    let fd = try ControlTests().rawConnect(t.socket)
    defer { close(fd) }
    try sendAll(fd, try Message.hello(minVersion: 2, maxVersion: 2, client: "test").encoded())
    // The welcome, so that the baseline is taken after the greeting.
    var welcome = [UInt8](repeating: 0, count: 4096)
    _ = read(fd, &welcome, welcome.count)
    let before = rss(t.pid)
    let list = try Message.list.encoded()
    try sendAll(fd, Array((0..<2000).map { _ in list }.joined()))
    var last = rss(t.pid), steady = 0
    let deadline = Date().addingTimeInterval(60)
    while (enough.map { last - before <= $0 } ?? (steady < 10)) && Date() < deadline {
      usleep(200_000)
      let now = rss(t.pid)
      steady = abs(now - last) < 1 << 20 ? steady + 1 : 0
      last = now
    }
    #expect(alive(t))
    return last - before
  }

  static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
      guard n > 0 else { throw TestFailure("send: \(errno)") }
      done += n
    }
  }

  // MARK: 4b. Trace buffers

  /// Seven `ctl trace --buffer 65536` at once: the buffers granted fit in
  /// 64 MiB together (32,768, 16,384, 8,192, 512 and 256 events at 1,152
  /// bytes each), the rest are refused "busy" with a clear error, and the
  /// target's RSS grows by less than 64 MiB + 32 MiB of slack. Negative
  /// control: with a 100 GiB limit every trace gets 65,536 events (about
  /// 72 MiB each).
  @Test func traceBuffersShareOneBound() throws {
    let (granted, refused, growth) = try Self.concurrentTraces(limitMib: nil, count: 7)
    let events = granted.reduce(0, +)
    #expect(events * 1152 <= 64 << 20 && granted.count >= 4, "granted \(granted)")
    #expect(refused == 7 - granted.count && refused >= 1, "granted \(granted), refused \(refused)")
    #expect(growth < 96 << 20, "RSS grew by \(growth >> 20) MiB")
    let (all, none, _) = try Self.concurrentTraces(limitMib: 100 << 10, count: 4)
    #expect(none == 0 && all.reduce(0, +) * 1152 > 64 << 20, "without a real limit: granted \(all)")
  }

  /// Runs `count` traces at once; returns the buffers granted, how many
  /// were refused, and the largest RSS growth seen meanwhile. The traces
  /// run until every one has been granted or refused (the audit log says
  /// so: an event that must happen, 120 s hang guard), then 3 s more,
  /// then each client is stopped with SIGINT: on a loaded machine the
  /// clients may take seconds to start, and a fixed duration could end
  /// the first before the last asked.
  static func concurrentTraces(limitMib: Int?, count: Int) throws -> (granted: [Int], refused: Int, growth: Int) {
    var args = ["--start"]
    if let limitMib { args += ["--test-trace-memory-mib", "\(limitMib)"] }
    let t = try Target(env: [:], args: args)
    defer { t.stop() }
    let base = rss(t.pid)
    let results = Mutex<[ChildRun]>([])
    final class Clients: @unchecked Sendable {  // guarded by its lock
      let lock = NSLock()
      var processes: [Process] = []
    }
    let clients = Clients()
    let peak = Atomic<Int>(0)
    let group = DispatchGroup()
    for _ in 0..<count {
      group.enter()
      Thread {
        let r = try? spawn(StressCommandTests.tool, ["ctl", "trace", "--pid", "\(t.pid)", "fixture.trace.request", "--buffer", "65536", "--duration", "600s"],
                           timeout: 300) { p in clients.lock.withLock { clients.processes.append(p) } }
        if let r { results.withLock { $0.append(r) } }
        group.leave()
      }.start()
    }
    func sample() { peak.store(max(peak.load(ordering: .relaxed), rss(t.pid) - base), ordering: .relaxed) }
    func answered() -> Int {
      t.audit.split(separator: "\n").filter { $0.contains("refused a trace by") || ($0.contains("trace by") && $0.contains("(buffer of")) }.count
    }
    let deadline = Date().addingTimeInterval(120)
    while answered() < count && Date() < deadline { sample(); usleep(200_000) }
    for _ in 0..<15 { sample(); usleep(200_000) }
    // interrupt(): SIGINT only to a client not reaped yet (a refused one
    // has ended on its own).
    clients.lock.withLock { for p in clients.processes { p.interrupt() } }
    while group.wait(timeout: .now() + 0.2) == .timedOut { sample() }
    let runs = results.withLock { $0 }
    var granted: [Int] = [], refused = 0
    for r in runs {
      if r.stderr.contains("trace buffers already use") { refused += 1; continue }
      guard r.status == 0 else { continue }
      if let range = r.stderr.range(of: "granted a buffer of "), let n = Int(r.stderr[range.upperBound...].prefix { $0.isNumber }) {
        granted.append(n)
      } else {
        granted.append(65_536)
      }
    }
    #expect(granted.count + refused == count, "\(runs.map(\.stderr))")
    return (granted, refused, peak.load(ordering: .relaxed))
  }

  // MARK: 5. Idle connections

  /// 64 connections that say hello and then nothing hold every slot
  /// (`ctl list` is refused "busy"); after the idle timeout (5 s here)
  /// they are closed with a timeout error, and `ctl list` gets through.
  /// A `--hold` lease outlives several timeouts (its client pings).
  /// Negative control: no idle timeout: after the same wait, still busy.
  @Test func idleConnectionsTimeOut() throws {
    // 5 s: long enough that filling the slots and the busy check happen
    // before the first idle connection times out, and that the --hold
    // client's ping (every third of it) survives a stall of seconds on a
    // busy machine.
    let t = try Target(env: [:], args: ["--start", "--test-idle-timeout-ms", "5000"])
    defer { t.stop() }
    let holder = Process()
    holder.executableURL = URL(fileURLWithPath: StressCommandTests.tool)
    holder.arguments = ["ctl", "enable", "--pid", "\(t.pid)", "fixture.ctl.audit", "--hold"]
    holder.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    holder.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try holder.run()
    defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }
    // The lease is in place before the slots are filled.
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline, ControlTests.entry(try ControlTests.list(t), "fixture.ctl.audit")?["enabled"] as? Bool != true { usleep(50_000) }
    let idle = try Self.fillSlots(t, count: 63)  // the lease holds the 64th
    defer { for fd in idle { close(fd) } }
    // The 65th is refused "busy": checked on a raw connection, at once
    // (starting a `ctl` process could take seconds of the 5 on a loaded
    // machine; the negative control below checks with `ctl`).
    let extra = try ControlTests().rawConnect(t.socket)
    var refusal = ControlTests().readAllFor(extra, seconds: 60)
    close(extra)
    let busy = (try? Message.decodeAll(from: &refusal)) ?? []
    #expect(busy.contains { if case .error(.busy, let m) = $0 { return m.contains("too many control connections") } else { return false } }, "\(busy)")
    // Each idle connection gets a timeout error, then the end of stream.
    for fd in idle {
      let reply = ControlTests().readAll(fd)
      var buffer = reply
      let messages = (try? Message.decodeAll(from: &buffer)) ?? []
      #expect(messages.contains { if case .error(.timeout, _) = $0 { return true } else { return false } }, "\(messages)")
    }
    let ok = try Self.ctl(["list", "--pid", "\(t.pid)", "--json"])
    #expect(ok.status == 0, "\(ok.stderr)")
    #expect(ControlTests.entry(ControlTests.json(ok), "fixture.ctl.audit")?["enabled"] as? Bool == true, "the --hold lease was dropped")
    #expect(t.audit.contains("idle for 5 s"), "\(t.audit)")
    // The lease outlives many idle timeouts and the client's own 10 s
    // receive timeout (a pong alone must not make it wait for more).
    usleep(12_000_000)
    #expect(holder.isRunning, "the --hold client gave up")
    #expect(ControlTests.entry(try ControlTests.list(t), "fixture.ctl.audit")?["enabled"] as? Bool == true, "the --hold lease was dropped")

    // Negative control: no idle timeout.
    let n = try Target(env: [:], args: ["--start", "--test-idle-timeout-ms", "0"])
    defer { n.stop() }
    let held = try Self.fillSlots(n, count: 64)
    defer { for fd in held { close(fd) } }
    usleep(7_000_000)  // longer than the other target's timeout
    let still = try Self.ctl(["list", "--pid", "\(n.pid)", "--json"])
    #expect(still.status != 0 && still.stderr.contains("too many control connections"), "\(still.stderr)")
  }

  /// `count` connections that say hello, read the welcome, and go quiet.
  static func fillSlots(_ t: Target, count: Int) throws -> [Int32] {
    var fds: [Int32] = []
    let hello = try Message.hello(minVersion: 2, maxVersion: 2, client: "idle").encoded()
    for _ in 0..<count {
      let fd = try ControlTests().rawConnect(t.socket)
      try sendAll(fd, hello)
      var buf = [UInt8](repeating: 0, count: 4096)
      guard read(fd, &buf, buf.count) > 0 else { throw TestFailure("no welcome") }
      fds.append(fd)
    }
    return fds
  }

  // MARK: 6. Control characters in names

  /// A name with a newline (a forged audit line) or an escape sequence is
  /// refused with a clear error, and the audit log has no line that the
  /// server did not write; `ctl list` to a terminal (script(1)) shows no
  /// raw escape. Negative controls: with the name check off the name is
  /// accepted but the log still escapes it; with the log's escaping off
  /// too, the forged line appears.
  @Test func controlCharactersNeverReachTheLogRaw() throws {
    // No glob characters (* ? [): a pattern would match nothing and not be remembered.
    let forged = "x\nforged: change by pid 1 uid 0: FORGED.key false -> true (enable)"
    let escape = "y\u{1B}]0;owned\u{07}red"
    func forgedLines(_ t: Target) -> [Substring] {
      t.audit.split(separator: "\n").filter { !$0.hasPrefix("jumplabel-control[\(t.pid)] ") }
    }
    let t = try Target(env: [:], args: ["--start"])
    defer { t.stop() }
    for name in [forged, escape] {
      let r = try Self.ctl(["enable", "--pid", "\(t.pid)", name])
      #expect(r.status != 0 && r.stderr.contains("holds the control character"), "\(r.stderr)")
      #expect(!r.stderr.contains("\u{1B}") && !r.stderr.contains("\nforged"), "\(r.stderr)")
    }
    // Past the client (a raw request): the server refuses it and logs it escaped.
    let fd = try ControlTests().rawConnect(t.socket)
    try Self.sendAll(fd, try Message.hello(minVersion: 2, maxVersion: 2, client: "raw").encoded())
    try Self.sendAll(fd, try Message.set(enable: true, dryRun: false, hold: false, ttlMillis: 0, force: false, undeclared: true, patterns: [forged]).encoded())
    let refused: (Message) -> Bool = { if case .error(.malformed, let m) = $0 { return m.contains("U+000A") } else { return false } }
    let replies = ControlTests().readMessages(fd, until: refused)
    close(fd)
    #expect(replies.contains(where: refused), "\(replies)")
    #expect(forgedLines(t).isEmpty && !t.audit.contains("\u{1B}"), "\(t.audit)")
    #expect(t.audit.contains("refused a change") && t.audit.contains("\\n"), "\(t.audit)")

    // Negative controls.
    let lax = try Target(env: [:], args: ["--start", "--test-disable", "nameCheck"])
    defer { lax.stop() }
    // The CLI checks names too: a raw request gets past it.
    let accepted = try Self.ctl(["enable", "--pid", "\(lax.pid)", forged])
    #expect(accepted.status != 0 && accepted.stderr.contains("holds the control character"), "\(accepted.stderr)")
    try Self.rawSet(lax, [forged, escape])
    #expect(forgedLines(lax).isEmpty && !lax.audit.contains("\u{1B}"), "the log's escaping alone should hold: \(lax.audit)")
    // The CLI's own escaping, on a terminal: the remembered names print escaped.
    if let script = TestRequirements.path(of: "script") {
      let table = try spawn(script, ["-qec", "\(StressCommandTests.tool) ctl list --pid \(lax.pid)", "/dev/null"], timeout: 60)
      #expect(table.stdout.contains("y\\e]0;owned\\x07red") && !table.stdout.contains("\u{1B}]0;"), "\(table.stdout)")
    }
    let raw = try Target(env: [:], args: ["--start", "--test-disable", "nameCheck,auditEscaping"])
    defer { raw.stop() }
    try Self.rawSet(raw, [forged])
    #expect(forgedLines(raw).contains { $0.contains("FORGED.key") }, "without both defences the forged line should appear: \(raw.audit)")
  }

  /// Enables `names` through a raw connection (past the CLI's checks).
  static func rawSet(_ t: Target, _ names: [String]) throws {
    let fd = try ControlTests().rawConnect(t.socket)
    defer { close(fd) }
    try sendAll(fd, try Message.hello(minVersion: 2, maxVersion: 2, client: "raw").encoded())
    try sendAll(fd, try Message.set(enable: true, dryRun: false, hold: false, ttlMillis: 0, force: false, undeclared: true, patterns: names).encoded())
    let applied: (Message) -> Bool = { if case .setResultPart(true, _, _) = $0 { return true } else { return false } }
    let replies = ControlTests().readMessages(fd, until: applied)
    #expect(replies.contains(where: applied), "\(replies)")
  }

  // MARK: 7. Pid namespaces sharing a directory

  /// A server in a new pid namespace (`unshare --pid --fork --mount-proc`)
  /// sharing the host's socket directory leaves the host target's live
  /// socket alone at start-up, and the host's `ctl ps` lists the
  /// namespaced one as another namespace's and leaves it alone too.
  /// Negative control: with `namespaceCheck` off, the namespaced server
  /// removes the host's live socket as stale.
  @Test(.enabled(if: TestRequirements.isRoot || TestRequirements.strict, "needs root, for unshare --pid"))
  func pidNamespacesKeepEachOthersSockets() throws {
    try #require(TestRequirements.isRoot)
    let unshare = try #require(TestRequirements.path(of: "unshare"), "unshare (util-linux) is needed")
    let shared = FileManager.default.temporaryDirectory.appendingPathComponent("jumplabel-ns-\(getpid())").path
    try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    defer { try? FileManager.default.removeItem(atPath: shared) }
    let env = ["XDG_RUNTIME_DIR": shared, "JUMPLABEL_CONTROL": "1"]
    let launcher = [unshare, "--pid", "--fork", "--mount-proc", "--kill-child"]
    let host = try Target(env: env)
    defer { host.stop() }
    let inner = try Target(env: env, launcher: launcher)
    defer { inner.stop() }
    #expect(FileManager.default.fileExists(atPath: host.socket), "the namespaced server removed the host's live socket")
    #expect(inner.socket.hasPrefix(shared) && FileManager.default.fileExists(atPath: inner.socket))
    let ps = try Self.ctl(["ps", "--json"], env: ["XDG_RUNTIME_DIR": shared])
    let rows = ControlTests.json(ps)
    #expect(rows.contains { $0["socket"] as? String == host.socket && $0["thisNamespace"] as? Bool == true }, "\(ps.stdout)")
    #expect(rows.contains { $0["socket"] as? String == inner.socket && $0["thisNamespace"] as? Bool == false }, "\(ps.stdout)")
    #expect(FileManager.default.fileExists(atPath: inner.socket), "the host's ctl ps removed the namespaced socket")
    let list = try Self.ctl(["list", "--pid", "\(host.pid)", "--json"], env: ["XDG_RUNTIME_DIR": shared])
    #expect(list.status == 0, "\(list.stderr)")

    // Negative control: the namespaced server ignores namespaces.
    let careless = try Target(env: ["XDG_RUNTIME_DIR": shared], args: ["--start", "--test-disable", "namespaceCheck"], launcher: launcher)
    defer { careless.stop() }
    #expect(!FileManager.default.fileExists(atPath: host.socket), "without the namespace check the host's socket should have been removed")
  }
}

extension ControlTests {
  /// Reads what arrives within `seconds` (or until the peer closes).
  func readAllFor(_ fd: Int32, seconds: Int) -> [UInt8] {
    var tv = timeval(tv_sec: seconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    return readAll(fd)
  }

  /// The messages read until one satisfies `done`, the peer closes, or
  /// nothing arrives for 60 s (a hang guard: the reply is an event that
  /// must happen, however long a loaded machine takes to send it).
  func readMessages(_ fd: Int32, until done: (Message) -> Bool) -> [Message] {
    var tv = timeval(tv_sec: 60, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var pending: [UInt8] = []
    var messages: [Message] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while !messages.contains(where: done) {
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n <= 0 { break }
      pending += buf[0..<n]
      guard let decoded = try? Message.decodeAll(from: &pending) else { break }
      messages += decoded
    }
    return messages
  }
}
