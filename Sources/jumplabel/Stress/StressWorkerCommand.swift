import ArgumentParser
import CStressWorkload
import Foundation
import StressWorkload

/// `jumplabel stress-worker`: the workload, run in a child process by
/// `jumplabel stress` so that a crash is observed from outside.
struct StressWorkerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "stress-worker", abstract: "The stress workload (run by `jumplabel stress`).",
    shouldDisplay: false)

  @Option var duration: Double
  @Option var threads: Int
  @Option var sites: Int
  @Option var keys: Int
  @Flag var threadChurn = false
  @Flag var dlopenChurn = false
  @Option var patcher: PatcherKind = .textpoke
  @Flag var progress = false

  func run() throws {
    // Die with the supervisor: never outlive it.
    _ = jl_cli_die_with_parent()
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
    var workload = StressWorkload(
      duration: duration, threads: threads, sites: sites, keys: keys,
      threadChurn: threadChurn, patcher: patcher, progress: progress)
    if dlopenChurn { workload.dlopenLibrary = try FixtureLibrary.churn.requireBuilt() }
    let report = workload.run()
    let data = try JSONEncoder().encode(report)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
  }
}

extension PatcherKind: ExpressibleByArgument {}
