import JumpLabel

// The sample's keys. Declare keys as `@inlinable static var`s with literal
// names: each `if StaticKey.x.isEnabled` is then a 5-byte NOP in a release
// build until someone switches the key on (`jumplabel ctl enable`, or the
// configuration file: `"jumplabel": {"keys": {"sample.items.diagnostics": true}}`).
extension StaticKey {
  /// Adds an `x-diagnostics` header to `/items/:id` responses.
  @inlinable static var itemDiagnostics: StaticKey { StaticKey("sample.items.diagnostics") }
  /// Opens a span around the item lookup (sent to the bootstrapped tracer).
  @inlinable static var itemSpans: StaticKey { StaticKey("sample.items.spans") }
  /// Counts lookups per item id (what an operator switches on to find a
  /// hot item), readable at `/debug/hot-items`.
  @inlinable static var countLookups: StaticKey { StaticKey("sample.items.count-lookups") }
}
