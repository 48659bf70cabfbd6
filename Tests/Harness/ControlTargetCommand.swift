import ArgumentParser
import Foundation
import Glibc
import JumpLabel
@_spi(Testing) import JumpLabelControl
import JumpLabelFixtures
import StressWorkload
import Synchronization
import Tracepoints

/// `jumplabel-harness control-target`: a process to control from outside.
/// Threads run key sites and emit tracepoints in hot loops; the control
/// server is started by JUMPLABEL_CONTROL=1 (or here, with options the
/// tests need). Prints `control-target: pid P socket S` once listening,
/// then runs until killed or `--duration` ends.
struct ControlTargetCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "control-target", abstract: "A process for `jumplabel ctl` to control (for the tests).")

  @Option var duration = 120.0
  @Option var threads = 2
  @Option(help: "Write the audit log to this file (default: stderr).") var auditLog: String?
  @Flag(help: "Start the server here (otherwise JUMPLABEL_CONTROL=1 must).") var start = false
  @Option(help: "Tests: socket directory (checks skipped) and socket mode, to reach the peer check from another user.")
  var testDirectory: String?
  @Option var testSocketMode: String?
  @Option(help: "Tests: defences to turn off (comma-separated ControlDefence names), for negative controls.")
  var testDisable: String?
  @Option(help: "Tests: the idle timeout in milliseconds (0: none).") var testIdleTimeoutMs: Int?
  @Option(help: "Tests: the output limit per connection in bytes.") var testOutputLimit: Int?
  @Option(help: "Tests: the trace memory limit in MiB.") var testTraceMemoryMib: Int?
  @Flag(help: "A read-only control server.") var readOnly = false
  @Option(help: "Tests: this many extra keys, known to the registry by name (a control call in-process).")
  var testKeys = 0
  @Option(help: "Tests: the extra keys' names are padded to this many bytes.") var testKeyNameBytes = 0
  @Option(help: "Tests: this many more keys with names of --test-long-key-bytes bytes.") var testLongKeys = 0
  @Option var testLongKeyBytes = 100_000
  @Option(help: "Attach a JSON Lines sink to fixture.trace.sample writing to this file (an in-process probe).")
  var sinkFile: String?

  func run() throws {
    // Extra keys first, so that the server serves them from the start.
    for i in 0..<testKeys {
      var name = "test.bulk.\(i)."
      if name.utf8.count < testKeyNameBytes { name += String(repeating: "x", count: testKeyNameBytes - name.utf8.count) }
      declareKey(named: name)
    }
    for i in 0..<testLongKeys {
      declareKey(named: "test.long.\(i)." + String(repeating: "y", count: max(0, testLongKeyBytes - 12)))
    }
    if start {
      var o = JumpLabelControl.Options()
      o.readOnly = readOnly
      if let d = testDisable {
        for n in d.split(separator: ",") {
          guard let def = ControlDefence(rawValue: String(n)) else { throw ValidationError("no defence \(n)") }
          o._disabledDefences.insert(def)
        }
      }
      if let ms = testIdleTimeoutMs { o.idleTimeout = ms > 0 ? .milliseconds(ms) : nil }
      if let l = testOutputLimit { o.outputLimit = l }
      if let m = testTraceMemoryMib { o.traceMemoryLimit = m << 20 }
      if let auditLog { o.auditLog = .file(auditLog) }
      if let testDirectory {
        o.directory = testDirectory
        o._skipDirectoryChecks = true
      }
      if let m = testSocketMode, let mode = mode_t(m, radix: 8) { o._socketMode = mode }
      try JumpLabelControl.start(o)
    }
    let deadline = Date().addingTimeInterval(60)
    while JumpLabelControl.socketPath == nil && Date() < deadline { usleep(10_000) }
    guard let path = JumpLabelControl.socketPath else {
      print("control-target: no control socket")
      throw ExitCode(1)
    }
    var handles: [ProbeHandle] = []
    if let sinkFile { handles.append(try Tracepoint.fixtureSample.attach(try JSONLinesSink(path: sinkFile))) }
    defer { for h in handles { h.detach() } }
    let stop = Atomic<Bool>(false)
    for t in 0..<threads {
      Thread {
        var i = 0
        while !stop.load(ordering: .relaxed) {
          Fixture.emitRequest(i)
          Fixture.emitSample(i)
          blackHole(UInt16(Fixture.ctlSites() + (Fixture.live() ? 1 : 0)))
          i += 1
          if i % 64 == t { usleep(100) }
        }
      }.start()
    }
    print("control-target: pid \(getpid()) socket \(path)")
    fflush(nil)
    usleep(UInt32(min(duration, 4000) * 1_000_000))
    stop.store(true, ordering: .relaxed)
  }
}

/// Declares a key whose name is only known at run time, as code with that
/// many keys would: its first read registers it (a fallback read). A
/// `StaticKey` takes a `StaticString`, which only a literal makes; this
/// builds one over a leaked, NUL-terminated ASCII buffer (the stdlib's
/// layout: start pointer, byte count, flags with bit 1 "ASCII pointer").
/// Test support only.
func declareKey(named name: String) {
  let bytes = Array(name.utf8) + [0]
  precondition(bytes.allSatisfy { $0 < 0x80 }, "ASCII names only")
  let p = UnsafeMutablePointer<UInt8>.allocate(capacity: bytes.count)  // immortal, like a literal
  p.initialize(from: bytes, count: bytes.count)
  let s = unsafeBitCast((UInt(bitPattern: p), UInt(bytes.count - 1), UInt8(2)), to: StaticString.self)
  _ = StaticKey(_literalFromWrapper: s)._fallbackIsEnabled()
}
