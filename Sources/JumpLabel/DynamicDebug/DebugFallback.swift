import Synchronization
import TextPoke

/// The switches of statements read without a NOP site (unoptimised code),
/// by their literals. Records are never freed, so a cached one stays valid.
enum DebugFallback {
  /// A statement by the addresses of its literals and its position: no
  /// string is built after its first read.
  struct Literals: Hashable {
    let file: UInt, function: UInt, format: UInt
    let line: UInt, column: UInt, level: Int
  }

  private static let records = Mutex<[Literals: KeyRecord]>([:])

  static func isEnabled(
    _ file: StaticString, _ function: StaticString, _ format: StaticString, _ line: UInt, _ column: UInt, level: Int
  ) -> Bool {
    func address(_ s: StaticString) -> UInt { s.hasPointerRepresentation ? UInt(bitPattern: s.utf8Start) : 0 }
    let id = Literals(file: address(file), function: address(function), format: address(format), line: line, column: column, level: level)
    if let r = records.withLock({ $0[id] }) { return r.state }
    // First read of this statement. Like a key's fallback: never on a
    // thread that interrupted the runtime (it answers "off").
    guard ThreadMarks.enter(ThreadMarks.client) else { return false }
    defer { ThreadMarks.leave(ThreadMarks.client) }
    let name = DebugStatement.keyName(file: file, function: function, format: format, line: line, column: column, level: level)
    guard ProcessRuntime.isPrimary else {
      // Another runtime copy keeps the keys: ask it each time (slow, but
      // only unoptimised code in a secondary image comes here).
      guard case let .infos(v) = ProcessRuntime.performMarked(.info(name)), let info = v.first else { return false }
      return info.state
    }
    let (record, registered) = KeyRegistry.shared.recordForFallback(name: name, defaultValue: level >= 3, origin: "a debug statement's read")
    if registered { records.withLock { $0[id] = record } }
    return record.state
  }
}
