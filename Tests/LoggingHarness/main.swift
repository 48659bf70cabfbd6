// `jumplabel-logging-harness`: swift-log on static keys, for the tests.
//
//   jumplabel-logging-harness [--module M=LEVEL]... [--label L=LEVEL]...
//       [--query DYNDBG]... [--list] [--wrapper] [--bridge] LABEL...
//
// Bootstraps swift-log with a StreamLogHandler on stdout and a capture
// handler that prints every event it gets as one `CAP ...` line (level,
// label, source, file, line, function, message, metadata); with
// `--wrapper`, both behind LiveLevelHandler. Applies the level changes and
// queries in order (one `change ...` line each, with the patch batches;
// `--list` prints the statements then: `stmt <control line> level=L
// sites=N nop=K`),
// then for each LABEL runs the fixture's live call sites (LoggingFixtures,
// optimised), one live call site here (this module), and one unchanged
// `logger.debug`, and at the end one `debug(...)` statement, which goes to
// swift-log with `--bridge` and to stderr without.
#if Logging
import JumpLabel
import JumpLabelLogging
import Logging
import LoggingFixtures
import TextPoke

/// Prints every event it gets as a `CAP` line, then hands it to a real
/// StreamLogHandler (without a level check of its own: the live level
/// decided; MultiplexLogHandler would check each handler's level again).
struct CaptureHandler: LogHandler {
  let label: String
  var stream: StreamLogHandler
  var logLevel: Logger.Level = .info
  var metadata: Logger.Metadata = [:]
  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }
  func log(event: LogEvent) {
    let md = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    stream.log(event: event)
    print("CAP level=\(event.level) label=\(label) source=\(event.source) file=\(event.file) line=\(event.line) function=\(event.function) message=\(event.message) metadata=\(md)")
  }
}

var args = Array(CommandLine.arguments.dropFirst())
var labels: [String] = []
var steps: [(String, String)] = []
var wrapper = false, bridge = false
while !args.isEmpty {
  let a = args.removeFirst()
  switch a {
  case "--module", "--label", "--query": steps.append((a, args.isEmpty ? "" : args.removeFirst()))
  case "--list": steps.append((a, ""))
  case "--wrapper": wrapper = true
  case "--bridge": bridge = true
  default: labels.append(a)
  }
}

let useWrapper = wrapper
LoggingSystem.bootstrap { label in
  let backend = CaptureHandler(label: label, stream: StreamLogHandler.standardOutput(label: label))
  return useWrapper ? LiveLevelHandler(label: label, wrapping: backend) : backend
}
if bridge { DynamicDebugLogging.bootstrap(Logger(label: "dyndbg")) }

for (kind, value) in steps {
  if kind == "--list" {
    for e in DynamicDebug.statements() {
      let sites = (try? StaticKeys.sites(named: e.keyName)) ?? []
      let nop = sites.filter { $0.currentBytes == StaticKeySite.nop5 }.count
      print("stmt \(e) level=\(e.statement.level) sites=\(sites.count) nop=\(nop)")
    }
    continue
  }
  let before = TextPoke.statistics
  do {
    let r: DynamicDebug.Result
    if kind == "--query" {
      r = try DynamicDebug.apply(value)
    } else {
      let kv = value.split(separator: "=", maxSplits: 1).map(String.init)
      guard kv.count == 2, let rank = LiveLogLevels.rank(kv[1]) else { print("change-error bad \(value)"); continue }
      r = kind == "--module" ? try LiveLogLevels.set(rank: rank, module: kv[0]) : try LiveLogLevels.set(rank: rank, label: kv[0])
    }
    let after = TextPoke.statistics
    print("change \(kind) \(value): on=\(r.enabled) off=\(r.disabled) batches=\(after.batches - before.batches)")
  } catch {
    print("change-error \(error)")
  }
}

for label in labels {
  var logger = Logger(label: label)
  logger.logLevel = .info
  LogFixture.work(logger, 1)
  logger.live.debug("harness live debug")
  logger.debug("plain debug")
  logger.trace("plain trace")
}
debug("bridged statement")
#else
print("built without the Logging trait")
#endif
