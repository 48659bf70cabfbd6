import Tracepoints

/// The payload of `jltestlib.usdt.libtick`, a tracepoint in a library that
/// the harness dlopens: bpftrace reads (sequence, tripled).
public struct LibTick: USDTPayload {
  public var sequence: Int
  public var tripled: Int
  public var usdtArguments: USDTArguments2<Int, Int> { .init(sequence, tripled) }
}

extension Tracepoint where Payload == LibTick {
  @inlinable static var libTick: Self { Tracepoint("jltestlib.usdt.libtick") }
}

/// One emit of `jltestlib.usdt.libtick` (provider `jltestlib`, name
/// `usdt_libtick`).
@_cdecl("jl_test_usdt_lib_emit")
public func jlTestUSDTLibEmit(_ i: Int) { Tracepoint.libTick.emit(LibTick(sequence: i, tripled: 3 &* i)) }
