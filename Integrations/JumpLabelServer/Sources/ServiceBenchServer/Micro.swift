import Hummingbird
import JumpLabel
import JumpLabelHummingbird
import Logging

// `jumplabel-service-bench-server micro ROUNDS ITERATIONS`: each
// middleware's own cost per request, without the HTTP stack: `handle` called
// in a loop with a `next` that returns a prepared response, variants
// interleaved in each round; prints one JSON object of ns per call per
// variant and round. Where a full request costs ~25 µs of server CPU, this
// shows what each middleware adds to it.
//
// MetricsMiddleware's second clock read and its counters run in a
// post-write closure, which no body write triggers here: its figure is a
// lower bound.

/// A request context that needs no channel.
struct MicroSource: RequestContextSource {
  var logger: Logger
}

struct MicroContext: RequestContext {
  typealias Source = MicroSource
  var coreContext: CoreRequestContextStorage
  init(source: MicroSource) { coreContext = .init(source: source) }
}

/// Calls `next` and nothing else: the floor of a middleware call.
struct PassThroughMiddleware<Context: RequestContext>: RouterMiddleware {
  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    try await next(request, context)
  }
}

/// The handler of the loop: opaque to the optimiser, so that no variant's
/// loop is folded away (the pass-through's would be, otherwise).
final class Handler: @unchecked Sendable {
  // @unchecked: one task uses it.
  var calls = 0
  let response = Response(status: .ok)
  @inline(never) func respond() -> Response {
    calls &+= 1
    return response
  }
}

/// A pass-through with one key check in front (off): the cost of a site
/// where it is, for comparison with the middleware's two sites.
struct OneKeyMiddleware<Context: RequestContext>: RouterMiddleware {
  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    if StaticKey.benchDiagnostics.isEnabled { print("diagnostics for \(request.uri)") }
    return try await next(request, context)
  }
}

enum Micro {
  @inline(never)
  static func nsPerCall<M: RouterMiddleware>(_ middleware: M, _ request: Request, _ context: MicroContext, _ n: Int) async throws -> Double
  where M.Context == MicroContext {
    let handler = Handler()
    let start = ContinuousClock.now
    for _ in 0..<n { _ = try await middleware.handle(request, context: context) { _, _ in handler.respond() } }
    let (s, a) = (ContinuousClock.now - start).components
    precondition(handler.calls == n)  // our own loop, not input
    return (Double(s) * 1e9 + Double(a) / 1e9) / Double(n)
  }

  static func run(rounds: Int, iterations: Int) async throws {
    var logger = Logger(label: "micro")
    logger.logLevel = .info
    let context = MicroContext(source: MicroSource(logger: logger))
    let request = Request(head: HTTPRequest(method: .get, scheme: "http", authority: "127.0.0.1", path: "/items/42"),
                          body: RequestBody(buffer: ByteBuffer()))
    var results: [String: [Double]] = [:]
    for _ in 0..<rounds {
      results["passthrough", default: []].append(try await nsPerCall(PassThroughMiddleware(), request, context, iterations))
      results["onekey", default: []].append(try await nsPerCall(OneKeyMiddleware(), request, context, iterations))
      results["jumplabel", default: []].append(try await nsPerCall(RequestTracepointMiddleware(), request, context, iterations))
      results["log", default: []].append(try await nsPerCall(LogRequestsMiddleware(.debug), request, context, iterations))
      results["metrics", default: []].append(try await nsPerCall(MetricsMiddleware(), request, context, iterations))
      results["tracing", default: []].append(try await nsPerCall(TracingMiddleware(), request, context, iterations))
    }
    let body = results.keys.sorted().map { k in "\"\(k)\": [" + results[k]!.map { String($0) }.joined(separator: ", ") + "]" }
    print("{" + body.joined(separator: ", ") + "}")
  }
}
