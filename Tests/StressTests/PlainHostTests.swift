import Foundation
import JumpLabelFixtures
import Testing

/// A library that links JumpLabel alone (the DynDbgPlugin fixture: no
/// JumpLabelControl, no Tracepoints) loaded into a program without
/// JumpLabel (python3, through ctypes): its runtime copy is the primary
/// one, and its load hook calls the control and USDT hooks only where
/// they are linked. Their weak references must be null here: a weak
/// *hidden* reference left undefined in a shared object is the image's
/// base with GNU ld and gold (swift's default linker on Linux), and the
/// load crashed in the ELF header (runtime.c).
///
/// No runtime switch can bring that linker-level bug back, so this test has
/// no negative control in the suite: it was run by hand against the old
/// runtime.c, where python3 died of SIGSEGV inside `dlopen`.
@Suite struct PlainHostTests {
  static let script = """
    import ctypes, sys
    lib = ctypes.CDLL(sys.argv[1])
    print("loaded", flush=True)
    run = lib.jl_test_dyndbg_plugin_run
    run.argtypes = [ctypes.c_long]
    run(5)
    print("ran", flush=True)
    """

  static func load(env: [String: String] = [:]) throws -> ChildRun {
    let python = TestRequirements.path(of: "python3") ?? "/usr/bin/python3"
    let lib = StressCommandTests.builtExecutable("libJumpLabelTestDynDbgPlugin.so")
    return try spawn(python, ["-c", script, lib], env: env.merging(["SWIFT_BACKTRACE": "enable=no"]) { a, _ in a }, timeout: 120)
  }

  /// It loads, and its statement runs: silent while off, printed once
  /// `JUMPLABEL_DYNDBG` (applied by the library's own runtime copy at its
  /// load) switches it on.
  @Test(.enabled(if: TestRequirements.shouldRun(needing: "python3"),
                 Comment(rawValue: TestRequirements.missing("python3", for: "a JumpLabel library loaded into a program without JumpLabel"))))
  func aLibraryWithJumpLabelAloneLoadsIntoAProgramWithoutIt() throws {
    let off = try Self.load()
    #expect(off.status == 0 && !off.signalled && !off.timedOut, "status \(off.status) signalled \(off.signalled)\n\(off.stdout)\(off.stderr)")
    #expect(off.stdout == "loaded\nran\n", "\(off.stdout)")
    #expect(!off.stderr.contains("plugin run"), "\(off.stderr)")
    let on = try Self.load(env: ["JUMPLABEL_DYNDBG": "module DynDbgPlugin +p"])
    #expect(on.status == 0 && !on.signalled && !on.timedOut, "status \(on.status) signalled \(on.signalled)\n\(on.stdout)\(on.stderr)")
    #expect(on.stdout == "loaded\nran\n", "\(on.stdout)")
    #expect(on.stderr.contains("plugin run 5"), "\(on.stderr)")
  }
}
