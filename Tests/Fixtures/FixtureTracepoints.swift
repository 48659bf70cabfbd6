import Tracepoints

/// A trivially copyable payload (the ring buffer stores its bytes).
public struct FixtureSample: Encodable, Sendable, Equatable {
  public var sequence: Int
  public var value: Double
  public init(sequence: Int, value: Double) { self.sequence = sequence; self.value = value }
}

/// A payload with references (encoded to JSON by the ring buffer).
public struct FixtureRequest: Encodable, Sendable, Equatable {
  public var method: String
  public var path: String
  public var status: Int
  public init(method: String, path: String, status: Int) { self.method = method; self.path = path; self.status = status }
}

extension Tracepoint where Payload == FixtureSample {
  /// Emitted by `Fixture.emitSample`.
  @inlinable public static var fixtureSample: Self { Tracepoint("fixture.trace.sample") }
  /// Only emitted by the detach test.
  @inlinable public static var fixtureDetach: Self { Tracepoint("fixture.trace.detach") }
  /// Attached to and forced off by the forced-disable test.
  @inlinable public static var fixtureForced: Self { Tracepoint("fixture.trace.forced") }
  /// Never attached to: its site must stay a NOP.
  @inlinable public static var fixtureQuiet: Self { Tracepoint("fixture.trace.quiet") }
}

extension Tracepoint where Payload == FixtureRequest {
  /// Emitted by `Fixture.emitRequest`.
  @inlinable public static var fixtureRequest: Self { Tracepoint("fixture.trace.request") }
}

extension Fixture {
  /// One emit site of `fixture.trace.sample`.
  @inline(never) public static func emitSample(_ i: Int) { Tracepoint.fixtureSample.emit(FixtureSample(sequence: i, value: Double(i) / 2)) }
  /// One emit site of `fixture.trace.request`.
  @inline(never) public static func emitRequest(_ i: Int) {
    Tracepoint.fixtureRequest.emit(FixtureRequest(method: "GET", path: "/item/\(i)", status: 200))
  }
  /// One emit site of `fixture.trace.forced`.
  @inline(never) public static func emitForced(_ i: Int) { Tracepoint.fixtureForced.emit(FixtureSample(sequence: i, value: 0)) }
  /// One emit site of `fixture.trace.detach`.
  @inline(never) public static func emitDetach(_ i: Int) { Tracepoint.fixtureDetach.emit(FixtureSample(sequence: i, value: 0)) }
  /// One emit site of `fixture.trace.quiet`, whose payload expression has a
  /// side effect: it must never run while the tracepoint is disabled.
  @inline(never) public static func emitQuiet(_ sideEffect: () -> Int) {
    Tracepoint.fixtureQuiet.emit(FixtureSample(sequence: sideEffect(), value: 0))
  }
}
