import JumpLabel

// Keys of the in-process tests, one per test so that tests running in
// parallel do not share a key. Declared as the README says, so that their
// uses are real sites in a release build.
extension StaticKey {
  @inlinable static var spanGate: StaticKey { StaticKey("svc-test.span-gate") }
  @inlinable static var configFollow: StaticKey { StaticKey("svc-test.config.follow") }
  @inlinable static var configOverride: StaticKey { StaticKey("svc-test.config.override") }
  @inlinable static var configTracer: StaticKey { StaticKey("svc-test.config.tracer") }
  @inlinable static var configBatchA: StaticKey { StaticKey("svc-test.config.batch-a") }
  @inlinable static var configBatchB: StaticKey { StaticKey("svc-test.config.batch-b") }
  @inlinable static var configDropped: StaticKey { StaticKey("svc-test.config.dropped") }
  @inlinable static var configUntouched: StaticKey { StaticKey("svc-test.config.untouched", default: true) }
}

/// Uses every key once, so that each has a site and `StaticKeys.list()`
/// declares it.
@inline(never) func touchTestKeys() -> Int {
  var n = 0
  if StaticKey.configFollow.isEnabled { n += 1 }
  if StaticKey.configOverride.isEnabled { n += 1 }
  if StaticKey.configTracer.isEnabled { n += 1 }
  if StaticKey.configBatchA.isEnabled { n += 1 }
  if StaticKey.configBatchB.isEnabled { n += 1 }
  if StaticKey.configUntouched.isEnabled { n += 1 }
  if StaticKey.configDropped.isEnabled { n += 1 }
  return n
}
