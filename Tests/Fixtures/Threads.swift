import Glibc
import Synchronization

/// Runs `body(index)` on `count` new threads and waits for all of them.
/// Real pthreads, so the bodies run in parallel with whatever the caller does
/// meanwhile in `during`.
public func withThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void, during: () -> Void) {
  final class Box: @unchecked Sendable {
    let body: @Sendable (Int) -> Void
    let index: Int
    init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) { self.body = body; self.index = index }
  }
  var threads: [pthread_t] = []
  for i in 0..<count {
    var t = pthread_t()
    let box = Unmanaged.passRetained(Box(body, i)).toOpaque()
    let rc = pthread_create(&t, nil, { arg in
      let box = Unmanaged<AnyObject>.fromOpaque(arg!).takeRetainedValue() as! Box
      box.body(box.index)
      return nil
    }, box)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    threads.append(t)
  }
  during()
  for t in threads { pthread_join(t, nil) }
}

/// The linearizability checker used by the live tests and the stress tool.
///
/// The toggler publishes `busy` before each toggle and the new expected
/// state after the toggle *returned*. A worker samples the word, executes
/// the site, samples again; if both samples are the same stable word, no
/// toggle began in between and the last one had returned, so the site must
/// agree with the word. Any disagreement is a violation.
public final class LinearizabilityProbe: Sendable {
  /// Bit 0: busy. Bit 1: expected state. Upper bits: toggle number.
  private let word = Atomic<UInt64>(0)
  private let violationsCount = Atomic<Int>(0)
  private let checksCount = Atomic<Int>(0)
  private let sawTrue = Atomic<Int>(0)
  private let sawFalse = Atomic<Int>(0)
  private let stopFlag = Atomic<Bool>(false)

  public init(initial: Bool) { word.store(initial ? 2 : 0, ordering: .sequentiallyConsistent) }

  /// Call before starting a toggle.
  public func beginToggle() {
    let w = word.load(ordering: .relaxed)
    word.store(w | 1, ordering: .sequentiallyConsistent)
  }

  /// Call after the toggle returned, with the state it established.
  public func endToggle(now enabled: Bool) {
    let w = word.load(ordering: .relaxed)
    word.store(((w >> 2) + 1) << 2 | (enabled ? 2 : 0), ordering: .sequentiallyConsistent)
  }

  /// One checked execution of `site`.
  @inline(__always)
  public func check(_ site: () -> Bool) {
    let before = word.load(ordering: .sequentiallyConsistent)
    let v = site()
    let after = word.load(ordering: .sequentiallyConsistent)
    if v { sawTrue.wrappingAdd(1, ordering: .relaxed) } else { sawFalse.wrappingAdd(1, ordering: .relaxed) }
    guard before == after, before & 1 == 0 else { return }
    checksCount.wrappingAdd(1, ordering: .relaxed)
    if v != (before & 2 != 0) { violationsCount.wrappingAdd(1, ordering: .relaxed) }
  }

  /// After `endToggle`: lets the workers run in the new stable state until
  /// one of them has checked an execution, for at most `limit` ns. Spins:
  /// yielding to a CPU-bound worker would cost a whole time slice.
  public func settle(limit: Int = 50_000) {
    let seen = checks
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    let deadline = ts.tv_sec * 1_000_000_000 + ts.tv_nsec + limit
    while checks == seen {
      clock_gettime(CLOCK_MONOTONIC, &ts)
      if ts.tv_sec * 1_000_000_000 + ts.tv_nsec > deadline { break }
    }
  }

  /// Asks workers to stop.
  public func stop() { stopFlag.store(true, ordering: .relaxed) }
  /// True once `stop()` was called.
  public var stopped: Bool { stopFlag.load(ordering: .relaxed) }
  /// Executions that contradicted a stable, returned toggle.
  public var violations: Int { violationsCount.load(ordering: .relaxed) }
  /// Executions that were checked (stable word on both sides).
  public var checks: Int { checksCount.load(ordering: .relaxed) }
  /// Executions that returned true / false.
  public var trueCount: Int { sawTrue.load(ordering: .relaxed) }
  /// See `trueCount`.
  public var falseCount: Int { sawFalse.load(ordering: .relaxed) }
}
