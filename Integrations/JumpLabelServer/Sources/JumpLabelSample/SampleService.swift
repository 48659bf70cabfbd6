import Configuration
import Glibc
import Hummingbird
import JumpLabelConfiguration
import JumpLabelControl
import JumpLabelLogging
import Logging
import SystemPackage

/// A Hummingbird service with JumpLabel: tracepoints per request, keys
/// guarding diagnostics, spans behind a key, and keys that follow a
/// reloading configuration file (a Kubernetes ConfigMap in a fleet).
///
///     CONFIG_FILE_PATH=config.json HTTP_PORT=8080 jumplabel-sample
///     jumplabel ctl list --pid $(pgrep jumplabel-sample)
@main
struct SampleService {
  static func main() async throws {
    // Static configuration: environment over defaults (`HTTP_PORT=0`
    // picks a free port, printed at start).
    let staticProviders: [any ConfigProvider] = [
      EnvironmentVariablesProvider(),
      InMemoryProvider(values: [
        "http.host": "127.0.0.1",
        "http.port": 8080,
        "config.file.path": "jumplabel-sample.json",
        "config.poll.interval.ms": 1000,
      ]),
    ]
    let initial = ConfigReader(providers: staticProviders)
    // Logs go to stderr; each label's level is live (`ctl log --label`,
    // `jumplabel.log.labels.<label>`), and enabled debug statements go
    // through swift-log too.
    LoggingSystem.bootstrap { label in
      LiveLevelHandler(label: label, wrapping: StreamLogHandler.standardError(label: label))
    }
    DynamicDebugLogging.bootstrap()
    let logger = Logger(label: "jumplabel-sample")

    // The dynamic part: a JSON file polled for changes. Its
    // `jumplabel.keys.*` values switch keys in every process that mounts it.
    let file = try await ReloadingFileProvider<JSONSnapshot>(
      filePath: FilePath(initial.string(forKey: "config.file.path", default: "jumplabel-sample.json")),
      pollInterval: .milliseconds(initial.int(forKey: "config.poll.interval.ms", default: 1000)))
    let config = ConfigReader(providers: [file] + staticProviders)

    // Live control for `jumplabel ctl` (a Unix socket, owner only).
    let socket = try JumpLabelControl.start()
    logger.info("control socket \(socket)")

    // Keys follow the file from now on; `ctl` changes win until undone.
    let bridge = ConfigKeyBridge()
    bridge.apply(config.snapshot())
    // Debug statements and log levels follow it too (`jumplabel.dyndbg`,
    // `jumplabel.log.*`); `ctl debug`/`ctl log` changes win while they last.
    let levels = ConfigLevelBridge(labels: ["jumplabel-sample", "jumplabel-sample.items"])
    levels.apply(config.snapshot())

    // Tracing: bootstrap your tracer here to receive the gated spans, e.g.
    // swift-otel: `let otel = try OTel.bootstrap()` and add `otel` to the
    // services below. Without one, switched-on spans go to the no-op tracer.

    let app = Application(
      router: buildRouter(),
      configuration: ApplicationConfiguration(reader: initial.scoped(to: "http")),
      services: [file, bridge.service(following: config), levels.service(following: config)],
      onServerRunning: { channel in
        print("listening on \(channel.localAddress?.description ?? "?")")
        fflush(nil)
      },
      logger: logger)
    try await app.runService()
  }
}
