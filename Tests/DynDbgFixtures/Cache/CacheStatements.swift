import JumpLabel

// Debug statements of the tests' first module (the tests know these lines:
// keep them where they are, or update DynamicDebugTests.expectedStatements).

/// A cache whose work is described by debug statements.
public enum DynDbgCache {
  /// Three statements: two interpolated, one with a static format.
  @inline(never)
  public static func lookup(_ key: Int) -> Int {
    debug("cache miss for \(key)")
    debug("cache evict", "key=\(key)")
    if key < 0 { debug("negative key \(key)") }
    return key &* 2
  }

  /// One statement.
  @inline(never)
  public static func store(_ key: Int) {
    debug("store \(key)")
  }
}
