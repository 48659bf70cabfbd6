import Foundation
import Testing

/// swift-log on static keys, in a real process: `jumplabel-logging-harness`
/// bootstraps swift-log with a real StreamLogHandler (stdout) behind a
/// capture handler that prints each event it receives as a `CAP` line,
/// then runs live call sites (`logger.live.trace/debug/info` in the
/// optimised LoggingFixtures module, `logger.live.debug` in its own module)
/// and unchanged `logger.debug`/`logger.trace` calls, for each label.
/// Needs the package trait "Logging" (Scripts/test passes it).
@Suite struct LoggingTests {
  static var harness: String { StressCommandTests.builtExecutable("jumplabel-logging-harness") }

  /// True if the harness was built with the Logging trait. Without it the
  /// suite is skipped, unless every check is required (then it fails).
  static let built: Bool = {
    guard let r = try? spawn(harness, [], timeout: 60) else { return false }
    let without = r.stdout.contains("built without the Logging trait")
    if without && ProcessInfo.processInfo.environment["JUMPLABEL_REQUIRE_ALL_CHECKS"] == "1" { return true }
    return !without
  }()

  /// A `CAP` line: what the backend received.
  struct Event: Equatable, CustomStringConvertible {
    var level = "", label = "", source = "", file = "", line = "", function = "", message = "", metadata = ""
    init(_ l: String) {
      var rest = Substring(l.dropFirst(4))
      func take(_ key: String, until next: String?) -> String {
        guard rest.hasPrefix(key + "=") else { return "?" }
        rest = rest.dropFirst(key.count + 1)
        guard let next, let r = rest.range(of: " \(next)=") else { defer { rest = "" }; return String(rest) }
        defer { rest = rest[r.upperBound...]; rest = Substring(next + "=") + rest }
        return String(rest[..<r.lowerBound])
      }
      level = take("level", until: "label"); label = take("label", until: "source"); source = take("source", until: "file")
      file = take("file", until: "line"); line = take("line", until: "function"); function = take("function", until: "message")
      message = take("message", until: "metadata"); metadata = take("metadata", until: nil)
    }
    var description: String { "\(level) \(label) [\(source)] \(file):\(line) \(function) '\(message)' {\(metadata)}" }
  }

  struct Report {
    var changes: [String] = []
    var events: [Event] = []
    var stdout = "", stderr = ""
    func messages(label: String) -> [String] { events.filter { $0.label == label }.map(\.message) }
  }

  static func run(_ args: [String], env: [String: String] = [:]) throws -> Report {
    let r = try spawn(harness, args, env: env, timeout: 120)
    #expect(r.status == 0 && !r.timedOut, "\(args): \(r.status)\n\(r.stdout)\n\(r.stderr)")
    var rep = Report(stdout: r.stdout, stderr: r.stderr)
    for l in r.stdout.split(separator: "\n").map(String.init) {
      if l.hasPrefix("CAP ") { rep.events.append(Event(l)) }
      if l.hasPrefix("change") { rep.changes.append(l) }
    }
    return rep
  }

  static let fixtureMessages = ["trace 1", "debug 1", "info 1"]

  @Test(.enabled(if: built)) func defaultsInfoOnlyWithSourceLocationAndBackendUnchanged() throws {
    let r = try Self.run(["--list", "app"])
    #expect(r.messages(label: "app") == ["info 1"], "\(r.events)")
    let e = try #require(r.events.first)
    #expect(e.level == "info" && e.source == "custom-source" && e.file == "LoggingFixtures/LogCalls.swift" && e.line == "14"
            && e.function == "work(_:_:)", "\(e)")
    // The real StreamLogHandler printed it too.
    #expect(r.stdout.contains(" info app: [custom-source] info 1"), "\(r.stdout)")
    // The disabled call sites are NOPs; the info site a JMP (on).
    #expect(r.stdout.contains("LogCalls.swift:12 [LoggingFixtures]work(_:_:) =_ \"\" level=1 sites=1 nop=1"), "\(r.stdout)")
    #expect(r.stdout.contains("LogCalls.swift:13 [LoggingFixtures]work(_:_:) =_ \"\" level=2 sites=1 nop=1"))
    #expect(r.stdout.contains("LogCalls.swift:14 [LoggingFixtures]work(_:_:) =p \"\" level=3 sites=1 nop=0"))
  }

  /// A module's level switches exactly its call sites, in one batch, and
  /// its events carry level, label, metadata and source. Negative
  /// controls: the other module's call site stays off; raising the level
  /// switches them off again.
  @Test(.enabled(if: built)) func perModuleLevels() throws {
    let r = try Self.run(["--module", "LoggingFixtures=trace", "--list", "app"])
    #expect(r.changes == ["change --module LoggingFixtures=trace: on=2 off=0 batches=1"], "\(r.changes)")
    #expect(r.messages(label: "app") == Self.fixtureMessages, "\(r.events)")
    let debug = try #require(r.events.first { $0.message == "debug 1" })
    #expect(debug.level == "debug" && debug.metadata == "i=1" && debug.source == "LoggingFixtures" && debug.line == "13", "\(debug)")
    #expect(r.stdout.contains("LogCalls.swift:12 [LoggingFixtures]work(_:_:) =p \"\" level=1 sites=1 nop=0"))
    #expect(!r.messages(label: "app").contains("harness live debug"))
    let up = try Self.run(["--module", "LoggingFixtures=trace", "--module", "LoggingFixtures=warning", "app"])
    #expect(up.changes.last == "change --module LoggingFixtures=warning: on=0 off=3 batches=1", "\(up.changes)")
    #expect(up.messages(label: "app").isEmpty, "\(up.events)")
    let other = try Self.run(["--module", "jumplabel_logging_harness=debug", "app"])
    #expect(other.messages(label: "app") == ["info 1", "harness live debug"], "\(other.events)")
  }

  /// A label's level: its loggers print trace and debug at every live call
  /// site; other loggers keep their module's level. Negative control: the
  /// same run without the label level.
  @Test(.enabled(if: built)) func perLabelLevels() throws {
    let r = try Self.run(["--label", "db=trace", "app", "db"])
    #expect(r.messages(label: "db") == Self.fixtureMessages + ["harness live debug"], "\(r.events)")
    #expect(r.messages(label: "app") == ["info 1"], "\(r.events)")
    let control = try Self.run(["app", "db"])
    #expect(control.messages(label: "db") == ["info 1"])
    // At start-up too.
    let boot = try Self.run(["db"], env: ["JUMPLABEL_LOG": "label:db=debug"])
    #expect(boot.messages(label: "db") == ["debug 1", "info 1", "harness live debug"], "\(boot.events)")
  }

  /// The wrapper handler gives unchanged `logger.debug` calls a live level
  /// per label. Negative control: without the wrapper the label's level
  /// does not reach them.
  @Test(.enabled(if: built)) func wrapperHandlerForUnchangedCalls() throws {
    let r = try Self.run(["--wrapper", "--label", "db=debug", "app", "db"])
    #expect(r.messages(label: "db").contains("plain debug") && !r.messages(label: "db").contains("plain trace"), "\(r.events)")
    #expect(!r.messages(label: "app").contains("plain debug"))
    let plain = try #require(r.events.first { $0.message == "plain debug" })
    #expect(plain.level == "debug" && plain.file == "jumplabel_logging_harness/main.swift", "\(plain)")
    let control = try Self.run(["--label", "db=debug", "app", "db"])
    #expect(!control.messages(label: "db").contains("plain debug"), "\(control.events)")
  }

  /// A query reaches one logging call site; with the bridge, `debug(...)`
  /// statements go to swift-log (source its module, the thread as
  /// metadata); without it, to stderr with the decorations.
  @Test(.enabled(if: built)) func queriesAndTheDynamicDebugBridge() throws {
    let one = try Self.run(["--query", "module LoggingFixtures line 12 +p", "--label", "db=info", "app", "db"])
    #expect(one.messages(label: "app") == ["trace 1", "info 1"], "\(one.events)")
    #expect(one.messages(label: "db") == ["info 1"], "\(one.events)")
    let env = ["JUMPLABEL_DYNDBG": "file main.swift func jumplabel_logging_harness line 99 +pt"]
    let bridged = try Self.run(["--bridge", "app"], env: env)
    let e = try #require(bridged.events.first { $0.message == "bridged statement" }, "\(bridged.events)")
    #expect(e.level == "debug" && e.label == "dyndbg" && e.source == "jumplabel_logging_harness" && e.line == "99"
            && e.metadata.hasPrefix("thread="), "\(e)")
    #expect(!bridged.stderr.contains("bridged statement"))
    let unbridged = try Self.run(["app"], env: env)
    #expect(!unbridged.events.contains { $0.message == "bridged statement" })
    #expect(unbridged.stderr.split(separator: "\n").contains { $0.hasPrefix("[") && $0.hasSuffix("] bridged statement") }, "\(unbridged.stderr)")
  }
}
