import CJumpLabelSite

/// One debug statement (a `debug(...)` call site, or a logging call site of
/// JumpLabelLogging): where it is, and the key that switches it.
///
/// Every statement has a key of its own, named after the statement
/// (``keyName``), as each kernel `_ddebug` has its own static key. Copies of
/// one statement (an `@inlinable` function inlined into several callers)
/// are sites of that one key. The name carries every field a query
/// matches, so the statement table is the key list itself: nothing else has
/// to be kept per statement, in any runtime copy.
public struct DebugStatement: Sendable, Hashable, CustomStringConvertible {
  /// `#fileID`: "Module/File.swift".
  public let fileID: String
  /// `#line`.
  public let line: Int
  /// `#column`: two statements on one line are two statements.
  public let column: Int
  /// `#function`.
  public let function: String
  /// The static format: the `StaticString` given as the statement's
  /// format, or "" for a statement that has only an interpolated message
  /// (its text is built only when the statement is on, so it is not known
  /// before).
  public let format: String
  /// 0 for a `debug(...)` statement; 1 + a swift-log level (trace 1 ...
  /// critical 7) for a JumpLabelLogging call site.
  public let level: Int

  /// Prefix of every statement key's name.
  public static let keyPrefix = "dyndbg:"

  public init(fileID: String, line: Int, column: Int, function: String, format: String, level: Int) {
    self.fileID = fileID
    self.line = line
    self.column = column
    self.function = function
    self.format = format
    self.level = level
  }

  /// The module: the part of `#fileID` before its first "/".
  public var module: String {
    guard let slash = fileID.firstIndex(of: "/") else { return "" }
    return String(fileID[..<slash])
  }

  /// The file name: the part of `#fileID` after the module.
  public var fileName: String {
    guard let slash = fileID.firstIndex(of: "/") else { return fileID }
    return String(fileID[fileID.index(after: slash)...])
  }

  /// The key's name: `dyndbg:<fileID>:<line>:<column> <function> <level>
  /// <format>`, printable, and unambiguous because `#function` and a number
  /// hold no space and the format comes last (it may hold anything).
  public var keyName: String {
    "\(Self.keyPrefix)\(fileID):\(line):\(column) \(function) \(level) \(format)"
  }

  /// The statement a key name describes; nil if it is not a statement key.
  public init?(keyName name: String) {
    guard name.hasPrefix(Self.keyPrefix) else { return nil }
    let u = Array(name.utf8.dropFirst(Self.keyPrefix.utf8.count))
    // The location ends at the first ":<digits>:<digits> ".
    func digits(_ i: inout Int) -> Int? {
      var n = 0, any = false
      while i < u.count, u[i] >= 48, u[i] <= 57 { n = n &* 10 &+ Int(u[i] - 48); any = true; i += 1 }
      return any ? n : nil
    }
    var found: (end: Int, line: Int, column: Int, rest: Int)? = nil
    var i = 0
    while i < u.count && found == nil {
      if u[i] == UInt8(ascii: ":") {
        var j = i + 1
        if let line = digits(&j), j < u.count, u[j] == UInt8(ascii: ":") {
          j += 1
          if let column = digits(&j), j < u.count, u[j] == UInt8(ascii: " ") { found = (i, line, column, j + 1) }
        }
      }
      i += 1
    }
    guard let f = found else { return nil }
    let tail = u[f.rest...].split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
    guard tail.count == 3, let level = Int(String(decoding: tail[1], as: UTF8.self)) else { return nil }
    self.init(
      fileID: String(decoding: u[..<f.end], as: UTF8.self), line: f.line, column: f.column,
      function: String(decoding: tail[0], as: UTF8.self), format: String(decoding: tail[2], as: UTF8.self), level: level)
  }

  /// The key name of the statement whose `jl_debug_site` is at `descriptor`
  /// (an entry of an image's table with JL_FLAG_DEBUG).
  static func keyName(descriptor: UInt) -> String {
    func text(_ offsetField: Int, _ lengthField: Int) -> String {
      let field = descriptor + UInt(offsetField)
      guard let at = UnsafeRawPointer(bitPattern: field) else { return "" }
      let start = field &+ UInt(bitPattern: Int(at.loadUnaligned(as: Int64.self)))
      let length = Int(at.loadUnaligned(fromByteOffset: lengthField - offsetField, as: UInt32.self))
      guard length > 0, let p = UnsafePointer<UInt8>(bitPattern: start) else { return "" }
      return String(decoding: UnsafeBufferPointer(start: p, count: length), as: UTF8.self)
    }
    guard let d = UnsafePointer<jl_debug_site>(bitPattern: descriptor)?.pointee else { return keyPrefix }
    return DebugStatement(
      fileID: text(0, 8), line: Int(d.line), column: Int(d.column), function: text(16, 24),
      format: text(32, 40), level: Int(d.level)
    ).keyName
  }

  /// The key name of a statement from its literals (the fallback path of a
  /// site that could not be compiled as a NOP).
  static func keyName(file: StaticString, function: StaticString, format: StaticString, line: UInt, column: UInt, level: Int) -> String {
    DebugStatement(
      fileID: file.description, line: Int(line), column: Int(column), function: function.description,
      format: format.description, level: level
    ).keyName
  }

  /// `file:line [module]function`, as the control file shows it.
  public var description: String { "\(fileID):\(line) [\(module)]\(function)" }
}
