import JumpLabel

/// `ctl debug --ttl/--hold`: a query with a lease. When the lease ends
/// (its ttl, its connection closing, the server stopping), every
/// statement the query changed gets back the flags it had before, `p` and
/// decorations (`DynamicDebug.restore`: one batch per direction, all or
/// nothing); a statement whose flags are no longer those the query left
/// was changed again since, by someone, and is left alone (as `ctl
/// disable --ttl` leaves a key changed again since: Requests.swift,
/// `revert`).
extension ControlServer {
  /// Ends a debug lease and writes one audit line per statement and one
  /// for the lease.
  func endDebugLease(_ changes: [String: DynamicDebug.FlagChange], of r: Revert, why: String) {
    var changes = changes
    if options._debugLeaseRestoresOnlyPrint {
      // Tests only: the old behaviour (only `p` goes back), the negative
      // control of the lease tests.
      changes = changes.mapValues { .init(before: $0.after.subtracting(.print).union($0.before.intersection(.print)), after: $0.after) }
    }
    let done: DynamicDebug.Restoration
    do {
      done = try DynamicDebug.restore(changes)
    } catch {
      audit.write("revert (\(why)) of a debug query by \(r.peer) failed: \(error); none of its statements changed")
      return
    }
    // A statement's key name holds spaces (its function, its format): quoted.
    func name(_ n: String) -> String { ControlText.quoted(n, limit: ControlLimits.maxNameBytes) }
    for n in done.restored {
      audit.write("revert (\(why)) of a debug query by \(r.peer): \(name(n)) \(changes[n].map { "=\($0.after) -> =\($0.before)" } ?? "")")
    }
    for n in done.changedSince { audit.write("not reverting \(name(n)) (debug query by \(r.peer)): it was changed again since") }
    for n in done.gone { audit.write("not reverting \(name(n)) (debug query by \(r.peer)): no loaded image declares it any more") }
    audit.write("debug lease of \(r.peer) ended (\(why)): \(done.restored.count) restored (\(done.enabled) on, \(done.disabled) off), "
                + "\(done.changedSince.count) changed again since, \(done.gone.count) gone")
  }
}
