import ArgumentParser

/// The `jumplabel` command-line tool.
@main
struct JumpLabelCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "jumplabel",
    abstract: "Static keys for Swift: live code patching with the int3 + core-sync protocol.",
    subcommands: [CtlCommand.self, StressCommand.self, StressWorkerCommand.self, BenchCommand.self])
}
