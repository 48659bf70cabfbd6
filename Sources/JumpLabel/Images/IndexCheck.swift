import CJumpLabelSite

/// The index's grouping, reachable from this package's tests (not public
/// API): a table is usually in address order with no duplicates, so the
/// sorting and deduplicating paths of `ImageTable.keyGroups` are checked
/// with made-up tables.
package enum _IndexGrouping {
  /// Groups made-up entries as the index groups a real table: for each
  /// key name, its runs, each run its sites as hexadecimal addresses, with
  /// " likely" after those whose NOP path is the enabled one. Each entry
  /// names its key by index into `keys`. Nothing is read at the addresses.
  package static func runs(entries: [(code: UInt, key: Int, likely: Bool)], keys: [String]) -> [String: [[String]]] {
    let table = ImageTable(
      start: 0, image: "made-up", linksSwiftCore: false, initialised: true, unloading: false,
      entries: entries.map { TableEntry(code: $0.code, jump: 0, key: $0.key, flags: $0.likely ? UInt64(JL_FLAG_LIKELY) : 0) },
      names: [], keys: keys)
    var out: [String: [[String]]] = [:]
    for (k, group) in table.keyGroups().enumerated() where !group.runs.isEmpty {
      out[keys[k]] = group.runs.map { run in run.map { String($0.code, radix: 16) + ($0.likely ? " likely" : "") } }
    }
    return out
  }
}
