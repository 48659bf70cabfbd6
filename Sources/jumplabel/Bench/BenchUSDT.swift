import Foundation
import Glibc
import JumpLabel
import Tracepoints

/// The payload of the bench's USDT tracepoint: two integers, as bpftrace
/// sees them (arg0, arg1).
struct BenchUSDTEvent: USDTPayload {
  var sequence: Int
  var value: Int
  var usdtArguments: USDTArguments2<Int, Int> { .init(sequence, value) }
}

extension Tracepoint where Payload == BenchUSDTEvent {
  /// `jumplabel:bench_usdt` for tools.
  static var benchUSDT: Self { Tracepoint("jumplabel.bench-usdt") }
}

/// One emit site of the bench's USDT tracepoint.
@inline(never) func benchUSDTEmit(_ i: Int) { Tracepoint.benchUSDT.emit(BenchUSDTEvent(sequence: i, value: i &* 2)) }

extension BenchScenarios {
  /// What one emit of a USDT tracepoint costs: disabled (the NOP), enabled
  /// with no tracer (the probes' list, the semaphore read), and with the
  /// real bpftrace attached to this process (the arguments and the uprobe
  /// trap into the kernel, per event). The last needs root and bpftrace;
  /// without them its row is missing.
  func usdt() throws -> [BenchReport.USDTRow] {
    let n = quick ? 200_000 : 2_000_000
    func perEmit(_ count: Int) -> Double {
      for i in 0..<1000 { benchUSDTEmit(i) }
      let t0 = nowNs()
      for i in 0..<count { benchUSDTEmit(i) }
      return Double(nowNs() - t0) / Double(count)
    }
    var rows: [BenchReport.USDTRow] = []
    rows.append(.init(state: "disabled (the NOP)", nsPerEmit: perEmit(n)))
    let key = Tracepoint.benchUSDT.key
    try key.increment()
    rows.append(.init(state: "enabled, no tracer attached", nsPerEmit: perEmit(n)))
    try key.decrement()
    if geteuid() == 0, let bpftrace = ([String])(["/usr/bin/bpftrace", "/usr/sbin/bpftrace"]).first(where: { access($0, X_OK) == 0 }) {
      let p = Process()
      p.executableURL = URL(fileURLWithPath: bpftrace)
      let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
      p.arguments = ["-p", String(getpid()), "-e", "usdt:\(exe):jumplabel:bench_usdt { @n = count(); }"]
      p.standardOutput = FileHandle.nullDevice
      p.standardError = FileHandle.nullDevice
      try p.run()
      defer {
        p.interrupt()
        p.waitUntilExit()
      }
      // Attached once the watcher has switched the tracepoint on.
      let deadline = Date().addingTimeInterval(30)
      while !key.state && Date() < deadline { usleep(10_000) }
      guard key.state else { throw BenchError("bpftrace did not attach within 30 s") }
      rows.append(.init(state: "enabled, bpftrace attached (uprobe per event)", nsPerEmit: perEmit(quick ? 20_000 : 200_000)))
    }
    return rows
  }
}
