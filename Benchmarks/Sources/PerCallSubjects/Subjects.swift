// The checks under measurement, one non-inlined public function each.
//
// Each function does what a hot path does with a rarely-wanted feature:
// check whether it is on, and if so do a little work (here: count in
// `guardedWork`). The functions live in their own module, and the loops
// that call them live in the callers (Benchmarks/PerCallCosts and
// Sources/InstructionCounts), so the optimiser of the caller sees only a
// declaration: every iteration is a real call, and nothing can be hoisted
// out of the loop or deleted. The empty function is the floor: the cost of
// the call and the loop alone.

import JumpLabel
import Logging
import Synchronization
import Tracepoints

// MARK: - Keys and tracepoints

extension StaticKey {
  /// A default-false key that is never enabled: its site stays a NOP.
  @inlinable static var benchDisabled: StaticKey { StaticKey("bench.disabled") }

  /// A default-false key that ``PerCallSetup/prepare(_:)`` enables: its
  /// site is a `jmp` to the out-of-line enabled path.
  @inlinable static var benchEnabled: StaticKey { StaticKey("bench.enabled") }

  /// A default-false key that is only ever read through ``opaque(_:)``,
  /// so that its reads are the runtime's fallback, never a patched site.
  @inlinable static var benchFallback: StaticKey { StaticKey("bench.fallback") }
}

/// The payload of the tracepoint benchmarks: bitwise copyable, so a ring
/// buffer sink copies its bytes and allocates nothing.
public struct BenchSample: Encodable, Sendable {
  /// An integer field.
  public var a: Int
  /// A floating-point field.
  public var b: Double

  /// A sample with both fields.
  @inlinable
  public init(a: Int, b: Double) {
    self.a = a
    self.b = b
  }
}

extension Tracepoint where Payload == BenchSample {
  /// A tracepoint with a `RingBufferSink` attached (by ``PerCallSetup``).
  @inlinable static var benchRing: Self { Tracepoint("bench.ring") }

  /// A tracepoint nobody ever attaches to: its emit site stays a NOP.
  @inlinable static var benchOff: Self { Tracepoint("bench.off") }
}

// MARK: - State the checks read

/// How many times a guarded path ran (internal, so that the optimiser can
/// drop the dynamic exclusivity check of the increment).
nonisolated(unsafe) var guardedWorks = 0

/// How many times a guarded path ran; read after the loops so that the
/// guarded work is observable.
public var guardedWorkCount: Int { guardedWorks }

/// The plain global flag of the `global-bool` variant. Never set by the
/// measurements; ``setFlags(plain:hook:)`` writes it, so that the optimiser
/// cannot prove that it stays `false`. Internal, as a module's own flag
/// would be: a public global `var` gets a dynamic exclusivity check
/// (`swift_beginAccess`) at every read.
nonisolated(unsafe) var plainFlag = false

/// The flag of the `atomic-relaxed` variant; never set.
let atomicFlag = Atomic<Bool>(false)

/// The hook of the `optional-hook` variant; stays `nil` in the
/// measurements (internal, written only by ``setFlags(plain:hook:)``).
nonisolated(unsafe) var hook: (() -> Void)? = nil

/// Sets the global flag and the hook. The measurements never call it; it
/// exists so that neither global is a compile-time constant.
@inline(never)
public func setFlags(plain: Bool, hook newHook: (() -> Void)?) {
  plainFlag = plain
  hook = newHook
}

/// The work behind each check: counts, out of line, so that a taken
/// branch costs a call like real work would.
@inline(never)
func guardedWork() {
  guardedWorks &+= 1
}

/// Hides a key from the optimiser: its result is not a literal, so a
/// check on it compiles to a call to the runtime's fallback read, the way
/// every site does in a debug build.
@inline(never)
func opaque(_ k: StaticKey) -> StaticKey { k }

// MARK: - The subjects

/// 1. A disabled static-key site: one 5-byte NOP, then return.
@inline(never)
public func disabledKeySite() {
  if StaticKey.benchDisabled.isEnabled { guardedWork() }
}

/// 2. An enabled static-key site: a `jmp` to the out-of-line path, which
/// calls ``guardedWork()``.
@inline(never)
public func enabledKeySite() {
  if StaticKey.benchEnabled.isEnabled { guardedWork() }
}

/// 3. A plain global `Bool`: load, test, branch.
@inline(never)
public func globalBoolCheck() {
  if plainFlag { guardedWork() }
}

/// 4. A relaxed atomic load of a global `Atomic<Bool>`.
@inline(never)
public func atomicRelaxedCheck() {
  if atomicFlag.load(ordering: .relaxed) { guardedWork() }
}

/// 5. swift-log: `trace` on a logger whose level is `.info`, so the
/// message is dropped after the level check.
@inline(never)
public func swiftLogTrace(_ logger: Logger) {
  logger.trace("per-call trace message")
}

/// 6. An optional closure hook that is `nil`.
@inline(never)
public func optionalHookCall() {
  hook?()
}

/// 7. The fallback read: a check on a key the compiler cannot see, which
/// calls into the runtime (what every site does in a debug build).
@inline(never)
public func fallbackRead() {
  if opaque(StaticKey.benchFallback).isEnabled { guardedWork() }
}

/// 8. The floor: an empty non-inlined function. Not optimised, because
/// the optimiser would otherwise see that it does nothing and drop the
/// calls to it (the same device as package-benchmark's `blackHole`); its
/// machine code is what an optimised empty function is here: frame
/// pointer in and out, `ret`.
@inline(never) @_optimize(none)
public func emptyCall() {}

/// 9. A tracepoint emit into an attached `RingBufferSink`.
@inline(never)
public func tracepointRingEmit() {
  Tracepoint.benchRing.emit(BenchSample(a: 42, b: 2.5))
}

/// 10. A tracepoint emit that nobody listens to: a NOP site.
@inline(never)
public func tracepointDisabledEmit() {
  Tracepoint.benchOff.emit(BenchSample(a: 42, b: 2.5))
}
