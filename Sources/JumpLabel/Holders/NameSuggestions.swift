/// A declared name close to one that nobody declared: for "did you mean".
public struct StaticKeyNameSuggestion: Sendable, Hashable, CustomStringConvertible {
  /// The declared name.
  public let name: String
  /// Edits (insert, delete, replace, swap two neighbours) from the name asked.
  public let distance: Int
  /// True if it is a tracepoint's key, false for a plain key.
  public let isTracepoint: Bool

  public var description: String { "\(name) (\(isTracepoint ? "tracepoint" : "key"))" }
}

extension StaticKeys {
  /// The declared keys and tracepoints closest to `name`, best first: at
  /// most `limit`, each within `maxDistance` edits (default: a third of
  /// the name's length, at least 2). Empty if `name` is declared itself
  /// or nothing is close. Undeclared (remembered) names are not suggested.
  public static func closestNames(to name: String, limit: Int = 3, maxDistance: Int? = nil) -> [StaticKeyNameSuggestion] {
    let declared = list().filter(\.declared)
    if declared.contains(where: { $0.name == name }) { return [] }
    let bound = maxDistance ?? max(2, name.utf8.count / 3)
    let target = Array(name.utf8)
    return declared.compactMap { i -> StaticKeyNameSuggestion? in
      let d = editDistance(target, Array(i.name.utf8), bound: bound)
      return d <= bound ? StaticKeyNameSuggestion(name: i.name, distance: d, isTracepoint: i.isTracepoint) : nil
    }
    .sorted { ($0.distance, $0.name) < ($1.distance, $1.name) }
    .prefix(max(0, limit)).map { $0 }
  }

  /// Optimal string alignment distance (Damerau-Levenshtein without
  /// repeated edits of a substring) over bytes; stops early, answering
  /// `bound + 1`, once every row exceeds `bound`.
  static func editDistance(_ a: [UInt8], _ b: [UInt8], bound: Int) -> Int {
    if abs(a.count - b.count) > bound { return bound + 1 }
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var before = [Int](repeating: 0, count: b.count + 1)
    var previous = Array(0...b.count)
    var row = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
      row[0] = i
      var best = i
      for j in 1...b.count {
        let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
        var v = min(previous[j] + 1, row[j - 1] + 1, substitution)
        if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] { v = min(v, before[j - 2] + 1) }
        row[j] = v
        best = min(best, v)
      }
      if best > bound { return bound + 1 }
      (before, previous, row) = (previous, row, before)
    }
    return previous[b.count]
  }
}
