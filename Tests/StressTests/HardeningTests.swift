import Foundation
import JumpLabelFixtures
import Testing

/// The hazards of patching a process we do not control, each provoked for
/// real in a child process (`jumplabel-harness exercise`), each with a negative
/// control showing that the hazard is real.
@Suite(.serialized) struct HardeningTests {
  typealias R = StressCommandTests.Run
  static let releaseOnly = StressCommandTests.releaseOnly

  static func exercise(_ args: [String], env: [String: String] = [:]) throws -> R {
    try run(StressCommandTests.harness, ["exercise"] + args, env: env)
  }

  static func run(_ path: String, _ args: [String], env: [String: String] = [:]) throws -> R {
    try spawn(path, args, env: env)
  }

  @Test(.enabled(if: Fixture.compiledWithSites, Comment(rawValue: releaseOnly)))
  func threadBlockingSigtrapIsPatchedByParking() throws {
    let r = try Self.exercise(["--block-sigtrap-thread", "--toggles", "500"])
    #expect(r.status == 0 && !r.signalled, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("parked=500") && r.stdout.contains(" ok"), "\(r.stdout)")
    // Negative control: int3 anyway, and the kernel kills the process even
    // though a SIGTRAP handler is installed.
    let bad = try Self.exercise(["--block-sigtrap-thread", "--fault", "never-park"], env: ["SWIFT_BACKTRACE": "enable=no"])
    #expect(bad.signalled && bad.status == SIGTRAP, "the hazard did not reproduce: \(bad.stdout)")
  }

  static var gdb: String? {
    ["/usr/bin/gdb", "/bin/gdb"].first { FileManager.default.isExecutableFile(atPath: $0) }
  }

  @Test(.enabled(if: Fixture.compiledWithSites, Comment(rawValue: releaseOnly)))
  func togglingUnderGDBWithDefaultSettings() throws {
    guard let gdb = Self.gdb else {
      Issue.record("gdb is not installed (apt-get install gdb): the debugger hazard was not tested")
      return
    }
    // -nx: no .gdbinit, gdb's defaults only.
    let args = ["-nx", "-batch", "-return-child-result", "-ex", "run", "--args", StressCommandTests.harness, "exercise", "--toggles", "300"]
    let r = try Self.run(gdb, args)
    #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
    #expect(r.stdout.contains("exited normally"), "\(r.stdout)")
    #expect(r.stdout.contains("parked=300") && r.stdout.contains(" ok"), "\(r.stdout)")
    // Negative control: int3 under gdb. gdb stops on a SIGTRAP it does not
    // own and the run does not complete.
    let bad = try Self.run(gdb, args + ["--fault", "never-park"])
    #expect(bad.status != 0 && bad.stdout.contains("SIGTRAP"), "the hazard did not reproduce: \(bad.stdout)")
  }

  @Test(.enabled(if: Fixture.compiledWithSites, Comment(rawValue: releaseOnly)))
  func withoutMembarrierCoresAreSyncedBySignals() throws {
    let r = try Self.exercise(["--fault", "no-membarrier", "--toggles", "300"])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("coreSync=signals") && r.stdout.contains("violations=0") && r.stdout.contains(" ok"), "\(r.stdout)")
  }

  @Test(.enabled(if: Fixture.compiledWithSites, Comment(rawValue: releaseOnly)))
  func writeXorExecutePolicies() throws {
    // MDWE: mprotect to W+X is refused, /proc/self/mem still works.
    let mdwe = try Self.exercise(["--mdwe", "--toggles", "300"])
    #expect(mdwe.status == 0 && mdwe.stdout.contains("writer=/proc/self/mem") && mdwe.stdout.contains(" ok"), "\(mdwe.stdout)")
    // /proc/self/mem refused: the mprotect window takes over.
    let window = try Self.exercise(["--fault", "no-proc-mem", "--toggles", "200"])
    #expect(window.status == 0 && window.stdout.contains("writer=mprotect window") && window.stdout.contains("pages=r-xp "), "\(window.stdout)")
    // Both refused: a clear error, nothing toggled, every page still r-x.
    let none = try Self.exercise(["--mdwe", "--fault", "no-proc-mem"])
    #expect(none.status == 3, "\(none.stdout)\(none.stderr)")
    #expect(none.stdout.contains("refused: cannot write code in this process"), "\(none.stdout)")
    #expect(none.stdout.hasSuffix("site pages: r-xp\n"), "\(none.stdout)")
  }

  @Test(.enabled(if: Fixture.compiledWithSites, Comment(rawValue: releaseOnly)))
  func foreignSigtrapUsersKeepTheirTraps() throws {
    // The program's own handler, installed before ours and again after our
    // first batches (replacing ours), still gets its raise() and int3.
    let r = try Self.exercise(["--foreign-trap", "--toggles", "600"])
    #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
    #expect(r.stdout.contains("foreignHandled=2") && r.stdout.contains("violations=0") && r.stdout.contains(" ok"), "\(r.stdout)")
    // A stray int3 with no handler of the program's: it must die of
    // SIGTRAP, with and without Swift's crash handler, never continue.
    for env in [[:], ["SWIFT_BACKTRACE": "enable=no"]] {
      let stray = try Self.exercise(["--toggles", "10", "--stray-int3"], env: env)
      #expect(stray.signalled && stray.status == SIGTRAP, "\(env): \(stray.stdout)")
      #expect(!stray.stdout.contains("survived"))
    }
  }
}
