public import JumpLabel
public import Tracing

/// Runs `body` inside a span of the bootstrapped tracer while `key` is
/// enabled, and runs it directly while it is off.
///
/// ```swift
/// extension StaticKey {
///     @inlinable static var traceCheckout: StaticKey { StaticKey("app.spans.checkout") }
/// }
/// try await withSpan(if: .traceCheckout, "checkout") { span in
///     span?.attributes["cart.items"] = items.count
///     return try await checkout(items)
/// }
/// ```
///
/// Off, the call costs the key's NOP site: `operationName` is not
/// evaluated, and no task-local is read, no lock taken and no span boxed
/// (a plain `withSpan` with no tracer does all three); `body` gets `nil`.
/// On, it is swift-distributed-tracing's `withSpan`: the span goes to
/// whatever `InstrumentationSystem.bootstrap` installed (swift-otel's
/// exporter in production), as a child of the task's current span.
/// Declare `key` as an `@inlinable static var` so the check is a site.
@inlinable @inline(__always)
public func withSpan<T>(
  if key: StaticKey,
  _ operationName: @autoclosure () -> String,
  ofKind kind: SpanKind = .internal,
  isolation: isolated (any Actor)? = #isolation,
  _ body: ((any Span)?) async throws -> T
) async rethrows -> T {
  guard key.isEnabled else { return try await body(nil) }
  return try await Tracing.withSpan(operationName(), ofKind: kind, isolation: isolation) { span in try await body(span) }
}

/// The synchronous form of ``withSpan(if:_:ofKind:isolation:_:)``.
@inlinable @inline(__always)
public func withSpan<T>(
  if key: StaticKey,
  _ operationName: @autoclosure () -> String,
  ofKind kind: SpanKind = .internal,
  _ body: ((any Span)?) throws -> T
) rethrows -> T {
  guard key.isEnabled else { return try body(nil) }
  return try Tracing.withSpan(operationName(), ofKind: kind) { span in try body(span) }
}
