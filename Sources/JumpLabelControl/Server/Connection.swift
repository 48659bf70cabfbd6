import Glibc
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

  /// Output beyond this is not queued: a trace stops draining its buffer
  /// (which then overwrites, counting drops) until the client reads.
  static let outputLimit = 1 << 20

  init(fd: Int32, peerPID: Int32, peerUID: UInt32, server: ControlServer) {
    self.fd = fd
    self.peerPID = peerPID
    self.peerUID = peerUID
    self.server = server
  }

  var peer: String { "pid \(peerPID) uid \(peerUID)" }

  func send(_ m: Message) { output += m.frame.bytes }

  /// Writes as much as the socket takes now (it is non-blocking).
  func flush() {
    while !output.isEmpty {
      let n = output.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      if n > 0 {
        output.removeFirst(n)
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
  var handles: [ProbeHandle] = []
  let maxEvents: UInt64
  let endsAt: UInt64?
  var sent: UInt64 = 0

  init(ring: RingBufferSink, maxEvents: UInt64, endsAt: UInt64?) {
    self.ring = ring
    self.maxEvents = maxEvents
    self.endsAt = endsAt
  }

  func detachAll() {
    for h in handles { h.detach() }
    handles.removeAll()
  }
}

/// A change to undo later: after a ttl, or when the connection that made
/// it with `--hold` closes.
struct Revert {
  /// The keys the change really switched.
  let names: [String]
  /// The state they had before, and go back to.
  let to: Bool
  /// Due time (ttl), if any.
  let due: UInt64?
  /// The holding connection, if any.
  let connection: Int32?
  /// Who made the change.
  let peer: String
}
