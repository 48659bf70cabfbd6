import Glibc
import JumpLabel
import Tracepoints

/// One client connection, owned by the server thread.
final class Connection {
  let fd: Int32
  let peerPID: Int32
  let peerUID: UInt32
  unowned let server: ControlServer
  /// Bytes received and not yet parsed (at most a partial frame after parsing).
  var input: [UInt8] = []
  /// Bytes to send.
  var output: [UInt8] = []
  /// A message is half received (or hello is awaited) until then.
  var partialDeadline: UInt64?
  /// Hello was received and answered.
  var greeted = false
  /// The running trace, if any.
  var trace: TraceSession?
  /// When a byte last went either way (monotonic ns): the idle timeout
  /// counts from here.
  var lastActivity = monotonic()

  init(fd: Int32, peerPID: Int32, peerUID: UInt32, server: ControlServer) {
    self.fd = fd
    self.peerPID = peerPID
    self.peerUID = peerUID
    self.server = server
  }

  var peer: String { "pid \(peerPID) uid \(peerUID)" }

  /// True while the replies queued for this connection are under the
  /// server's output limit: only then are its requests read and handled.
  var acceptsRequests: Bool {
    output.count < server.options.outputLimit || server.options._disabledDefences.contains(.outputLimit)
  }

  /// Queues a message. A message that cannot be encoded (it would not fit
  /// in a frame: only a bug can build one, replies are split into parts)
  /// becomes an error reply, audited: never a crash.
  func send(_ m: Message) {
    do {
      output += try m.encoded()
    } catch {
      server.audit.write("a \(m.kind) reply to \(peer) could not be encoded (\(error)): sent an error instead")
      output += (try? Message.error(code: .tooLarge, message: "the reply does not fit in a message: \(error)").encoded()) ?? []
    }
  }

  /// Writes as much as the socket takes now (it is non-blocking).
  func flush() {
    while !output.isEmpty {
      let n = output.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      if n > 0 {
        output.removeFirst(n)
        lastActivity = monotonic()
        continue
      }
      if n < 0 && errno == EINTR { continue }
      return  // EAGAIN: later; an error: the next read sees the close
    }
  }
}

/// A trace streaming to one connection: a ring buffer sink attached to
/// each matched tracepoint, drained by the server thread every 10 ms.
/// Emitting threads only write into the ring: a slow client never blocks
/// them; it loses the oldest events instead, and the count is reported.
final class TraceSession {
  let ring: RingBufferSink
  /// What the ring costs, counted against the server's trace memory limit.
  let bytes: Int
  var handles: [ProbeHandle] = []
  let maxEvents: UInt64
  let endsAt: UInt64?
  var sent: UInt64 = 0

  init(ring: RingBufferSink, bytes: Int, maxEvents: UInt64, endsAt: UInt64?) {
    self.ring = ring
    self.bytes = bytes
    self.maxEvents = maxEvents
    self.endsAt = endsAt
  }

  func detachAll() {
    for h in handles { h.detach() }
    handles.removeAll()
  }
}

/// A change to undo later, or a lease to end: after a ttl, or when the
/// connection that made it with `--hold` closes.
struct Revert {
  /// The keys the change really switched (for a debug lease: the keys of
  /// the statements it changed).
  let names: [String]
  /// The state they had before, and go back to (not used by a debug
  /// lease: its statements go back to `debugLease`'s flags).
  let to: Bool
  /// Due time (ttl), if any.
  let due: UInt64?
  /// The holding connection, if any.
  let connection: Int32?
  /// Who made the change.
  let peer: String
  /// The lease holding the keys on (an enable with a ttl or a hold): it
  /// ends by releasing its share, not by switching them (Leases.swift).
  var lease: StaticKeyHolder? = nil
  /// A debug query with a lease (`ctl debug --ttl/--hold`): the flags of
  /// each statement it changed, before and after; it ends by putting them
  /// back, `p` and decorations (DebugLeases.swift).
  var debugLease: [String: DynamicDebug.FlagChange]? = nil
}
