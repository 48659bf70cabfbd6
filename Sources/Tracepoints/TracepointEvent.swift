import Synchronization

/// One emitted event, as a sink sees it: which tracepoint, when, on which
/// thread, and the payload, type-erased. Valid only during the call that
/// receives it (the payload lives on the emitter's stack): copy what you
/// need (``jsonLine(into:)``, ``bitwisePayload``), never the event.
public struct TracepointEvent {
  /// The tracepoint's name.
  public var name: String { Unmanaged<ProbeList>.fromOpaque(list).takeUnretainedValue().name }
  /// When it was emitted: nanoseconds since the Unix epoch (CLOCK_REALTIME).
  public let timestamp: Int64
  /// The emitting thread's kernel thread id.
  public let threadID: Int32
  let payload: UnsafeRawPointer
  let codec: PayloadCodec
  /// The tracepoint's probe list (immortal): identifies it in ring records.
  let list: UnsafeRawPointer

  @usableFromInline
  init(timestamp: Int64, threadID: Int32, payload: UnsafeRawPointer, codec: PayloadCodec, list: UnsafeRawPointer) {
    self.list = list
    self.timestamp = timestamp
    self.threadID = threadID
    self.payload = payload
    self.codec = codec
  }

  /// The payload's type name.
  public var payloadType: String { codec.typeName }

  /// Writes the payload as JSON (through its `Encodable` conformance).
  public func encodePayload(into writer: inout JSONWriter) { codec.encode(payload, into: &writer) }

  /// The payload's bytes if its type is bitwise copyable (no references),
  /// nil otherwise: what the ring buffer stores without allocating.
  public var bitwisePayload: UnsafeRawBufferPointer? {
    codec.isBitwiseCopyable ? UnsafeRawBufferPointer(start: payload, count: codec.size) : nil
  }

  /// The event as one line of JSON (no newline): time, thread, tracepoint
  /// and payload.
  public func jsonLine(into w: inout JSONWriter) {
    w.event(timestamp: timestamp, threadID: threadID, name: name) { encodePayload(into: &$0) }
  }
}

/// Receives every event of the tracepoints it is attached to, on the
/// emitting thread. Must not block for long: it runs inside the emitter.
/// A class (an emit calls it through one reference, without boxing).
public protocol TracepointSink: AnyObject, Sendable {
  /// Called for every event, on the emitting thread, while the sink is
  /// attached. `event` is valid only during the call.
  func receive(_ event: borrowing TracepointEvent)
}

/// What the runtime knows of a payload type, so that events can be handled
/// without knowing it statically: its name, size, and how to encode it.
@usableFromInline
class PayloadCodec: @unchecked Sendable {
  // @unchecked: immutable after init.
  let typeName: String
  let size: Int
  let isBitwiseCopyable: Bool

  init(typeName: String, size: Int, isBitwiseCopyable: Bool) {
    self.typeName = typeName
    self.size = size
    self.isBitwiseCopyable = isBitwiseCopyable
  }

  func encode(_ payload: UnsafeRawPointer, into w: inout JSONWriter) { w.raw("null") }
}

/// The codec of `Payload`; one instance per type, created on first use.
@usableFromInline
final class TypedPayloadCodec<Payload: Encodable>: PayloadCodec, @unchecked Sendable {
  @usableFromInline static var shared: TypedPayloadCodec<Payload> { CodecCache.codec(for: Payload.self) }

  init() {
    super.init(typeName: String(describing: Payload.self), size: MemoryLayout<Payload>.size, isBitwiseCopyable: _isPOD(Payload.self))
  }

  override func encode(_ payload: UnsafeRawPointer, into w: inout JSONWriter) {
    w.encodable(payload.assumingMemoryBound(to: Payload.self).pointee)
  }
}

/// One codec per payload type (generic types cannot have stored statics).
enum CodecCache {
  private static let cache = Mutex<[ObjectIdentifier: PayloadCodec]>([:])

  static func codec<Payload: Encodable>(for type: Payload.Type) -> TypedPayloadCodec<Payload> {
    cache.withLock { c in
      if let found = c[ObjectIdentifier(type)] { return unsafeDowncast(found, to: TypedPayloadCodec<Payload>.self) }
      let made = TypedPayloadCodec<Payload>()
      c[ObjectIdentifier(type)] = made
      return made
    }
  }
}
