import JumpLabel

/// `ctl enable --ttl/--hold`: a lease is a holder of its own
/// (`StaticKeyHolder(.lease, id: "pid N #k hold ttl 30s")`). It adds its
/// share to each key and ends by releasing that share, never by switching
/// the key off: a key that someone else holds too (`ctl enable`, a trace,
/// code) stays on when the lease ends, and `ctl list` shows who holds it.
///
/// A disable cannot be a hold (a count cannot hold a key off): `ctl
/// disable --ttl/--hold` switches off (refused while others hold, unless
/// `--force`, as a plain disable) and switches back on (as the `.enabled`
/// holder) when it ends; that is a ``Revert`` without a lease.
///
/// A debug query's lease (`ctl debug --ttl/--hold`) holds nothing either:
/// it puts its statements' flags back when it ends (DebugLeases.swift).
extension ControlServer {
  /// Holds every key of `names` as one new lease of `c`, all or nothing,
  /// and answers `set`. Names no loaded image declares are refused (a
  /// hold needs a declared key); `before` gives each key's state, for the
  /// reply and the audit log.
  func enableAsLease(_ names: [String], declared: Set<String>, before: [String: Bool], ttl: UInt32, hold: Bool, from c: Connection) {
    if let name = names.first(where: { !declared.contains($0) }) {
      let message = "a lease (--ttl, --hold) holds keys that a loaded image declares; \(ControlText.quoted([name])) is not declared (enable it with --undeclared and no lease); nothing changed"
      audit.write("change by \(c.peer) refused: \(message)")
      return c.send(.error(code: .failed, message: ControlText.cut(message, to: 4 * ControlLimits.quotedBytes)))
    }
    leaseSerial += 1
    // Unique per server: two leases of one client are two holders, each
    // releasing only its own share.
    let lease = StaticKeyHolder(.lease, id: "pid \(c.peerPID) #\(leaseSerial)" + (hold ? " hold" : "") + (ttl > 0 ? " ttl \(Self.shortDuration(ttl))" : ""))
    var held: [String] = []
    for n in names {
      do {
        try StaticKeys.hold(n, by: lease)
        held.append(n)
      } catch {
        // All or nothing: the shares taken so far go back first.
        for h in held { _ = try? StaticKeys.release(h, by: lease) }
        let message = "cannot hold \(ControlText.quoted([n])) as \(lease): \(error); nothing changed"
        audit.write("change by \(c.peer) failed: \(message)")
        return c.send(.error(code: .failed, message: ControlText.cut(message, to: 4 * ControlLimits.quotedBytes)))
      }
    }
    for n in names { audit.write("change by \(c.peer): \(n) \(before[n] ?? false) -> true (enable, held by \(lease))") }
    reverts.append(Revert(names: names, to: false, due: ttl > 0 ? monotonic() + UInt64(ttl) * 1_000_000 : nil,
                          connection: hold ? c.fd : nil, peer: c.peer, lease: lease))
    let reply = names.map {
      Message.Change(name: ControlText.cut($0, to: ControlLimits.maxNameBytes), before: before[$0] ?? false, after: true, declared: true)
    }
    // One batch per key (a hold is one key's batch): no single cost.
    sendInParts(reply, size: { $0.name.utf8.count + 5 }, to: c) { .setResultPart(last: $0, cost: nil, changes: $1) }
  }

  /// Ends a lease: releases its share of each key (the key goes off only
  /// if nobody else holds it) and says so in the audit log, or that a
  /// forced disable had dropped the share already, and why.
  func endLease(_ lease: StaticKeyHolder, of r: Revert, why: String) {
    for n in r.names {
      // Asked before the release, which forgets it.
      let dropped = StaticKeys.droppedReason(n, holder: lease)
      do {
        if try StaticKeys.release(n, by: lease) {
          let state = StaticKeys.list().first { $0.name == n }
          let now = state.map { $0.state ? "still on (held by \($0.holders.holderList))" : "now off" } ?? "gone"
          audit.write("\(lease) of \(r.peer) ended (\(why)): released \(n), \(now)")
        } else {
          audit.write("\(lease) of \(r.peer) ended (\(why)): its hold of \(n) had been dropped: \(dropped ?? "by a forced disable")")
        }
      } catch {
        audit.write("\(lease) of \(r.peer) ended (\(why)): releasing \(n) failed: \(error)")
      }
    }
  }

  /// "30s", "500ms", "1500ms".
  static func shortDuration(_ millis: UInt32) -> String { millis % 1000 == 0 ? "\(millis / 1000)s" : "\(millis)ms" }
}
