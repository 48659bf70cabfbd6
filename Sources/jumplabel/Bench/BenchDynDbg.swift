import BenchStatements
import JumpLabel
import TextPoke

/// `jumplabel bench --only dyndbg`: a dynamic-debug query that matches the
/// 1,000 statements of Sources/BenchStatements, switched on and off as one
/// query each (one batch, three syncs), against the same statements
/// switched one key at a time (a batch each), which is what a per-statement
/// API without batches would cost.
extension BenchScenarios {
  /// The query, as an operator would write it for `ctl debug`.
  static let dyndbgModule = "BenchStatements"

  func dyndbg() throws -> BenchReport.DynDbgRow {
    // A call the optimiser cannot prove dead keeps the statements'
    // function, and with it their table entries, in the binary (the clock
    // never reads 0). The listing below indexes every image before
    // anything is timed.
    if nowNs() == 0 { BenchStatements.run(0) }
    let entries = DynamicDebug.statements().filter { $0.statement.module == Self.dyndbgModule }
    guard entries.count == BenchStatements.count else {
      throw BenchError("the CLI holds \(entries.count) statements of \(Self.dyndbgModule), not \(BenchStatements.count)")
    }
    guard entries.allSatisfy({ $0.sites > 0 }) else {
      throw BenchError("\(Self.dyndbgModule)'s statements have no sites (a debug build of the CLI? statements are NOP sites in optimised code only)")
    }
    guard entries.allSatisfy({ !$0.flags.contains(.print) }) else {
      throw BenchError("some of \(Self.dyndbgModule)'s statements are on already (JUMPLABEL_DYNDBG?): the measurement needs them off")
    }
    let n = entries.count
    let reps = quick ? 5 : 30
    var on: [UInt64] = [], off: [UInt64] = [], matchOnly: [UInt64] = []
    var batches: UInt64 = 0, syncs: UInt64 = 0, queries: UInt64 = 0

    /// Runs `query`, timed, and checks that it switched exactly `expect`
    /// statements: a query that did not take effect is an error, not a row.
    func timed(_ query: String, expect: Int, on: Bool) throws -> UInt64 {
      let s0 = TextPoke.statistics
      let t0 = nowNs()
      let r = try DynamicDebug.apply(query)
      let dt = nowNs() - t0
      let s1 = TextPoke.statistics
      let switched = on ? r.enabled : r.disabled
      guard r.matched == n, switched == expect else {
        throw BenchError("\(query): matched \(r.matched) and switched \(switched); expected \(n) and \(expect)")
      }
      if expect > 0 {
        batches += s1.batches - s0.batches
        syncs += s1.syncs - s0.syncs
        queries += 1
      }
      return dt
    }

    let onQuery = "module \(Self.dyndbgModule) +p", offQuery = "module \(Self.dyndbgModule) -p"
    for i in 0..<(reps + 2) {
      let a = try timed(onQuery, expect: n, on: true)
      // The same query again: every statement is on, nothing to patch, so
      // this is the listing and matching alone.
      let m = try timed(onQuery, expect: 0, on: true)
      let b = try timed(offQuery, expect: n, on: false)
      if i >= 2 {  // two warm-up rounds
        on.append(a)
        matchOnly.append(m)
        off.append(b)
      }
    }
    // The same on/off queries with the opt-in write window (plain stores
    // into pages made writable for the batch) instead of three `pwrite`s
    // per site: what large batches can choose (Performance.md).
    var windowOn: [UInt64] = [], windowOff: [UInt64] = []
    let w0 = TextPoke.statistics.writeWindowBatches
    do {
      TextPoke.bulkWriteThreshold = 1
      defer { TextPoke.bulkWriteThreshold = nil }
      for i in 0..<(reps + 2) {
        let a = try timed(onQuery, expect: n, on: true)
        let b = try timed(offQuery, expect: n, on: false)
        if i >= 2 {
          windowOn.append(a)
          windowOff.append(b)
        }
      }
    }
    guard TextPoke.statistics.writeWindowBatches - w0 == UInt64(2 * (reps + 2)) else {
      throw BenchError("the write window was not used for every batch of the window rows")
    }

    // The contrast: the same statements, one key (one batch) at a time.
    let names = entries.map(\.keyName)
    let s0 = TextPoke.statistics
    let t0 = nowNs()
    for name in names { try StaticKeys.set(names: [name], enabled: true) }
    let t1 = nowNs()
    for name in names { try StaticKeys.set(names: [name], enabled: false) }
    let t2 = nowNs()
    let s1 = TextPoke.statistics
    let left = DynamicDebug.statements().filter { $0.statement.module == Self.dyndbgModule && $0.flags.contains(.print) }.count
    guard left == 0 else { throw BenchError("\(left) statements of \(Self.dyndbgModule) stayed on after the measurement") }

    let q = Double(max(queries, 1))
    return .init(
      statements: n, sites: entries.reduce(0) { $0 + $1.sites },
      queryOn: Summary(on), queryOff: Summary(off), matchOnly: Summary(matchOnly),
      windowOn: Summary(windowOn), windowOff: Summary(windowOff),
      batchesPerQuery: Double(batches) / q, syncsPerQuery: Double(syncs) / q,
      oneByOneOnMs: Double(t1 - t0) / 1e6, oneByOneOffMs: Double(t2 - t1) / 1e6,
      oneByOneSyncs: Int(s1.syncs - s0.syncs))
  }
}
