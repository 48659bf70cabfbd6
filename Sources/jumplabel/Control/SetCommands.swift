import ArgumentParser
import Foundation
import JumpLabelControl

/// What `enable` and `disable` share.
struct SetOptions: ParsableArguments {
  @OptionGroup var target: TargetOptions

  @Argument(help: "Key or tracepoint names; shell globs (quote them) match every known name.")
  var names: [String]

  @Flag(help: "Show what would change; change nothing.")
  var dryRun = false

  @Option(help: "Revert the change after this long (30s, 500ms, 2m).")
  var ttl: DurationArgument?

  @Flag(help: "Revert the change when this command exits (Ctrl-C, or killed).")
  var hold = false

  @Flag(help: "Print JSON.")
  var json = false

  func run(enable: Bool) throws {
    let c = try target.connect()
    let changes = try c.set(enable: enable, patterns: names, dryRun: dryRun, hold: hold, ttlMillis: ttl?.milliseconds ?? 0)
    if json || isatty(1) == 0 {
      try printJSON(changes.map { ["name": $0.name, "before": $0.before, "after": $0.after, "declared": $0.declared, "dryRun": dryRun] as [String: Any] })
    } else {
      for ch in changes {
        let note = ch.declared ? "" : " (not declared by any loaded image yet: remembered)"
        print("\(safe(ch.name)): \(ch.before ? "on" : "off") -> \(ch.after ? "on" : "off")\(dryRun ? " (dry run)" : "")\(note)")
      }
      if let ttl { print("reverts in \(ttl.milliseconds) ms") }
    }
    fflush(nil)
    guard hold && !dryRun else { return }
    warn("holding: the change reverts when this command exits (Ctrl-C)")
    // Wait for Ctrl-C / SIGTERM, or for the process to go away; closing
    // the connection (also when this command is killed) reverts.
    Interrupt.install()
    while !Interrupt.requested {
      do {
        if case .error = try c.receive(waitingAtMost: 200) ?? .list { break }
      } catch {
        warn("the process closed the connection: \(error)")
        break
      }
    }
  }
}

struct EnableCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "enable", abstract: "Enable keys or tracepoints of a process, in one batch.")
  @OptionGroup var options: SetOptions
  func run() throws { try options.run(enable: true) }
}

struct DisableCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "disable", abstract: "Disable keys or tracepoints of a process, in one batch.")
  @OptionGroup var options: SetOptions
  func run() throws { try options.run(enable: false) }
}

/// SIGINT / SIGTERM set a flag that the command's loop polls.
enum Interrupt {
  nonisolated(unsafe) static var flag: sig_atomic_t = 0
  static var requested: Bool { flag != 0 }
  static func install() {
    signal(SIGINT) { _ in Interrupt.flag = 1 }
    signal(SIGTERM) { _ in Interrupt.flag = 1 }
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
  }
}
