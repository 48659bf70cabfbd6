import Foundation
import Testing

/// Control calls from a signal handler (the field report): a thread toggles
/// a key in a loop while another sends it SIGHUP every 300 µs, and the
/// SIGHUP handler toggles the same key. Run in a child process
/// (`jumplabel-harness signal-toggle`) with a watchdog, in debug and
/// release builds alike.
@Suite(.serialized) struct SignalHandlerTests {
  static func signalToggle(_ args: [String]) throws -> ChildRun {
    try spawn(StressCommandTests.harness, ["signal-toggle"] + args, env: ["SWIFT_BACKTRACE": "enable=no"], timeout: 120)
  }

  @Test func togglesFromASignalHandlerNeverHang() throws {
    let r = try Self.signalToggle(["--signals", "4000", "--interval", "300", "--watchdog", "20"])
    #expect(r.status == 0 && !r.signalled && !r.timedOut, "\(r.stdout)\n\(r.stderr.suffix(4000))")
    // The run checks: every handler call succeeded or was refused with
    // reentrantControl (both happened), and the site agrees with the state.
    #expect(r.stdout.contains(" ok"), "\(r.stdout)")
    #expect(r.stdout.contains("otherErrors=0"), "\(r.stdout)")
    print(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  /// Negative control: with the re-entry marks ignored, the handler waits
  /// for a lock or a one-time initialiser its own thread holds. However
  /// the run ends (the watchdog's exit 3, a signal, our timeout), it must
  /// not end well.
  @Test func withoutReentryMarksTheHandlerHangs() throws {
    let r = try Self.signalToggle(["--signals", "4000", "--interval", "300", "--watchdog", "3", "--ignore-reentry"])
    let caught = r.status == 3 || r.signalled || r.timedOut
    #expect(caught, "the hazard did not reproduce: status \(r.status)\n\(r.stdout)\n\(r.stderr.suffix(2000))")
    #expect(!r.stdout.contains(" ok"), "\(r.stdout)")
  }
}
