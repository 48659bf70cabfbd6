import Tracepoints

/// The payload of `jltest.usdt.tick`: what bpftrace reads as arg0...arg3.
public struct USDTTick: USDTPayload {
  public var sequence: Int
  public var doubled: Int32
  public var label: String
  public var site: UInt8
  public init(sequence: Int, site: UInt8) {
    self.sequence = sequence
    self.doubled = Int32(truncatingIfNeeded: sequence &* 2)
    self.label = "tick"
    self.site = site
  }
  public var usdtArguments: USDTArguments4<Int, Int32, String, UInt8> { .init(sequence, doubled, label, site) }
}

/// A payload with the most arguments a probe point takes, of every width.
public struct USDTWide: USDTPayload {
  public var a: Int8, b: UInt16, c: Int32, d: UInt64, e: Bool
  public init(_ i: Int) { a = -1; b = 65_535; c = -100_000; d = UInt64(i); e = true }
  public var usdtArguments: USDTArguments6<Int8, UInt16, Int32, UInt64, Bool, StaticString> {
    .init(a, b, c, d, e, "wide")
  }
}

extension Tracepoint where Payload == USDTTick {
  /// Two emit sites (`USDTFixture.tickA`, `tickB`): one probe name, two
  /// probe points. Provider `jltest`, name `usdt_tick`.
  @inlinable public static var usdtTick: Self { Tracepoint("jltest.usdt.tick") }
}

extension Tracepoint where Payload == USDTWide {
  /// Provider `jltest`, name `usdt_wide_6` (the '-' becomes '_').
  @inlinable public static var usdtWide: Self { Tracepoint("jltest.usdt.wide-6") }
}

/// The emit sites, optimised in every configuration (Package.swift), so
/// that they are real NOP sites and real probe points in debug test runs.
public enum USDTFixture {
  /// Probe point 1 of `jltest:usdt_tick`.
  @inline(never) public static func tickA(_ i: Int) { Tracepoint.usdtTick.emit(USDTTick(sequence: i, site: 1)) }
  /// Probe point 2 of `jltest:usdt_tick`. Not the same code as `tickA`
  /// (the compiler would merge the two functions, and their probe points).
  @inline(never) public static func tickB(_ i: Int) {
    if i >= 0 { Tracepoint.usdtTick.emit(USDTTick(sequence: i, site: 2)) }
  }
  /// The probe point of `jltest:usdt_wide_6`.
  @inline(never) public static func wide(_ i: Int) { Tracepoint.usdtWide.emit(USDTWide(i)) }
}

/// The compile-time guard of probe points, both ways: each returns what
/// `_fire` returned (1 compiled, 0 refused, -1 no probe points in this
/// build).
public enum USDTGuard {
  /// A valid name: compiled.
  @inline(never) public static func valid() -> Int32 { USDTArguments1(7)._fire("jltest.usdt.guard") }
  /// No '.': refused.
  @inline(never) public static func dotless() -> Int32 { USDTArguments1(7)._fire("jltestguard") }
  /// A '/' in the name: refused.
  @inline(never) public static func badCharacter() -> Int32 { USDTArguments1(7)._fire("jltest.usdt/guard") }
  /// A '.' last: refused.
  @inline(never) public static func emptyName() -> Int32 { USDTArguments0()._fire("jltest.") }
  /// 95 bytes: the longest that fits.
  @inline(never) public static func longest() -> Int32 {
    USDTArguments0()._fire("jltest.a123456789b123456789c123456789d123456789e123456789f123456789g123456789h123456789i1234567")
  }
  /// 96 bytes: refused.
  @inline(never) public static func tooLong() -> Int32 {
    USDTArguments0()._fire("jltest.a123456789b123456789c123456789d123456789e123456789f123456789g123456789h123456789i1234567x")
  }
}
