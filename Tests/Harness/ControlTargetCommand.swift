import ArgumentParser
import Foundation
import Glibc
import JumpLabel
import JumpLabelControl
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
  @Option(help: "Attach a JSON Lines sink to fixture.trace.sample writing to this file (an in-process probe).")
  var sinkFile: String?

  func run() throws {
    if start {
      var o = JumpLabelControl.Options()
      if let auditLog { o.auditLog = .file(auditLog) }
      if let testDirectory {
        o.directory = testDirectory
        o._skipDirectoryChecks = true
      }
      if let m = testSocketMode, let mode = mode_t(m, radix: 8) { o._socketMode = mode }
      try JumpLabelControl.start(o)
    }
    let deadline = Date().addingTimeInterval(5)
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
