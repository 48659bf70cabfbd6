import JumpLabel

/// A tracepoint: a named event with a payload, emitted from hot code, that
/// costs one NOP at each emit site while nobody listens.
///
/// Declare tracepoints like static keys, as computed properties, so that
/// every emit site sees the literal name:
///
/// ```swift
/// struct RequestStart: Encodable, Sendable { var method: String; var path: String }
/// extension Tracepoint where Payload == RequestStart {
///     @inlinable static var requestStart: Self { Tracepoint("http.request.start") }
/// }
/// Tracepoint.requestStart.emit(RequestStart(method: m, path: p))
/// ```
///
/// While no probe is attached, the emit site is the NOP of the tracepoint's
/// static key (same name): the payload expression is not evaluated, nothing
/// is allocated and no function is called. Attaching the first probe
/// increments the key, so the sites start calling the probes; detaching
/// the last one decrements it, deferred by ``Tracepoints/detachDelay`` so
/// that a burst of attach and detach patches code at most once per delay.
public struct Tracepoint<Payload: Encodable & Sendable>: Sendable, CustomStringConvertible {
  /// The tracepoint's name; also its key's.
  public let name: StaticString

  /// Declares a tracepoint. The name must be a literal.
  @inlinable @inline(__always)
  public init(_ name: _const StaticString) { self.name = name }

  /// The static key that switches this tracepoint's emit sites.
  @inlinable
  public var key: StaticKey { StaticKey(_literalFromWrapper: name) }

  /// Emits an event: calls every attached probe on this thread, in attach
  /// order. `payload` is evaluated only if the tracepoint is enabled.
  @inlinable @inline(__always)
  public func emit(_ payload: @autoclosure () -> Payload) {
    if key._site(likely: false, tracepoint: true) { _emit(payload()) }
  }

  /// A site of this tracepoint's key, for code that prepares a payload in
  /// several steps: `if tp.isEnabled { ... tp.emit(p) }`.
  @inlinable @inline(__always)
  public var isEnabled: Bool { key._site(likely: false, tracepoint: true) }

  /// The out-of-line part of `emit`: runs the probes. Inlinable (so that it
  /// is specialised for `Payload` where it is used) but never inlined into
  /// the emit site, which stays one NOP and a jump.
  @inlinable @inline(never)
  public func _emit(_ payload: Payload) {
    ProbeRegistry.shared.list(for: name)._withUnsafeGuaranteedRef { $0.emit(payload) }
  }

  /// Attaches `probe`: from now on every emit calls it, on the emitting
  /// thread, after the probes attached before it. The first probe enables
  /// the tracepoint. Throws (and attaches nothing) if the key cannot be
  /// enabled.
  public func attach(_ probe: @escaping @Sendable (Payload) -> Void) throws(JumpLabelError) -> ProbeHandle {
    try ProbeRegistry.shared.list(for: name).takeUnretainedValue().attach(
      .typed(ObjectIdentifier(Payload.self), TypedProbe(probe)), key: key, holder: nil)
  }

  /// Attaches a sink (JSON Lines, ring buffer, or your own), which sees
  /// each event in its type-erased form.
  public func attach(_ sink: some TracepointSink) throws(JumpLabelError) -> ProbeHandle {
    let list = ProbeRegistry.shared.list(for: name).takeUnretainedValue()
    list.noteCodec(TypedPayloadCodec<Payload>.shared)
    return try list.attach(.sink(sink), key: key, holder: nil)
  }

  public var description: String { name.description }
}

/// The typed closure of a probe, boxed so that the probe list can hold
/// probes of any payload type.
@usableFromInline
final class TypedProbe<Payload>: Sendable {
  @usableFromInline let body: @Sendable (Payload) -> Void
  init(_ body: @escaping @Sendable (Payload) -> Void) { self.body = body }
}
