import CJumpLabelSite

/// A debug statement: one NOP while off; when an operator switches it on
/// (`jumplabel ctl debug --pid P 'file Cache.swift line 40-80 +p'`, or
/// `JUMPLABEL_DYNDBG` at start-up), the message is built and printed.
///
/// Each call site is a statement of its own with its own switch, described
/// in the image's table by `#fileID`, `#function`, `#line` and `#column`
/// (see ``DebugStatement``). The message is not built while it is off.
/// Enabled statements go to the output set with
/// ``DynamicDebug/setOutput(_:)`` (JumpLabelLogging's bridge sets one), else
/// to stderr with the decorations the query asked for.
///
/// In unoptimised code there is no NOP: the statement reads its switch, and
/// is listed from its first execution on.
@inlinable @inline(__always)
public func debug(
  _ message: @autoclosure () -> String,
  file: StaticString = #fileID, function: StaticString = #function, line: UInt = #line, column: UInt = #column
) {
  if _debugStatementIsEnabled(file, function, "", line, column, level: 0) {
    _debugStatementEmit(message(), file, function, "", line, column)
  }
}

/// A debug statement with a static format, which `format` queries match
/// (`'format "cache miss" +p'`): prints the format, a space and `details`.
/// The details are built only while the statement is on.
@inlinable @inline(__always)
public func debug(
  _ format: StaticString, _ details: @autoclosure () -> String,
  file: StaticString = #fileID, function: StaticString = #function, line: UInt = #line, column: UInt = #column
) {
  if _debugStatementIsEnabled(file, function, format, line, column, level: 0) {
    _debugStatementEmit("\(format) \(details())", file, function, format, line, column)
  }
}

/// The site of a statement: a NOP (false) or a JMP (true) in optimised
/// code where every argument is a literal; a read of its key otherwise.
/// For wrappers that are themselves always inlined (JumpLabelLogging).
/// `level` 0 is a debug statement (off by default); 1-7 a swift-log level
/// (trace ... critical), on by default from 3 (info), swift-log's default.
@inlinable @inline(__always)
public func _debugStatementIsEnabled(
  _ file: StaticString, _ function: StaticString, _ format: StaticString, _ line: UInt, _ column: UInt, level: Int
) -> Bool {
  if file.hasPointerRepresentation && function.hasPointerRepresentation && format.hasPointerRepresentation {
    let r = __dtrace_jumplabel_debug_site(
      UnsafeRawPointer(file.utf8Start), file.utf8CodeUnitCount, UnsafeRawPointer(function.utf8Start),
      function.utf8CodeUnitCount, UnsafeRawPointer(format.utf8Start), format.utf8CodeUnitCount,
      Int(truncatingIfNeeded: line), Int(truncatingIfNeeded: column), level, level >= 3 ? 1 : 0)
    if r == JL_SITE_TRUE { return true }
    if r == JL_SITE_FALSE { return false }
  }
  return _debugStatementFallback(file, function, format, line, column, level: level)
}

/// The slow path of a statement that is not a NOP site (unoptimised code):
/// reads its key. The first read of a statement registers its key (so it
/// is listed, and `JUMPLABEL_DYNDBG` applies to it); later reads take a
/// lock and a dictionary lookup, no allocation.
@inline(never)
public func _debugStatementFallback(
  _ file: StaticString, _ function: StaticString, _ format: StaticString, _ line: UInt, _ column: UInt, level: Int
) -> Bool {
  DebugFallback.isEnabled(file, function, format, line, column, level: level)
}

/// The enabled path of a `debug(...)` statement: hands the message to the
/// output with the statement's decorations.
@inline(never)
public func _debugStatementEmit(
  _ message: String, _ file: StaticString, _ function: StaticString, _ format: StaticString, _ line: UInt, _ column: UInt
) {
  let name = DebugStatement.keyName(file: file, function: function, format: format, line: line, column: column, level: 0)
  DebugOutput.emit(keyName: name, message: message)
}
