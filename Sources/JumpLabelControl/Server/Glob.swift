import Glibc

/// Names matching control patterns: shell globs (fnmatch(3): `*`, `?`,
/// `[...]`), or exact names.
enum Glob {
  static func isPattern(_ s: String) -> Bool { s.contains { "*?[".contains($0) } }

  static func matches(_ pattern: String, _ name: String) -> Bool {
    isPattern(pattern) ? fnmatch(pattern, name, 0) == 0 : pattern == name
  }

  /// The names of `known` that some pattern matches, plus the patterns
  /// that are exact names not in `known` (if `allowUnknown`).
  static func select(_ patterns: [String], from known: [String], allowUnknown: Bool) -> [String] {
    var out = Set<String>()
    for p in patterns {
      if isPattern(p) {
        for n in known where matches(p, n) { out.insert(n) }
      } else if allowUnknown || known.contains(p) {
        out.insert(p)
      }
    }
    return out.sorted()
  }
}
