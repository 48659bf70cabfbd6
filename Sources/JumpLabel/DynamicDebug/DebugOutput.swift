import CTextPoke
import Glibc
import Synchronization

/// An enabled statement, as an output receives it.
public struct DebugRecord: Sendable {
  /// The statement.
  public let statement: DebugStatement
  /// Its message, built because it is on.
  public let message: String
  /// The decorations the query asked for (never `.print`).
  public let decorations: DebugFlags
  /// The kernel thread id of the thread that ran the statement.
  public let threadID: Int

  public init(statement: DebugStatement, message: String, decorations: DebugFlags, threadID: Int) {
    self.statement = statement
    self.message = message
    self.decorations = decorations
    self.threadID = threadID
  }

  /// The line stderr gets: the decorations the query asked for, in the
  /// kernel's order (`[tid] module:function:file:line: `), then the message.
  public var decoratedLine: String {
    var prefix = ""
    if decorations.contains(.thread) { prefix += "[\(threadID)] " }
    var fields: [String] = []
    if decorations.contains(.module) { fields.append(statement.module) }
    if decorations.contains(.function) { fields.append(statement.function) }
    if decorations.contains(.source) { fields.append(statement.fileID) }
    if decorations.contains(.line) { fields.append(String(statement.line)) }
    if !fields.isEmpty { prefix += fields.joined(separator: ":") + ": " }
    return prefix + message
  }
}

/// Where enabled statements go.
public enum DynamicDebug {}

extension DynamicDebug {
  private static let output = Mutex<(@Sendable (DebugRecord) -> Void)?>(nil)

  /// Sends enabled statements to `sink` (nil: back to stderr). The logging
  /// bridge (JumpLabelLogging) sets one that hands them to swift-log.
  /// The sink runs on the thread of the statement, outside any lock of
  /// ours.
  public static func setOutput(_ sink: (@Sendable (DebugRecord) -> Void)?) {
    output.withLock { $0 = sink }
  }
}

enum DebugOutput {
  /// Prints an enabled statement's message, in the primary runtime copy:
  /// it keeps the decorations and the output, whichever image (each may
  /// link its own copy of this module) the statement is in.
  static func emit(keyName: String, message: String) {
    _ = ProcessRuntime.perform(.debugEmit(name: keyName, message: message))
  }

  /// The primary's part: decorations, then the output or stderr.
  static func emitHere(keyName: String, message: String) {
    guard let statement = DebugStatement(keyName: keyName) else { return }
    let record = DebugRecord(statement: statement, message: message, decorations: DebugFlagState.flags(of: keyName), threadID: tp_gettid())
    if let sink = DynamicDebug.outputSink() { return sink(record) }
    let line = record.decoratedLine + "\n"
    // One write, so that lines of concurrent statements do not interleave.
    var bytes = Array(line.utf8)
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + done, $0.count - done) }
      if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
      done += n
    }
  }
}

extension DynamicDebug {
  static func outputSink() -> (@Sendable (DebugRecord) -> Void)? { output.withLock { $0 } }
}
