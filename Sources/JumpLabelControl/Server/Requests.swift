import Glibc
import JumpLabel
import Tracepoints

/// The requests: hello, list, set, trace.
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
      c.send(.welcome(version: min(hi, Frame.versions.upperBound), pid: UInt32(getpid()),
                      startTime: SocketDirectory.startTime(of: getpid()) ?? 0, program: programName(), runtimeABI: 2))
    case .list:
      sendList(to: c)
    case let .set(enable, dryRun, hold, ttl, patterns):
      set(enable: enable, dryRun: dryRun, hold: hold, ttl: ttl, patterns: patterns, from: c)
    case let .trace(maxEvents, duration, buffer, patterns):
      startTrace(maxEvents: maxEvents, durationMillis: duration, bufferEvents: buffer, patterns: patterns, for: c)
    case .traceStop:
      if c.trace != nil { endTrace(c, reason: "stopped by the client") }
    case .welcome, .error, .listPart, .setResult, .traceStarted, .event, .traceEnd:
      c.send(.error(code: .unexpected, message: "\(m.kind) is a server message"))
      close(c, reason: "unexpected message")
    case .hello:
      break
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
      Message.ListEntry(
        name: k.name, isTracepoint: k.isTracepoint, state: k.state, defaultValue: k.defaultValue, declared: k.declared,
        count: Int64(k.count), sites: UInt32(clamping: k.sites), fallbackHits: UInt64(clamping: k.fallbackHits),
        fallbackHitsInOptimizedCode: UInt64(clamping: k.fallbackHitsInOptimizedCode),
        probes: UInt16(clamping: probes[k.name]?.probes ?? 0), payloadType: probes[k.name]?.payloadType ?? "",
        problem: k.problem ?? "")
    }
    // In parts that each fit in a frame.
    var part: [Message.ListEntry] = []
    var size = 0
    for e in entries {
      let s = 64 + e.name.utf8.count + e.payloadType.utf8.count + e.problem.utf8.count
      if size + s > Frame.maxBody - 1024 && !part.isEmpty {
        c.send(.listPart(last: false, entries: part))
        part.removeAll()
        size = 0
      }
      part.append(e)
      size += s
    }
    c.send(.listPart(last: true, entries: part))
  }

  // MARK: set

  private func set(enable: Bool, dryRun: Bool, hold: Bool, ttl: UInt32, patterns: [String], from c: Connection) {
    if options.readOnly && !dryRun {
      audit.write("refused a change from \(c.peer): the control server is read-only")
      return c.send(.error(code: .refused, message: "this process's control server is read-only"))
    }
    guard !patterns.isEmpty else { return c.send(.error(code: .malformed, message: "no key named")) }
    let known = StaticKeys.list().map(\.name)
    let names = Glob.select(patterns, from: known, allowUnknown: true)
    guard !names.isEmpty else { return c.send(.error(code: .failed, message: "no key matches \(patterns.joined(separator: " "))")) }
    let changes: [StaticKeyChange]
    do {
      changes = try StaticKeys.set(names: names, enabled: enable, undeclared: true, dryRun: dryRun)
    } catch {
      audit.write("change by \(c.peer) failed: \(enable ? "enable" : "disable") \(names.joined(separator: " ")): \(error)")
      return c.send(.error(code: .failed, message: error.description))
    }
    if !dryRun {
      let how = (ttl > 0 ? ", ttl \(ttl) ms" : "") + (hold ? ", held by the connection" : "")
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
    c.send(.setResult(changes.map { Message.Change(name: $0.name, before: $0.before, after: $0.after, declared: $0.declared) }))
  }

  /// Undoes a change, for the keys still in the state it set (a key
  /// changed again since is left alone, and the log says so).
  func revert(_ r: Revert, why: String) {
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
    let known = Tracepoints.list().map(\.name)
    let names = Glob.select(patterns, from: known, allowUnknown: false)
    guard !names.isEmpty else { return c.send(.error(code: .failed, message: "no tracepoint matches \(patterns.joined(separator: " "))")) }
    let capacity = Int(bufferEvents == 0 ? 4096 : min(bufferEvents, 65_536))
    let ring: RingBufferSink
    do {
      ring = try RingBufferSink(capacity: capacity, payloadCapacity: 1024)
    } catch {
      return c.send(.error(code: .failed, message: "\(error)"))
    }
    let session = TraceSession(
      ring: ring, maxEvents: UInt64(maxEvents),
      endsAt: durationMillis > 0 ? monotonic() + UInt64(durationMillis) * 1_000_000 : nil)
    for n in names {
      do {
        session.handles.append(try Tracepoints.attach(ring, named: n))
      } catch {
        session.detachAll()
        return c.send(.error(code: .failed, message: "cannot attach to \(n): \(error)"))
      }
    }
    audit.write("trace by \(c.peer): \(names.joined(separator: " "))")
    c.trace = session
    c.send(.traceStarted(names))
  }

  /// Moves buffered events to the connection, within its output limit;
  /// ends the trace at its count or its deadline.
  func pumpTrace(_ c: Connection, now: UInt64) {
    guard let t = c.trace else { return }
    if c.output.count < Connection.outputLimit {
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

  func endTrace(_ c: Connection, reason: String) {
    guard let t = c.trace else { return }
    t.detachAll()
    // What arrived before the detach still goes out.
    for r in t.ring.drain() where t.maxEvents == 0 || t.sent < t.maxEvents {
      c.send(.event(Array(r.jsonLine.utf8)))
      t.sent += 1
    }
    c.trace = nil
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
