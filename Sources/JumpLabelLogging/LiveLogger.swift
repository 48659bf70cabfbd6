#if Logging
import JumpLabel
import Logging

extension Logger {
  /// This logger's NOP call sites: `logger.live.debug("cache miss")` is one
  /// 5-byte NOP while `debug` is off for its module, and the message,
  /// metadata and source are built only when it is on. Levels are live
  /// (``LiveLogLevels``, `jumplabel ctl log`), per module and per label;
  /// each call site is also a dynamic-debug statement of its own.
  @inlinable @inline(__always)
  public var live: LiveLogger { LiveLogger(self) }
}

/// A `Logger`'s NOP call sites (see ``Logging/Logger/live``). The enabled
/// path hands the event to the logger's own handler, so every backend
/// works unchanged; the live level, not the handler's `logLevel`, decides.
public struct LiveLogger {
  /// The logger whose handler receives the enabled statements.
  public let logger: Logger

  @inlinable @inline(__always)
  public init(_ logger: Logger) { self.logger = logger }

  /// `trace`: a NOP while trace is off for this module.
  @inlinable @inline(__always)
  public func trace(
    _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
    source: @autoclosure () -> String? = nil,
    file: StaticString = #fileID, function: StaticString = #function, line: UInt = #line, column: UInt = #column
  ) {
    if _debugStatementIsEnabled(file, function, "", line, column, level: 1) {
      _liveLog(logger, .trace, message(), metadata(), source(), file, function, line, column)
    }
  }

  /// `debug`: a NOP while debug is off for this module.
  @inlinable @inline(__always)
  public func debug(
    _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
    source: @autoclosure () -> String? = nil,
    file: StaticString = #fileID, function: StaticString = #function, line: UInt = #line, column: UInt = #column
  ) {
    if _debugStatementIsEnabled(file, function, "", line, column, level: 2) {
      _liveLog(logger, .debug, message(), metadata(), source(), file, function, line, column)
    }
  }

  /// `info`: a NOP while info is off for this module (on by default).
  @inlinable @inline(__always)
  public func info(
    _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
    source: @autoclosure () -> String? = nil,
    file: StaticString = #fileID, function: StaticString = #function, line: UInt = #line, column: UInt = #column
  ) {
    if _debugStatementIsEnabled(file, function, "", line, column, level: 3) {
      _liveLog(logger, .info, message(), metadata(), source(), file, function, line, column)
    }
  }

  /// `notice`.
  @inlinable @inline(__always)
  public func notice(
    _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
    source: @autoclosure () -> String? = nil,
    file: StaticString = #fileID, function: StaticString = #function, line: UInt = #line, column: UInt = #column
  ) {
    if _debugStatementIsEnabled(file, function, "", line, column, level: 4) {
      _liveLog(logger, .notice, message(), metadata(), source(), file, function, line, column)
    }
  }

  /// `warning`.
  @inlinable @inline(__always)
  public func warning(
    _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
    source: @autoclosure () -> String? = nil,
    file: StaticString = #fileID, function: StaticString = #function, line: UInt = #line, column: UInt = #column
  ) {
    if _debugStatementIsEnabled(file, function, "", line, column, level: 5) {
      _liveLog(logger, .warning, message(), metadata(), source(), file, function, line, column)
    }
  }

  /// `error`.
  @inlinable @inline(__always)
  public func error(
    _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
    source: @autoclosure () -> String? = nil,
    file: StaticString = #fileID, function: StaticString = #function, line: UInt = #line, column: UInt = #column
  ) {
    if _debugStatementIsEnabled(file, function, "", line, column, level: 6) {
      _liveLog(logger, .error, message(), metadata(), source(), file, function, line, column)
    }
  }

  /// `critical`.
  @inlinable @inline(__always)
  public func critical(
    _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
    source: @autoclosure () -> String? = nil,
    file: StaticString = #fileID, function: StaticString = #function, line: UInt = #line, column: UInt = #column
  ) {
    if _debugStatementIsEnabled(file, function, "", line, column, level: 7) {
      _liveLog(logger, .critical, message(), metadata(), source(), file, function, line, column)
    }
  }
}

/// The enabled path of a live call site: a label with a live level of its
/// own filters here (the site is per module); then the logger's handler
/// gets the event with the call site's source location. `source` defaults
/// to the module, as swift-log's does.
@inline(never)
public func _liveLog(
  _ logger: Logger, _ level: Logger.Level, _ message: Logger.Message, _ metadata: Logger.Metadata?, _ source: String?,
  _ file: StaticString, _ function: StaticString, _ line: UInt, _ column: UInt
) {
  let labelRank = LiveLogLevels.level(ofLabel: logger.label).rank.load(ordering: .relaxed)
  guard LiveLogLevels._prints(
    rank: LiveLevel.rank(level), labelRank: labelRank, file: file, function: function, line: line, column: column)
  else { return }
  let fileID = file.description
  let module = fileID.split(separator: "/", maxSplits: 1).first.map(String.init) ?? fileID
  logger.handler.log(event: LogEvent(
    level: level, message: message, metadata: metadata, source: source ?? module, file: fileID,
    function: function.description, line: line))
}
#endif
