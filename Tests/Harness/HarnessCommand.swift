import ArgumentParser

/// `jumplabel-harness`: scenarios the tests run in child processes, each
/// provoking a hazard for real (a debugger, a SIGTRAP-blocking thread, W^X,
/// shared libraries, signal handlers that toggle). Test support only; not
/// part of the shipped tool.
@main
struct HarnessCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "jumplabel-harness",
    abstract: "Test scenarios for JumpLabel (run by the test suite).",
    subcommands: [ExerciseCommand.self, LibrariesCommand.self, SignalToggleCommand.self, ControlTargetCommand.self, KeysCommand.self, USDTTargetCommand.self, SelfLoopSignalCommand.self,
                  FakeControlServerCommand.self, ControlProbeCommand.self, DynDbgCommand.self])
}
