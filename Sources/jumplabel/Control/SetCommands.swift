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

  @Flag(help: "Disable even what others hold on (trace clients, probes, a USDT tracer, code): their holds are dropped and a trace client is told.")
  var force = false

  @Flag(help: "Remember names that no loaded image declares (a plugin not loaded yet); without it they are refused, with the closest declared names.")
  var undeclared = false

  func run(enable: Bool) throws {
    let c = try target.connect()
    let (changes, cost) = try c.set(enable: enable, patterns: names, dryRun: dryRun, hold: hold, ttlMillis: ttl?.milliseconds ?? 0,
                                    force: force, undeclared: undeclared)
    // A tracepoint named where a key is expected: say so (it works: the
    // tracepoint's emit sites call its probes, if any, from now on).
    let tracepoints = Set(((try? c.list()) ?? []).filter(\.isTracepoint).map(\.name))
    let costJSON: [String: Any]? = cost.map {
      ["sitesPatched": Int($0.sitesPatched), "protocol": $0.patchProtocol, "syncs": Int($0.syncs), "nanoseconds": Int($0.nanoseconds)]
    }
    if json || isatty(1) == 0 {
      try printJSON(changes.map { ch in
        var d: [String: Any] = ["name": ch.name, "before": ch.before, "after": ch.after, "declared": ch.declared, "dryRun": dryRun,
                                "kind": tracepoints.contains(ch.name) ? "tracepoint" : "key"]
        if let costJSON { d["batch"] = costJSON }
        return d
      })
    } else {
      for ch in changes {
        let note = ch.declared ? "" : " (not declared by any loaded image yet: remembered)"
        print("\(safe(ch.name)): \(ch.before ? "on" : "off") -> \(ch.after ? "on" : "off")\(dryRun ? " (dry run)" : "")\(note)")
      }
      if let cost { print("batch: \(Self.describe(cost)) (measured in the process)") }
      if let ttl { print("reverts in \(ttl.milliseconds) ms") }
    }
    for name in changes.map(\.name) where tracepoints.contains(name) {
      warn("note: \(safe(name)) is a tracepoint: \(enable ? "enabling" : "disabling") it switches its emit sites; `jumplabel ctl trace` streams its events")
    }
    fflush(nil)
    guard hold && !dryRun else { return }
    warn("holding: the change reverts when this command exits (Ctrl-C)")
    // Wait for Ctrl-C / SIGTERM, or for the process to go away; closing
    // the connection (also when this command is killed) reverts.
    Interrupt.install()
    while !Interrupt.requested {
      do {
        if case let .error(_, message) = try c.receive(waitingAtMost: 200) ?? .list {
          warn("the process ended the lease: \(safe(message))")
          break
        }
      } catch {
        warn("the process closed the connection: \(error)")
        break
      }
    }
  }
}

extension SetOptions {
  /// "3 sites, int3, 3 syncs, 41.2 us".
  static func describe(_ c: Message.BatchCost) -> String {
    let us = Double(c.nanoseconds) / 1000
    return "\(c.sitesPatched) site\(c.sitesPatched == 1 ? "" : "s") patched, \(safe(c.patchProtocol)), \(c.syncs) sync\(c.syncs == 1 ? "" : "s"), "
      + (us < 100 ? String(format: "%.1f us", us) : String(format: "%.0f us", us))
  }
}

/// `jumplabel ctl forget --pid P NAME...`: drops remembered states of
/// names no loaded image declares (typos, plugins that will not come).
struct ForgetCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "forget", abstract: "Forget the remembered state of names that no loaded image declares.")
  @OptionGroup var target: TargetOptions
  @Argument(help: "Names remembered by `enable --undeclared` (exact names, no globs).")
  var names: [String]
  @Flag(help: "Print JSON.")
  var json = false

  func run() throws {
    let c = try target.connect()
    let dropped = try c.forget(names)
    if json || isatty(1) == 0 {
      try printJSON(dropped.map { ["name": $0, "forgotten": true] as [String: Any] })
    } else {
      for n in dropped { print("\(safe(n)): forgotten") }
      let kept = Set(names).subtracting(dropped).sorted()
      for n in kept { warn("\(safe(n)): was not remembered") }
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
