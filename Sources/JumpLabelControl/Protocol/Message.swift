/// The messages of the control protocol, version 2.
///
/// A client opens with `hello`; the server answers `welcome` (or `error`
/// and closes). Then the client sends requests, one at a time: `list`,
/// `set`, `trace` (and `traceStop` while a trace runs), and `ping` as a
/// heartbeat. The server answers each; a trace streams `event`s until its
/// `traceEnd`.
///
/// Every reply whose size depends on the process's state or on the
/// request comes in parts (`listPart`, `setResultPart`,
/// `traceStartedPart`): zero or more parts with `last == false`, then
/// one with `last == true`, each a frame of at most 64 KiB. An `error`
/// may come instead of any part and ends the reply. Text that echoes a
/// request is cut to ``ControlLimits/quotedBytes`` and escaped.
public enum Message: Sendable, Equatable {
  /// Client, first: the versions it speaks and who it is.
  case hello(minVersion: UInt16, maxVersion: UInt16, client: String)
  /// Server: the version chosen, and which process this is: its pid and
  /// start time (clock ticks since boot) as its own pid namespace sees
  /// them, and that namespace's inode (/proc/self/ns/pid). A connection
  /// that says nothing for `idleTimeoutMillis` is closed (0: never); a
  /// client that waits longer sends `ping`.
  case welcome(version: UInt16, pid: UInt32, startTime: UInt64, pidNamespace: UInt64, program: String, runtimeABI: UInt32,
               idleTimeoutMillis: UInt32)
  /// Server: the request failed (or the connection is being closed).
  case error(code: ErrorCode, message: String)
  /// Client: every key and tracepoint, with its holders.
  case list
  /// Server: part of the answer to `list` (`last` on the final part).
  case listPart(last: Bool, entries: [ListEntry])
  /// Client: switch every key matching `patterns` (globs) on or off, in
  /// one batch. `ttlMillis` > 0: revert after that long. `hold`: revert
  /// when this connection closes (with `ttlMillis` or `hold`, an enable
  /// holds the keys as a lease). `dryRun`: report only. `force` drops
  /// every other holder of a key being disabled instead of refusing (the
  /// server records who forced it); `undeclared` remembers names no
  /// loaded image declares (without it they are refused, with the
  /// closest declared names).
  case set(enable: Bool, dryRun: Bool, hold: Bool, ttlMillis: UInt32, force: Bool, undeclared: Bool, patterns: [String])
  /// Server: part of what `set` changed (or would change); the last part
  /// carries what the batch cost, measured in the process (nil on every
  /// other part, and when nothing was patched).
  case setResultPart(last: Bool, cost: BatchCost?, changes: [Change])
  /// Client: stream the events of the tracepoints matching `patterns`.
  /// 0 means no limit for `maxEvents` and `durationMillis`.
  case trace(maxEvents: UInt32, durationMillis: UInt32, bufferEvents: UInt32, patterns: [String])
  /// Server: part of the list of tracepoints the trace is attached to,
  /// and the size of its buffer in events (which may be smaller than
  /// asked: the memory of all trace buffers together is bounded).
  case traceStartedPart(last: Bool, bufferEvents: UInt32, names: [String])
  /// Server: one event, one line of JSON (no newline).
  case event([UInt8])
  /// Server: the trace is over (count reached, time up, stopped), with
  /// how many events were sent and how many were lost to a full buffer.
  case traceEnd(events: UInt64, dropped: UInt64, reason: String)
  /// Client: stop the running trace.
  case traceStop
  /// Client: a heartbeat (keeps an idle connection, such as a `--hold`
  /// lease, from timing out); the server answers `pong`.
  case ping
  /// Server: the answer to `ping`.
  case pong
  /// Client (#17): forget the remembered states of these undeclared names.
  case forget(names: [String])
  /// Server: part of the names `forget` dropped.
  case forgottenPart(last: Bool, names: [String])
  /// Client: a dynamic-debug or live-log-level command, as text
  /// (`query QUERY`, `list [SPECS]`, `list-json [SPECS]`,
  /// `log module|label NAME LEVEL`, `log default LEVEL`, `log show`;
  /// JumpLabel's `DebugControlCommand`).
  case debug(command: String)
  /// Server: part of the reply to `debug`, one line per statement or result.
  case debugReplyPart(last: Bool, lines: [String])

  /// Message types on the wire.
  public enum Kind: UInt16, Sendable {
    case hello = 0x01, welcome = 0x02, error = 0x03
    case list = 0x10, listPart = 0x11
    case set = 0x20, setResultPart = 0x21
    case trace = 0x30, traceStartedPart = 0x31, event = 0x32, traceEnd = 0x33, traceStop = 0x34
    case ping = 0x40, pong = 0x41
    case forget = 0x24, forgottenPart = 0x25
    case debug = 0x50, debugReplyPart = 0x51
  }

  /// Error codes.
  public enum ErrorCode: UInt16, Sendable {
    case malformed = 1, unsupportedVersion = 2, unknownType = 3, tooLarge = 4
    case refused = 5, failed = 6, timeout = 7, busy = 8, unexpected = 9
    case unknown = 0xFFFF
  }

  /// One key or tracepoint, as `list` reports it.
  public struct ListEntry: Sendable, Equatable {
    public var name: String
    public var isTracepoint: Bool
    public var state: Bool
    public var defaultValue: Bool
    public var declared: Bool
    public var count: Int64
    public var sites: UInt32
    public var fallbackHits: UInt64
    public var fallbackHitsInOptimizedCode: UInt64
    public var probes: UInt16
    public var payloadType: String
    public var problem: String
    /// Who holds it on ("enabled, trace pid 4242, code ×2"); empty when
    /// nobody does.
    public var holders: String = ""
    /// The reason of the last forced disable, if any (else empty).
    public var forcedOff: String = ""

    public init(name: String, isTracepoint: Bool, state: Bool, defaultValue: Bool, declared: Bool, count: Int64, sites: UInt32,
                fallbackHits: UInt64, fallbackHitsInOptimizedCode: UInt64, probes: UInt16, payloadType: String, problem: String) {
      self.name = name
      self.isTracepoint = isTracepoint
      self.state = state
      self.defaultValue = defaultValue
      self.declared = declared
      self.count = count
      self.sites = sites
      self.fallbackHits = fallbackHits
      self.fallbackHitsInOptimizedCode = fallbackHitsInOptimizedCode
      self.probes = probes
      self.payloadType = payloadType
      self.problem = problem
    }

    func write(to w: inout BodyWriter) throws(ProtocolError) {
      try w.string(name); w.bool(isTracepoint); w.bool(state); w.bool(defaultValue); w.bool(declared)
      w.i64(count); w.u32(sites); w.u64(fallbackHits); w.u64(fallbackHitsInOptimizedCode); w.u16(probes)
      try w.string(payloadType); try w.string(problem)
      try w.string(holders); try w.string(forcedOff)
    }

    static func read(_ r: inout BodyReader) throws(ProtocolError) -> ListEntry {
      var e = ListEntry(
        name: try r.string("entry.name"), isTracepoint: try r.bool("entry.tracepoint"), state: try r.bool("entry.state"),
        defaultValue: try r.bool("entry.default"), declared: try r.bool("entry.declared"), count: try r.i64("entry.count"),
        sites: try r.u32("entry.sites"), fallbackHits: try r.u64("entry.fallbackHits"),
        fallbackHitsInOptimizedCode: try r.u64("entry.optimizedHits"), probes: try r.u16("entry.probes"),
        payloadType: try r.string("entry.payloadType"), problem: try r.string("entry.problem"))
      e.holders = try r.string("entry.holders")
      e.forcedOff = try r.string("entry.forcedOff")
      return e
    }

    /// Its size on the wire, in a `listPart`.
    public var encodedSize: Int {
      5 * 2 + name.utf8.count + payloadType.utf8.count + problem.utf8.count + holders.utf8.count + forcedOff.utf8.count
        + 4 + 8 + 4 + 8 + 8 + 2
    }
  }

  /// One key's part in a `set`.
  public struct Change: Sendable, Equatable {
    public var name: String
    public var before: Bool
    public var after: Bool
    public var declared: Bool
    public init(name: String, before: Bool, after: Bool, declared: Bool) {
      self.name = name
      self.before = before
      self.after = after
      self.declared = declared
    }
  }

  /// What one batch cost, measured in the target process (#17).
  public struct BatchCost: Sendable, Equatable {
    public var sitesPatched: UInt32
    /// "int3", "self-loop", "parked", "valgrind".
    public var patchProtocol: String
    public var syncs: UInt16
    public var nanoseconds: UInt64
    public init(sitesPatched: UInt32, patchProtocol: String, syncs: UInt16, nanoseconds: UInt64) {
      self.sitesPatched = sitesPatched
      self.patchProtocol = patchProtocol
      self.syncs = syncs
      self.nanoseconds = nanoseconds
    }
  }

  public var kind: Kind {
    switch self {
    case .forget: return .forget
    case .forgottenPart: return .forgottenPart
    case .hello: return .hello
    case .welcome: return .welcome
    case .error: return .error
    case .list: return .list
    case .listPart: return .listPart
    case .set: return .set
    case .setResultPart: return .setResultPart
    case .trace: return .trace
    case .traceStartedPart: return .traceStartedPart
    case .event: return .event
    case .traceEnd: return .traceEnd
    case .traceStop: return .traceStop
    case .ping: return .ping
    case .pong: return .pong
    case .debug: return .debug
    case .debugReplyPart: return .debugReplyPart
    }
  }

  /// The message as a frame; throws `.tooLarge` if it does not fit in
  /// one (a string over 65,535 bytes, a body over ``Frame/maxBody``).
  public func frame() throws(ProtocolError) -> Frame { Frame(type: kind.rawValue, body: try body()) }

  /// The message's bytes on the wire; throws `.tooLarge` as ``frame()``.
  public func encoded() throws(ProtocolError) -> [UInt8] { try frame().encoded() }

  func body() throws(ProtocolError) -> [UInt8] {
    var w = BodyWriter()
    switch self {
    case let .hello(lo, hi, client): w.u16(lo); w.u16(hi); try w.string(client)
    case let .welcome(v, pid, start, ns, program, abi, idle):
      w.u16(v); w.u32(pid); w.u64(start); w.u64(ns); try w.string(program); w.u32(abi); w.u32(idle)
    case let .error(code, message): w.u16(code.rawValue); try w.string(message)
    case .list, .traceStop, .ping, .pong: break
    case let .forget(names): try w.strings(names)
    case let .forgottenPart(last, names): w.bool(last); try w.strings(names)
    case let .listPart(last, entries):
      w.bool(last); try w.count(entries.count)
      for e in entries { try e.write(to: &w) }
    case let .set(enable, dryRun, hold, ttl, force, undeclared, patterns):
      w.bool(enable); w.bool(dryRun); w.bool(hold); w.u32(ttl); w.bool(force); w.bool(undeclared); try w.strings(patterns)
    case let .setResultPart(last, cost, changes):
      w.bool(last); w.bool(cost != nil)
      if let cost { w.u32(cost.sitesPatched); try w.string(cost.patchProtocol); w.u16(cost.syncs); w.u64(cost.nanoseconds) }
      try w.count(changes.count)
      for c in changes { try w.string(c.name); w.bool(c.before); w.bool(c.after); w.bool(c.declared) }
    case let .trace(maxEvents, duration, buffer, patterns):
      w.u32(maxEvents); w.u32(duration); w.u32(buffer); try w.strings(patterns)
    case let .traceStartedPart(last, buffer, names): w.bool(last); w.u32(buffer); try w.strings(names)
    case let .event(line): w.rest(line)
    case let .traceEnd(events, dropped, reason): w.u64(events); w.u64(dropped); try w.string(reason)
    case let .debug(command): try w.string(command)
    case let .debugReplyPart(last, lines): w.bool(last); try w.strings(lines)
    }
    return w.bytes
  }

  /// Decodes a frame. Throws for an unsupported version, an unknown type,
  /// or a body that does not parse exactly.
  public static func decode(_ f: Frame) throws(ProtocolError) -> Message {
    guard Frame.versions.contains(f.version) else { throw .unsupportedVersion(f.version) }
    guard let kind = Kind(rawValue: f.type) else { throw .unknownType(f.type) }
    var r = BodyReader(f.body)
    let m: Message
    switch kind {
    case .hello: m = .hello(minVersion: try r.u16("hello.min"), maxVersion: try r.u16("hello.max"), client: try r.string("hello.client"))
    case .welcome:
      m = .welcome(version: try r.u16("welcome.version"), pid: try r.u32("welcome.pid"), startTime: try r.u64("welcome.start"),
                   pidNamespace: try r.u64("welcome.pidns"), program: try r.string("welcome.program"),
                   runtimeABI: try r.u32("welcome.abi"), idleTimeoutMillis: try r.u32("welcome.idle"))
    case .error: m = .error(code: ErrorCode(rawValue: try r.u16("error.code")) ?? .unknown, message: try r.string("error.message"))
    case .list: m = .list
    case .traceStop: m = .traceStop
    case .ping: m = .ping
    case .pong: m = .pong
    case .listPart:
      let last = try r.bool("list.last")
      let n = Int(try r.u16("list.count"))
      var entries: [ListEntry] = []
      for _ in 0..<n { entries.append(try ListEntry.read(&r)) }
      m = .listPart(last: last, entries: entries)
    case .forget: m = .forget(names: try r.strings("forget.names"))
    case .forgottenPart: m = .forgottenPart(last: try r.bool("forgotten.last"), names: try r.strings("forgotten.names"))
    case .set:
      m = .set(enable: try r.bool("set.enable"), dryRun: try r.bool("set.dryRun"), hold: try r.bool("set.hold"),
               ttlMillis: try r.u32("set.ttl"), force: try r.bool("set.force"), undeclared: try r.bool("set.undeclared"),
               patterns: try r.strings("set.patterns"))
    case .setResultPart:
      let last = try r.bool("result.last")
      var cost: BatchCost?
      if try r.bool("result.hasCost") {
        cost = BatchCost(sitesPatched: try r.u32("cost.sites"), patchProtocol: try r.string("cost.protocol"),
                         syncs: try r.u16("cost.syncs"), nanoseconds: try r.u64("cost.ns"))
      }
      let n = Int(try r.u16("result.count"))
      var changes: [Change] = []
      for _ in 0..<n {
        changes.append(Change(name: try r.string("change.name"), before: try r.bool("change.before"),
                              after: try r.bool("change.after"), declared: try r.bool("change.declared")))
      }
      m = .setResultPart(last: last, cost: cost, changes: changes)
    case .trace:
      m = .trace(maxEvents: try r.u32("trace.max"), durationMillis: try r.u32("trace.duration"),
                 bufferEvents: try r.u32("trace.buffer"), patterns: try r.strings("trace.patterns"))
    case .traceStartedPart:
      m = .traceStartedPart(last: try r.bool("traceStarted.last"), bufferEvents: try r.u32("traceStarted.buffer"),
                            names: try r.strings("traceStarted.names"))
    case .event: m = .event(r.rest())
    case .traceEnd: m = .traceEnd(events: try r.u64("end.events"), dropped: try r.u64("end.dropped"), reason: try r.string("end.reason"))
    case .debug: m = .debug(command: try r.string("debug.command"))
    case .debugReplyPart: m = .debugReplyPart(last: try r.bool("debugReply.last"), lines: try r.strings("debugReply.lines"))
    }
    try r.finish(kind == .event ? "event" : "\(kind)")
    return m
  }

  /// Decodes every complete frame at the front of `buffer` (leaving a
  /// partial one there).
  public static func decodeAll(from buffer: inout [UInt8]) throws(ProtocolError) -> [Message] {
    var out: [Message] = []
    for f in try Frame.extract(from: &buffer) { out.append(try decode(f)) }
    return out
  }
}
