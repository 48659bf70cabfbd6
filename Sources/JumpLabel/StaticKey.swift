import CJumpLabel

/// A static key: a boolean whose branch sites are patched into the code.
///
/// Declare keys as computed static properties so that every use sees the
/// literal name, which is what lets the compiler emit a real NOP site:
///
/// ```swift
/// extension StaticKey {
///     @inlinable static var verbose: StaticKey { StaticKey("app.verbose") }
/// }
/// if StaticKey.verbose.isEnabled { expensiveDiagnostics() }
/// try StaticKey.verbose.enable()
/// ```
///
/// Identity is the name: two `StaticKey` values with the same name are the
/// same key, in every image of the process. Declaring one name with two
/// different defaults is an error, reported when the tables are read.
public struct StaticKey: Sendable, Hashable, CustomStringConvertible {
  /// The key's name. Names are global to the process.
  public let name: StaticString
  /// The state the key has before anybody changes it; also the default
  /// branch layout of ``isEnabled``.
  public let defaultValue: Bool

  /// Declares a key. The name must be a literal (`_const`), so that sites
  /// can record it at compile time.
  @inlinable @inline(__always)
  public init(_ name: _const StaticString, default defaultValue: _const Bool = false) {
    self.name = name
    self.defaultValue = defaultValue
  }

  /// Declares a key whose name is a literal somewhere up the inlined call
  /// chain rather than here: for wrappers such as `Tracepoint`, whose own
  /// initialiser takes the literal and which are always inlined, so that
  /// the site still sees a constant. A non-literal name here works but
  /// makes every site a fallback read (counted and reported).
  ///
  /// Public only so that code inlined into other modules can reach it;
  /// not API: do not call it, it may change in any release.
  @inlinable @inline(__always)
  public init(_literalFromWrapper name: StaticString, default defaultValue: Bool = false) {
    self.name = name
    self.defaultValue = defaultValue
  }

  /// The name as a `String`.
  public var nameString: String { name.description }

  public var description: String { nameString }

  public static func == (a: StaticKey, b: StaticKey) -> Bool { a.nameString == b.nameString }

  public func hash(into hasher: inout Hasher) { hasher.combine(nameString) }
}
