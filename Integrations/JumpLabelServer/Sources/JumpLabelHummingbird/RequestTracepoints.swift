import Tracepoints

/// The payload of ``Tracepoints/Tracepoint/hummingbirdRequestStart``: a
/// request as it enters the middleware. bpftrace reads `str(arg0)` (method)
/// and `str(arg1)` (path) at `usdt:BINARY:hummingbird:request_start`.
public struct HTTPRequestStart: USDTPayload {
  /// The request method, `GET`.
  public var method: String
  /// The request path as sent, `/items/42`.
  public var path: String

  /// A payload; built only while the tracepoint is enabled.
  public init(method: String, path: String) {
    self.method = method
    self.path = path
  }

  /// `(method, path)`.
  public var usdtArguments: USDTArguments2<String, String> { .init(method, path) }
}

/// The payload of ``Tracepoints/Tracepoint/hummingbirdRequestDone``: a
/// request whose handler returned or threw. bpftrace reads `str(arg0)`
/// (method), `str(arg1)` (route), `arg2` (status), `arg3` (nanoseconds) at
/// `usdt:BINARY:hummingbird:request_done`.
public struct HTTPRequestDone: USDTPayload {
  /// The request method, `GET`.
  public var method: String
  /// The matched route pattern, `/items/:id`; `-` if no route matched.
  public var route: String
  /// The response status code (the error's status if the handler threw;
  /// 500 for an error that has none).
  public var status: Int
  /// From the request's arrival at the middleware to its handler's return,
  /// in nanoseconds (the body may still be streaming).
  public var nanoseconds: Int

  /// A payload; built only while the tracepoint is enabled.
  public init(method: String, route: String, status: Int, nanoseconds: Int) {
    self.method = method
    self.route = route
    self.status = status
    self.nanoseconds = nanoseconds
  }

  /// `(method, route, status, nanoseconds)`.
  public var usdtArguments: USDTArguments4<String, String, Int, Int> { .init(method, route, status, nanoseconds) }
}

extension Tracepoint where Payload == HTTPRequestStart {
  /// `hummingbird.request.start`, emitted by ``RequestTracepointMiddleware``
  /// when a request arrives. USDT: provider `hummingbird`, name
  /// `request_start`.
  @inlinable public static var hummingbirdRequestStart: Self { Tracepoint("hummingbird.request.start") }
}

extension Tracepoint where Payload == HTTPRequestDone {
  /// `hummingbird.request.done`, emitted by ``RequestTracepointMiddleware``
  /// when a request's handler returns or throws. USDT: provider
  /// `hummingbird`, name `request_done`.
  @inlinable public static var hummingbirdRequestDone: Self { Tracepoint("hummingbird.request.done") }
}
