// Subjects of dynamic debug and JumpLabelLogging (#19), next to swift-log's
// own calls: disabled call sites, and the enabled path to one handler.
import JumpLabel
import JumpLabelLogging
import Logging
import Synchronization

/// Counts the events it gets and does nothing else: the enabled paths are
/// compared up to the handler, not the handler's own work.
public struct CountingHandler: LogHandler {
  public static let events = Atomic<Int>(0)
  public var logLevel: Logger.Level = .info
  public var metadata: Logger.Metadata = [:]
  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }
  public func log(event: LogEvent) { Self.events.add(1, ordering: .relaxed) }
}

/// A logger at `.info` whose handler is a ``CountingHandler`` (not
/// bootstrapped: swift-log's global bootstrap stays as it is).
public let countingLogger = Logger(label: "jumplabel.benchmarks.counting") { _ in CountingHandler() }

/// 11. A `debug(...)` statement that is off: one NOP.
@inline(never)
public func disabledDebugStatement() {
  debug("per-call debug message \(plainCounter)")
}

/// 12. `logger.live.debug` below its live level (info): one NOP.
@inline(never)
public func liveDebugDisabled(_ logger: Logger) {
  logger.live.debug("per-call debug message")
}

/// 13. swift-log's `debug` below the logger's level (`.info`). With
/// swift-log's trait MaxLogLevelInfo it is compiled out.
@inline(never)
public func swiftLogDebug(_ logger: Logger) {
  logger.debug("per-call debug message")
}

/// 14. swift-log's `info`, enabled, to ``CountingHandler``.
@inline(never)
public func swiftLogInfoEnabled(_ logger: Logger) {
  logger.info("per-call info message")
}

/// 15. `logger.live.info`, enabled (info is on by default), to the same
/// handler.
@inline(never)
public func liveInfoEnabled(_ logger: Logger) {
  logger.live.info("per-call info message")
}

/// A value the debug message interpolates (never changes).
nonisolated(unsafe) public var plainCounter = 0
