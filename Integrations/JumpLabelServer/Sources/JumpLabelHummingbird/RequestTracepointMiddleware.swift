public import Hummingbird
public import Tracepoints

/// Emits the tracepoints `hummingbird.request.start` and
/// `hummingbird.request.done` for every request, visible to
/// `jumplabel ctl trace` and, as USDT probes, to bpftrace and perf.
///
/// ```swift
/// let router = Router()
/// router.add(middleware: RequestTracepointMiddleware())
/// ```
///
/// While nobody listens, a request costs two NOP sites and the call to
/// `next`: no clock is read, no string is built, nothing is allocated.
/// The start time is read only if `hummingbird.request.done` was enabled
/// when the request arrived, so a request in flight while a tracer attaches
/// emits no done event.
///
/// Add it last (innermost) to see the matched route: the route pattern is
/// read from the context's `endpointPath` after the handler returned.
public struct RequestTracepointMiddleware<Context: RequestContext>: RouterMiddleware {
  /// A middleware; it has no state.
  public init() {}

  /// Emits the start event if enabled, then the done event if enabled.
  @inlinable
  public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    // Each check below is one site: a 5-byte NOP while the tracepoint is
    // disabled. The payloads are built out of line, behind them.
    if Tracepoint.hummingbirdRequestStart.isEnabled { Self.emitStart(request) }
    guard Tracepoint.hummingbirdRequestDone.isEnabled else { return try await next(request, context) }
    return try await Self.timed(request, context: context, next: next)
  }

  /// The start event, out of line so that the disabled path stays small.
  @usableFromInline @inline(never)
  static func emitStart(_ request: Request) {
    Tracepoint.hummingbirdRequestStart.emit(HTTPRequestStart(method: request.method.rawValue, path: request.uri.path))
  }

  /// Runs `next` between two clock reads and emits the done event, also
  /// when `next` throws (then with the error's status).
  @usableFromInline
  static func timed(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    let start = ContinuousClock.now
    do {
      let response = try await next(request, context)
      emitDone(request, context: context, status: Int(response.status.code), since: start)
      return response
    } catch {
      let status = (error as? any HTTPResponseError)?.status.code ?? 500
      emitDone(request, context: context, status: Int(status), since: start)
      throw error
    }
  }

  @usableFromInline @inline(never)
  static func emitDone(_ request: Request, context: Context, status: Int, since start: ContinuousClock.Instant) {
    let elapsed = (ContinuousClock.now - start).components
    let ns = Int(elapsed.seconds) &* 1_000_000_000 &+ Int(elapsed.attoseconds / 1_000_000_000)
    Tracepoint.hummingbirdRequestDone.emit(
      HTTPRequestDone(method: request.method.rawValue, route: context.endpointPath ?? "-", status: status, nanoseconds: ns))
  }
}
