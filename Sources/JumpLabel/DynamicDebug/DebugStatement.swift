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
  static let separator: Character = "\u{1F}"

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

  /// The key's name: `dyndbg:<fileID>:<line>:<column>`, then the function,
  /// the level and the format, each after a U+001F (a character none of
  /// `#fileID`, `#function` or a number can hold; the format is last, so it
  /// may hold anything).
  public var keyName: String {
    "\(Self.keyPrefix)\(fileID):\(line):\(column)\(Self.separator)\(function)\(Self.separator)\(level)\(Self.separator)\(format)"
  }

  /// The statement a key name describes; nil if it is not a statement key.
  public init?(keyName name: String) {
    guard name.hasPrefix(Self.keyPrefix) else { return nil }
    let parts = name.dropFirst(Self.keyPrefix.count).split(separator: Self.separator, maxSplits: 3, omittingEmptySubsequences: false)
    guard parts.count == 4, let level = Int(parts[2]) else { return nil }
    // "<fileID>:<line>:<column>": the numbers are the last two fields.
    let location = parts[0].split(separator: ":", omittingEmptySubsequences: false)
    guard location.count >= 3, let line = Int(location[location.count - 2]), let column = Int(location[location.count - 1]) else {
      return nil
    }
    self.init(
      fileID: location.dropLast(2).joined(separator: ":"), line: line, column: column,
      function: String(parts[1]), format: String(parts[3]), level: level)
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
