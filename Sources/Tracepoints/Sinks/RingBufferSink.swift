import CTracepoints
import Glibc
import Synchronization

/// Keeps the last events in memory: a bounded ring that overwrites the
/// oldest records and counts the ones lost that way. For "what happened
/// just before" (dump it on an error, or from a control tool).
///
/// Writing never waits and never allocates for a payload whose type is
/// bitwise copyable (no references: its bytes are copied into the slot).
/// Other payloads are encoded to JSON at emit time, which allocates.
/// Payloads larger than a slot are cut (``TraceRecord/truncated``).
public final class RingBufferSink: TracepointSink, @unchecked Sendable {
  // @unchecked: the ring is written lock-free (ring.c); reads are
  // serialised by `reader`.
  private let ring: OpaquePointer
  private let reader = Mutex<Void>(())

  /// A ring of at least `capacity` records (rounded up to a power of two)
  /// of up to `payloadCapacity` payload bytes each.
  public init(capacity: Int = 4096, payloadCapacity: Int = 128) throws(SinkError) {
    guard let r = tpx_ring_create(UInt32(clamping: capacity), UInt32(clamping: payloadCapacity)) else { throw .outOfMemory }
    ring = r
  }

  deinit { tpx_ring_destroy(ring) }

  /// Copies `event` into the next slot, overwriting the oldest record if
  /// the ring is full (counted in ``dropped``). Never waits; allocates only
  /// to encode a payload that is not bitwise copyable.
  public func receive(_ event: borrowing TracepointEvent) {
    var h = tpx_ring_record()
    h.timestamp = event.timestamp
    h.list = UInt(bitPattern: event.list)
    h.codec = UInt(bitPattern: Unmanaged.passUnretained(event.codec).toOpaque())
    h.thread_id = event.threadID
    if let bytes = event.bitwisePayload, bytes.count <= tpx_ring_payload_capacity(ring) {
      h.kind = 0
      tpx_ring_write(ring, &h, bytes.baseAddress, UInt32(bytes.count))
    } else {
      var w = JSONWriter()
      event.encodePayload(into: &w)
      h.kind = 1
      w.bytes.withUnsafeBytes { tpx_ring_write(ring, &h, $0.baseAddress, UInt32(clamping: $0.count)) }
    }
  }

  /// Takes the records written since the last drain, oldest first.
  public func drain() -> [TraceRecord] {
    reader.withLock { _ in
      let cap = Int(tpx_ring_payload_capacity(ring))
      var out: [TraceRecord] = []
      let batch = 256
      var headers = [tpx_ring_record](repeating: tpx_ring_record(), count: batch)
      var payloads = [UInt8](repeating: 0, count: batch * cap)
      while true {
        let n = Int(headers.withUnsafeMutableBufferPointer { h in
          payloads.withUnsafeMutableBufferPointer { p in tpx_ring_read(ring, h.baseAddress, p.baseAddress, UInt32(batch)) }
        })
        for i in 0..<n {
          let h = headers[i]
          let bytes = Array(payloads[(i * cap)..<(i * cap + Int(h.length))])
          out.append(TraceRecord(header: h, payload: bytes))
        }
        if n < batch { break }
      }
      return out
    }
  }

  /// Records lost because they were overwritten before a drain took them.
  public var dropped: Int { reader.withLock { _ in Int(tpx_ring_dropped(ring)) } }

  /// Records ever written.
  public var written: Int { Int(tpx_ring_written(ring)) }
}

/// A record taken from a ``RingBufferSink``.
public struct TraceRecord: Sendable, Hashable, CustomStringConvertible {
  /// The tracepoint's name.
  public let name: String
  /// Nanoseconds since the Unix epoch.
  public let timestamp: Int64
  /// The emitting thread's kernel thread id.
  public let threadID: Int32
  /// The payload as JSON.
  public let payloadJSON: String
  /// The payload did not fit in a slot and was cut.
  public let truncated: Bool

  init(header h: tpx_ring_record, payload: [UInt8]) {
    let list = Unmanaged<ProbeList>.fromOpaque(UnsafeRawPointer(bitPattern: h.list)!).takeUnretainedValue()
    let codec = Unmanaged<PayloadCodec>.fromOpaque(UnsafeRawPointer(bitPattern: h.codec)!).takeUnretainedValue()
    name = list.name
    timestamp = h.timestamp
    threadID = h.thread_id
    truncated = h.truncated != 0
    if h.kind == 0 && !truncated && payload.count == codec.size {
      var w = JSONWriter()
      payload.withUnsafeBytes { codec.encode($0.baseAddress!, into: &w) }
      payloadJSON = String(decoding: w.bytes, as: UTF8.self)
    } else {
      payloadJSON = String(decoding: payload, as: UTF8.self)
    }
  }

  /// The record as one line of JSON, like the JSON Lines sink's.
  public var jsonLine: String {
    var w = JSONWriter()
    w.event(timestamp: timestamp, threadID: threadID, name: name) { $0.raw(truncated ? "null" : payloadJSON) }
    return String(decoding: w.bytes, as: UTF8.self)
  }

  public var description: String { jsonLine }
}
