import CTracepoints
import JumpLabel

/// A tracepoint payload that tools outside the process can read: each emit
/// site of a tracepoint with such a payload is also a USDT probe point,
/// which `bpftrace`, `perf` and SystemTap list and attach to.
///
/// ```swift
/// struct RequestStart: USDTPayload {
///     var method: String
///     var status: Int
///     var usdtArguments: USDTArguments2<String, Int> { .init(method, status) }
/// }
/// ```
///
/// Up to six arguments: integers of any width, `Bool`, `String`,
/// `StaticString` and C strings (``USDTArgument``). bpftrace reads them as
/// `arg0`...`arg5`, strings with `str(argN)`.
public protocol USDTPayload: Encodable, Sendable {
  /// The probe point's arguments' type: `USDTArguments0`...`USDTArguments6`.
  associatedtype USDTArguments: USDTArgumentList
  /// This payload's values for the probe point, in order. Read only while
  /// a tracer is attached (the probe's semaphore is non-zero).
  var usdtArguments: USDTArguments { get }
}

extension Tracepoint where Payload: USDTPayload {
  /// Emits an event: runs the USDT probe point if a tracer is attached to
  /// it (a NOP that the tracer's breakpoint replaces), then every attached
  /// probe. While the tracepoint is disabled the site is one NOP and
  /// `payload` is not evaluated.
  @inlinable @inline(__always)
  public func emit(_ payload: @autoclosure () -> Payload) {
    if key._site(likely: false, tracepoint: true) {
      let p = payload()
      // The probe point is built here, inline, where the name is a
      // constant. Its arguments are computed only while the semaphore
      // says a tracer is attached.
      let semaphore = _usdtSemaphore
      if semaphore > 0 {
        if p.usdtArguments._fire(name) == 0 { USDT._notCompiled(name) }
      } else if semaphore == -2 {
        USDT._notCompiled(name)
      }
      _emit(p)
    }
  }

  /// The semaphore of this tracepoint's probe points in this image: > 0
  /// while a tracer is attached; -1 in a build without probe points; -2
  /// where the probe point could not be compiled.
  ///
  /// Public only so that code inlined into other modules can reach it;
  /// not API: do not call it, it may change in any release.
  @inlinable @inline(__always)
  public var _usdtSemaphore: Int32 {
    guard name.hasPointerRepresentation else { return -2 }
    return jl_usdt_semaphore(UnsafeRawPointer(name.utf8Start), name.utf8CodeUnitCount)
  }
}
