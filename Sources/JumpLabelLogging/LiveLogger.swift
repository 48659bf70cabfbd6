#if Logging
import JumpLabel
import Logging

extension Logger {
  /// This logger's NOP call sites: `logger.live.debug("cache miss")` is one
  /// 5-byte NOP while `debug` is off for its module, and the message,
  /// metadata and source are built only when it is on. Levels are live
  /// (`LiveLogLevels`, `jumplabel ctl log`), per module and per label;
  /// each call site is also a dynamic-debug statement of its own.
  @inlinable @inline(__always)
  public var live: LiveLogger { LiveLogger(self) }
}

/// A `Logger`'s NOP call sites (see ``Logging/Logger/live``). The enabled
/// path hands the event to the logger's own handler, so every backend
/// works unchanged; the live level, not the handler's `logLevel`, decides.
///
/// `file`, `function` and `line` are what the event reports, as in
/// swift-log. `siteFile`, `siteFunction` and `siteColumn` identify the call
/// site in the statement table (with `line`): leave them to their defaults,
/// so that they are literals where the call is.
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
    file: String = #fileID, function: String = #function, line: UInt = #line,
    siteFile: StaticString = #fileID, siteFunction: StaticString = #function, siteColumn: UInt = #column
  ) {
    if _debugStatementIsEnabled(siteFile, siteFunction, "", line, siteColumn, level: 1) {
      _liveLog(logger, .trace, message(), metadata(), source(), file, function, line, siteFile, siteFunction, siteColumn)
    }
  }

  /// `debug`: a NOP while debug is off for this module.
  @inlinable @inline(__always)
  public func debug(
    _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
    source: @autoclosure () -> String? = nil,
    file: String = #fileID, function: String = #function, line: UInt = #line,
    siteFile: StaticString = #fileID, siteFunction: StaticString = #function, siteColumn: UInt = #column
  ) {
    if _debugStatementIsEnabled(siteFile, siteFunction, "", line, siteColumn, level: 2) {
      _liveLog(logger, .debug, message(), metadata(), source(), file, function, line, siteFile, siteFunction, siteColumn)
    }
  }

  /// `info`: a NOP while info is off for this module (on by default).
  @inlinable @inline(__always)
  public func info(
    _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
    source: @autoclosure () -> String? = nil,
    file: String = #fileID, function: String = #function, line: UInt = #line,
    siteFile: StaticString = #fileID, siteFunction: StaticString = #function, siteColumn: UInt = #column
  ) {
    if _debugStatementIsEnabled(siteFile, siteFunction, "", line, siteColumn, level: 3) {
      _liveLog(logger, .info, message(), metadata(), source(), file, function, line, siteFile, siteFunction, siteColumn)
    }
  }

  /// `notice`.
  @inlinable @inline(__always)
  public func notice(
    _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
    source: @autoclosure () -> String? = nil,
    file: String = #fileID, function: String = #function, line: UInt = #line,
    siteFile: StaticString = #fileID, siteFunction: StaticString = #function, siteColumn: UInt = #column
  ) {
    if _debugStatementIsEnabled(siteFile, siteFunction, "", line, siteColumn, level: 4) {
      _liveLog(logger, .notice, message(), metadata(), source(), file, function, line, siteFile, siteFunction, siteColumn)
    }
  }

  /// `warning`.
  @inlinable @inline(__always)
  public func warning(
    _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
    source: @autoclosure () -> String? = nil,
    file: String = #fileID, function: String = #function, line: UInt = #line,
    siteFile: StaticString = #fileID, siteFunction: StaticString = #function, siteColumn: UInt = #column
  ) {
    if _debugStatementIsEnabled(siteFile, siteFunction, "", line, siteColumn, level: 5) {
      _liveLog(logger, .warning, message(), metadata(), source(), file, function, line, siteFile, siteFunction, siteColumn)
    }
  }

  /// `error`.
  @inlinable @inline(__always)
  public func error(
    _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
    source: @autoclosure () -> String? = nil,
    file: String = #fileID, function: String = #function, line: UInt = #line,
    siteFile: StaticString = #fileID, siteFunction: StaticString = #function, siteColumn: UInt = #column
  ) {
    if _debugStatementIsEnabled(siteFile, siteFunction, "", line, siteColumn, level: 6) {
      _liveLog(logger, .error, message(), metadata(), source(), file, function, line, siteFile, siteFunction, siteColumn)
    }
  }

  /// `critical`.
  @inlinable @inline(__always)
  public func critical(
    _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
    source: @autoclosure () -> String? = nil,
    file: String = #fileID, function: String = #function, line: UInt = #line,
    siteFile: StaticString = #fileID, siteFunction: StaticString = #function, siteColumn: UInt = #column
  ) {
    if _debugStatementIsEnabled(siteFile, siteFunction, "", line, siteColumn, level: 7) {
      _liveLog(logger, .critical, message(), metadata(), source(), file, function, line, siteFile, siteFunction, siteColumn)
    }
  }
}

/// The enabled path of a live call site: a label with a live level of its
/// own filters here (the site is per module; nothing to check while no
/// label has a level); then the logger's handler gets the event with the
/// call site's source location. `source` left nil is the module, computed
/// by swift-log only if the handler reads it.
@inline(never)
public func _liveLog(
  _ logger: Logger, _ level: Logger.Level, _ message: Logger.Message, _ metadata: Logger.Metadata?, _ source: String?,
  _ file: String, _ function: String, _ line: UInt, _ siteFile: StaticString, _ siteFunction: StaticString, _ siteColumn: UInt
) {
  if LiveLogLevels._labelsHaveLevels {
    let labelRank = LiveLogLevels.level(ofLabel: logger.label).rank.load(ordering: .relaxed)
    guard LiveLogLevels._prints(
      rank: LiveLevel.rank(level), labelRank: labelRank, file: siteFile, function: siteFunction, line: line, column: siteColumn)
    else { return }
  }
  logger.handler.log(event: LogEvent(
    level: level, message: message, metadata: metadata, source: source, file: file, function: function, line: line))
}
#endif
