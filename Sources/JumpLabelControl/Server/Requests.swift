import CJumpLabelSite
import Glibc
import JumpLabel
import Tracepoints

/// The requests: hello, list, set, trace, ping.
extension ControlServer {
  func handle(_ m: Message, from c: Connection) {
    guard c.greeted || { if case .hello = m { return true } else { return false } }() else {
      c.send(.error(code: .unexpected, message: "say hello first"))
      return close(c, reason: "no hello")
    }
    switch m {
    case let .hello(lo, hi, _):
      guard lo <= hi, Frame.versions.contains(min(hi, Frame.versions.upperBound)), lo <= Frame.versions.upperBound else {
        c.send(.error(code: .unsupportedVersion, message: "this process speaks protocol versions \(Frame.versions.lowerBound)...\(Frame.versions.upperBound)"))
        return close(c, reason: "version")
      }
      c.greeted = true
      c.partialDeadline = nil
      let idle = options.idleTimeout.map { UInt32(clamping: nanoseconds($0) / 1_000_000) } ?? 0
      c.send(.welcome(version: min(hi, Frame.versions.upperBound), pid: UInt32(getpid()),
                      startTime: SocketDirectory.ownStartTime ?? 0, pidNamespace: SocketDirectory.pidNamespace,
                      program: ControlText.cut(programName(), to: 64), runtimeABI: JL_RUNTIME_ABI, idleTimeoutMillis: max(idle, 1)))
    case .list:
      sendList(to: c)
    case let .set(enable, dryRun, hold, ttl, force, undeclared, patterns):
      set(enable: enable, dryRun: dryRun, hold: hold, ttl: ttl, force: force, undeclared: undeclared, patterns: patterns, from: c)
    case let .forget(names):
      forget(names, from: c)
    case let .trace(maxEvents, duration, buffer, patterns):
      startTrace(maxEvents: maxEvents, durationMillis: duration, bufferEvents: buffer, patterns: patterns, for: c)
    case .traceStop:
      if c.trace != nil { endTrace(c, reason: "stopped by the client") }
    case .ping:
      c.send(.pong)
    case let .debug(command):
      debugRequest(command, from: c)
    case .welcome, .error, .listPart, .setResultPart, .traceStartedPart, .event, .traceEnd, .pong,
         .forgottenPart, .debugReplyPart:
      c.send(.error(code: .unexpected, message: "\(m.kind) is a server message"))
      close(c, reason: "unexpected message")
    }
    c.flush()
  }

  private func programName() -> String {
    SocketDirectory.readFile("/proc/self/comm")?.trimmingCharacters() ?? "?"
  }

  // MARK: list

  private func sendList(to c: Connection) {
    let probes = Dictionary(Tracepoints.list().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    let entries = StaticKeys.list().map { k in
      // Names declared in code may be longer than a request may name:
      // cut, and said so (every entry is then at most a few kilobytes).
      let long = k.name.utf8.count > ControlLimits.maxNameBytes
      let problem = (long ? "name cut: \(k.name.utf8.count) bytes long" + (k.problem == nil ? "" : "; ") : "") + (k.problem ?? "")
      var e = Message.ListEntry(
        name: ControlText.cut(k.name, to: ControlLimits.maxNameBytes), isTracepoint: k.isTracepoint, state: k.state,
        defaultValue: k.defaultValue, declared: k.declared, count: Int64(k.count), sites: UInt32(clamping: k.sites),
        fallbackHits: UInt64(clamping: k.fallbackHits), fallbackHitsInOptimizedCode: UInt64(clamping: k.fallbackHitsInOptimizedCode),
        probes: UInt16(clamping: probes[k.name]?.probes ?? 0),
        payloadType: ControlText.cut(probes[k.name]?.payloadType ?? "", to: ControlLimits.maxEntryTextBytes),
        problem: ControlText.cut(problem, to: ControlLimits.maxEntryTextBytes))
      e.holders = ControlText.cut(k.holders.holderList, to: ControlLimits.maxEntryTextBytes)
      e.forcedOff = ControlText.cut(k.forcedOff ?? "", to: ControlLimits.maxEntryTextBytes)
      return e
    }
    sendInParts(entries, size: \.encodedSize, to: c) { .listPart(last: $0, entries: $1) }
  }

  /// Sends a reply that can grow as parts of at most
  /// ``ControlLimits/partBytes`` each (every item is far smaller: names
  /// and texts are cut before they get here), the last one marked.
  func sendInParts<T>(_ items: [T], size: (T) -> Int, to c: Connection, part: (Bool, [T]) -> Message) {
    if options._disabledDefences.contains(.replyParts) { return c.send(part(true, items)) }
    var chunk: [T] = []
    var bytes = 0
    for item in items {
      let s = size(item)
      if !chunk.isEmpty && (bytes + s > ControlLimits.partBytes || chunk.count == Int(UInt16.max)) {
        c.send(part(false, chunk))
        chunk.removeAll(keepingCapacity: true)
        bytes = 0
      }
      chunk.append(item)
      bytes += s
    }
    c.send(part(true, chunk))
  }

  /// The error to send for names that are not valid (control characters,
  /// too long, empty), or nil. Checked before anything is looked up.
  private func badNames(_ names: [String], what: String) -> String? {
    if options._disabledDefences.contains(.nameCheck) { return nil }
    if names.count > 4096 { return "\(names.count) \(what)s in one request; at most 4096" }
    for n in names { if let p = ControlText.problem(withName: n, what: what) { return p } }
    return nil
  }

  // MARK: set

  /// `set` (#17): a forced disable drops the other holders, names no
  /// image declares are refused with suggestions unless `undeclared` (or
  /// remembered already), and the last part of the reply carries the
  /// batch's cost.
  private func set(enable: Bool, dryRun: Bool, hold: Bool, ttl: UInt32, force forced: Bool, undeclared: Bool,
                   patterns: [String], from c: Connection) {
    if options.readOnly && !dryRun {
      audit.write("refused a change from \(c.peer): the control server is read-only")
      return c.send(.error(code: .refused, message: "this process's control server is read-only"))
    }
    guard !patterns.isEmpty else { return c.send(.error(code: .malformed, message: "no key named")) }
    if let bad = badNames(patterns, what: "key name or pattern") {
      audit.write("refused a change from \(c.peer): \(bad)")
      return c.send(.error(code: .malformed, message: bad))
    }
    let keys = StaticKeys.list()
    let known = keys.map(\.name)
    let names = Glob.select(patterns, from: known, allowUnknown: true)
    // A name remembered already (set with --undeclared before) may change
    // again without the flag; only a new undeclared name needs it.
    let remembered = Set(keys.filter { !$0.declared }.map(\.name))
    let declaredNames = Set(keys.filter(\.declared).map(\.name))
    let onlyRemembered = names.allSatisfy { declaredNames.contains($0) || remembered.contains($0) }
    guard !names.isEmpty else { return c.send(.error(code: .failed, message: "no key matches \(ControlText.quoted(patterns))")) }
    if enable && !dryRun && (ttl > 0 || hold) {
      let before = Dictionary(keys.map { ($0.name, $0.state) }, uniquingKeysWith: { a, _ in a })
      return enableAsLease(names, declared: declaredNames, before: before, ttl: ttl, hold: hold, from: c)
    }
    let changes: [StaticKeyChange]
    // Who forced it, for the holders it drops (a trace client ends with it).
    let force = forced && !enable ? "disabled by pid \(c.peerPID) (jumplabel ctl --force)" : nil
    do {
      changes = try StaticKeys.set(names: names, enabled: enable, undeclared: undeclared || onlyRemembered,
                                   dryRun: dryRun, force: force)
    } catch {
      var message = ControlText.cut(error.description, to: 4 * ControlLimits.quotedBytes)
      if case let .unknownKey(name) = error {
        message = ControlText.cut(Self.undeclaredMessage(name), to: 4 * ControlLimits.quotedBytes)
      } else if case .heldBy = error {
        message += " (`jumplabel ctl disable --force` drops their holds; a trace client is told)"
      }
      audit.write("change by \(c.peer) failed: \(enable ? "enable" : "disable") \(ControlText.quoted(names)): \(message)")
      return c.send(.error(code: .failed, message: message))
    }
    if !dryRun {
      let how = (ttl > 0 ? ", ttl \(ttl) ms" : "") + (hold ? ", held by the connection" : "") + (force != nil ? ", forced" : "")
      for ch in changes {
        audit.write("change by \(c.peer): \(ch.name) \(ch.before) -> \(ch.after) (\(enable ? "enable" : "disable")\(ch.declared ? "" : ", not declared yet")\(how))")
      }
      let switched = changes.filter { $0.before != $0.after }.map(\.name)
      if !switched.isEmpty && (ttl > 0 || hold) {
        reverts.append(Revert(
          names: switched, to: !enable, due: ttl > 0 ? monotonic() + UInt64(ttl) * 1_000_000 : nil,
          connection: hold ? c.fd : nil, peer: c.peer))
      }
    }
    let reply = changes.map {
      Message.Change(name: ControlText.cut($0.name, to: ControlLimits.maxNameBytes), before: $0.before, after: $0.after, declared: $0.declared)
    }
    let cost = changes.lazy.compactMap(\.cost).first.map {
      Message.BatchCost(sitesPatched: UInt32(clamping: $0.sitesPatched), patchProtocol: $0.protocol,
                        syncs: UInt16(clamping: $0.syncs), nanoseconds: $0.nanoseconds)
    }
    sendInParts(reply, size: { $0.name.utf8.count + 5 }, to: c) { last, part in .setResultPart(last: last, cost: last ? cost : nil, changes: part) }
  }

  /// The refusal of a name no loaded image declares, with the closest
  /// declared names (and whether each is a key or a tracepoint).
  static func undeclaredMessage(_ name: String) -> String {
    let near = StaticKeys.closestNames(to: name)
    let hint = near.isEmpty ? "" : "; did you mean \(near.map { "\($0.name) (\($0.isTracepoint ? "tracepoint" : "key"))" }.joined(separator: ", "))?"
    return "no loaded image declares \(ControlText.quoted([name]))\(hint) (--undeclared remembers it anyway, for a plugin not loaded yet); nothing changed"
  }

  // MARK: forget

  private func forget(_ names: [String], from c: Connection) {
    if options.readOnly {
      audit.write("refused a forget from \(c.peer): the control server is read-only")
      return c.send(.error(code: .refused, message: "this process's control server is read-only"))
    }
    guard !names.isEmpty else { return c.send(.error(code: .malformed, message: "no name given")) }
    if let bad = badNames(names, what: "key name") { return c.send(.error(code: .malformed, message: bad)) }
    do {
      let dropped = try StaticKeys.forget(names: names)
      for n in dropped { audit.write("forget by \(c.peer): \(n) (a remembered state of an undeclared name)") }
      let shown = dropped.map { ControlText.cut($0, to: ControlLimits.maxNameBytes) }
      sendInParts(shown, size: { $0.utf8.count + 2 }, to: c) { .forgottenPart(last: $0, names: $1) }
    } catch {
      c.send(.error(code: .failed, message: ControlText.cut(error.description, to: 4 * ControlLimits.quotedBytes)))
    }
  }

  /// Undoes a change, for the keys still in the state it set (a key
  /// changed again since is left alone, and the log says so); a lease
  /// releases its holds instead, a debug lease restores its statements'
  /// flags.
  func revert(_ r: Revert, why: String) {
    if let lease = r.lease { return endLease(lease, of: r, why: why) }
    if let changes = r.debugLease { return endDebugLease(changes, of: r, why: why) }
    let now = Dictionary(StaticKeys.list().map { ($0.name, $0.state) }, uniquingKeysWith: { a, _ in a })
    let still = r.names.filter { now[$0] == !r.to }
    let moved = r.names.filter { now[$0] != !r.to }
    for n in moved { audit.write("not reverting \(n) (changed by \(r.peer)): it was changed again since") }
    guard !still.isEmpty else { return }
    do {
      let changes = try StaticKeys.set(names: still, enabled: r.to, undeclared: true)
      for ch in changes { audit.write("revert (\(why)) of a change by \(r.peer): \(ch.name) \(ch.before) -> \(ch.after)") }
    } catch {
      audit.write("revert (\(why)) of a change by \(r.peer) failed: \(error)")
    }
  }

  // MARK: trace

  private func startTrace(maxEvents: UInt32, durationMillis: UInt32, bufferEvents: UInt32, patterns: [String], for c: Connection) {
    guard c.trace == nil else { return c.send(.error(code: .unexpected, message: "a trace is running on this connection already")) }
    guard !patterns.isEmpty else { return c.send(.error(code: .malformed, message: "no tracepoint named")) }
    if let bad = badNames(patterns, what: "tracepoint name or pattern") { return c.send(.error(code: .malformed, message: bad)) }
    let known = Tracepoints.list().map(\.name)
    let names = Glob.select(patterns, from: known, allowUnknown: false)
    guard !names.isEmpty else {
      // A key named where a tracepoint is expected: say so.
      let keys = Glob.select(patterns, from: StaticKeys.list().filter { !$0.isTracepoint }.map(\.name), allowUnknown: false)
      if !keys.isEmpty {
        return c.send(.error(code: .failed, message: "\(ControlText.quoted(keys)) \(keys.count == 1 ? "is a static key" : "are static keys"), not a tracepoint: nothing to trace (ctl enable/disable switch keys)"))
      }
      let near = patterns.count == 1 ? StaticKeys.closestNames(to: patterns[0]).filter(\.isTracepoint) : []
      let hint = near.isEmpty ? "" : "; did you mean \(near.map(\.name).joined(separator: ", "))?"
      return c.send(.error(code: .failed, message: "no tracepoint matches \(ControlText.quoted(patterns))\(hint)"))
    }
    // The buffer: what was asked (rounded up to a power of two, as the
    // ring does), halved until it fits in what the other traces leave of
    // the memory limit.
    var capacity = 1
    while capacity < Int(bufferEvents == 0 ? 4096 : min(bufferEvents, UInt32(JumpLabelControl.maxTraceBufferEvents))) { capacity <<= 1 }
    let inUse = connections.values.reduce(0) { $0 + ($1.trace?.bytes ?? 0) }
    let left = max(0, options.traceMemoryLimit - inUse)
    while capacity * Self.traceSlotBytes > left && capacity >= JumpLabelControl.minTraceBufferEvents { capacity >>= 1 }
    guard capacity >= JumpLabelControl.minTraceBufferEvents else {
      audit.write("refused a trace by \(c.peer): trace buffers use \(inUse) of \(options.traceMemoryLimit) bytes")
      return c.send(.error(code: .busy, message: "trace buffers already use \(inUse >> 20) MiB of this process's \(options.traceMemoryLimit >> 20) MiB limit: not even \(JumpLabelControl.minTraceBufferEvents) events fit; try again when a trace ends"))
    }
    let ring: RingBufferSink
    do {
      ring = try RingBufferSink(capacity: capacity, payloadCapacity: JumpLabelControl.tracePayloadBytes)
    } catch {
      return c.send(.error(code: .failed, message: "\(error)"))
    }
    let session = TraceSession(
      ring: ring, bytes: capacity * Self.traceSlotBytes, maxEvents: UInt64(maxEvents),
      endsAt: durationMillis > 0 ? monotonic() + UInt64(durationMillis) * 1_000_000 : nil)
    for n in names {
      do {
        // The client's own hold: a disable then names it, and a forced
        // one ends this trace with the reason (tick, endForcedTraces).
        session.handles.append(try Tracepoints.attach(ring, named: n, as: StaticKeyHolder(.trace, id: "pid \(c.peerPID)")))
      } catch {
        session.detachAll()
        return c.send(.error(code: .failed, message: "cannot attach to \(n): \(error)"))
      }
    }
    audit.write("trace by \(c.peer) (buffer of \(capacity) events): \(ControlText.quoted(names))")
    c.trace = session
    let shown = names.map { ControlText.cut($0, to: ControlLimits.maxNameBytes) }
    sendInParts(shown, size: { $0.utf8.count + 2 }, to: c) { .traceStartedPart(last: $0, bufferEvents: UInt32(capacity), names: $1) }
  }

  /// Ends the trace of `c` if a forced disable dropped one of its probes:
  /// the client is told why ("disabled by pid N (jumplabel ctl --force)")
  /// instead of waiting, unfed, for a count or a deadline.
  func endIfForcedOff(_ c: Connection) -> Bool {
    guard let t = c.trace, let reason = t.handles.lazy.compactMap(\.forcedOffReason).first else { return false }
    audit.write("trace by \(c.peer) ended: \(reason)")
    endTrace(c, reason: reason)
    return true
  }

  /// Moves buffered events to the connection, within its output limit;
  /// ends the trace at its count or its deadline.
  func pumpTrace(_ c: Connection, now: UInt64) {
    guard let t = c.trace else { return }
    if c.output.count < options.outputLimit {
      for r in t.ring.drain() {
        if t.maxEvents > 0 && t.sent >= t.maxEvents { break }
        c.send(.event(Array(r.jsonLine.utf8)))
        t.sent += 1
      }
    }
    if t.maxEvents > 0 && t.sent >= t.maxEvents { return endTrace(c, reason: "count reached") }
    if let end = t.endsAt, now >= end { return endTrace(c, reason: "duration reached") }
    c.flush()
  }

  /// What one event of a trace buffer costs, counted generously: the
  /// payload, the record's header and sequence word, rounded up to a
  /// cache line as ring.c does (1,152 bytes for a 1,024-byte payload).
  static let traceSlotBytes = (JumpLabelControl.tracePayloadBytes + 128 + 63) & ~63

  func endTrace(_ c: Connection, reason: String) {
    guard let t = c.trace else { return }
    t.detachAll()
    // What arrived before the detach still goes out.
    for r in t.ring.drain() where t.maxEvents == 0 || t.sent < t.maxEvents {
      c.send(.event(Array(r.jsonLine.utf8)))
      t.sent += 1
    }
    c.trace = nil
    traceReleased()
    c.send(.traceEnd(events: t.sent, dropped: UInt64(t.ring.dropped), reason: reason))
    c.flush()
  }
}

extension String {
  func trimmingCharacters() -> String {
    var s = Substring(self)
    while let f = s.first, f.isWhitespace { s = s.dropFirst() }
    while let l = s.last, l.isWhitespace { s = s.dropLast() }
    return String(s)
  }
}
