#if Logging
import JumpLabel
import Logging

/// A `LogHandler` that wraps another and gives its label a live level:
/// `jumplabel ctl log --pid P --label com.example.db trace` (or
/// `LiveLogLevels.set(rank:label:)`) changes it while the program runs,
/// for every existing `logger.debug(...)` call, with no code change.
///
/// Bootstrap it once:
///
/// ```swift
/// LoggingSystem.bootstrap { label in LiveLevelHandler(label: label, wrapping: StreamLogHandler.standardError(label: label)) }
/// ```
///
/// It cannot make swift-log's own check free: a disabled `logger.debug`
/// still reads `logLevel` through the handler existential (now one atomic
/// load more). ``Logging/Logger/live`` call sites are the NOP upgrade path
/// for hot code.
public struct LiveLevelHandler: LogHandler {
  /// The wrapped backend.
  public var wrapped: any LogHandler
  private let labelLevel: LiveLogLevels.LabelLevel

  /// Wraps `wrapped`; `label` is the logger's label.
  public init(label: String, wrapping wrapped: any LogHandler) {
    self.wrapped = wrapped
    labelLevel = LiveLogLevels.level(ofLabel: label)
  }

  /// The label's live level if one is set, else the wrapped handler's.
  /// Setting it sets the wrapped handler's (the label's live level, when
  /// set, still wins).
  public var logLevel: Logger.Level {
    get {
      let r = labelLevel.rank.load(ordering: .relaxed)
      return r > 0 ? LiveLevel.level(r) : wrapped.logLevel
    }
    set { wrapped.logLevel = newValue }
  }

  public func log(event: LogEvent) { wrapped.log(event: event) }

  public var metadata: Logger.Metadata {
    get { wrapped.metadata }
    set { wrapped.metadata = newValue }
  }

  public var metadataProvider: Logger.MetadataProvider? {
    get { wrapped.metadataProvider }
    set { wrapped.metadataProvider = newValue }
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { wrapped[metadataKey: key] }
    set { wrapped[metadataKey: key] = newValue }
  }
}

/// swift-log levels and JumpLabel's ranks (1 trace ... 7 critical, 8 none).
public enum LiveLevel {
  /// The rank of `level`.
  public static func rank(_ level: Logger.Level) -> Int {
    switch level {
    case .trace: return 1
    case .debug: return 2
    case .info: return 3
    case .notice: return 4
    case .warning: return 5
    case .error: return 6
    case .critical: return 7
    }
  }

  /// The level of a rank; 8 (none) and above read as `.critical`, the
  /// highest swift-log has.
  public static func level(_ rank: Int) -> Logger.Level {
    [.trace, .debug, .info, .notice, .warning, .error, .critical][max(0, min(rank, 7) - 1)]
  }
}

extension LiveLogLevels {
  /// Sets the live level of `module`'s call sites (nil: back to the
  /// default), in one batch.
  @discardableResult
  public static func set(_ level: Logger.Level?, module: String) throws(DynamicDebugError) -> DynamicDebug.Result {
    try set(rank: level.map(LiveLevel.rank), module: module)
  }

  /// Sets the live level of loggers labelled `label` (nil: unset).
  @discardableResult
  public static func set(_ level: Logger.Level?, label: String) throws(DynamicDebugError) -> DynamicDebug.Result {
    try set(rank: level.map(LiveLevel.rank), label: label)
  }
}

/// Sends enabled `debug(...)` statements to swift-log instead of stderr:
/// each becomes a `.debug` event of `logger`'s handler with the
/// statement's file, function and line, `source` its module, and the
/// decorations as metadata (`thread`, ...). Call once, after
/// `LoggingSystem.bootstrap`.
public enum DynamicDebugLogging {
  public static func bootstrap(_ logger: Logger = Logger(label: "dyndbg")) {
    DynamicDebug.setOutput { record in
      var metadata: Logger.Metadata = [:]
      if record.decorations.contains(.thread) { metadata["thread"] = "\(record.threadID)" }
      logger.handler.log(event: LogEvent(
        level: .debug, message: "\(record.message)", metadata: metadata.isEmpty ? nil : metadata,
        source: record.statement.module, file: record.statement.fileID, function: record.statement.function,
        line: UInt(record.statement.line)))
    }
  }
}
#endif
