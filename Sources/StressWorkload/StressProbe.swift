import Synchronization

/// Linearizability checker for several keys at once.
///
/// The toggler sets the busy bit before a toggle and, after the toggle
/// returned, publishes the new expected states with a new epoch. A worker
/// samples the word, runs a workload function, samples again. If both
/// samples are the same non-busy word, no toggle began in between and the
/// last one had returned, so every key the function's sites test must read
/// as the word says. Sound because a toggle's first byte write happens
/// after its busy store, and membarrier makes that ordering visible to
/// every thread that fetches the patched bytes.
package final class StressProbe: Sendable {
  // bit 0: busy; bits 1...16: expected key states; bits 17...: epoch
  private let word: Atomic<UInt64>
  package let violations = Atomic<Int>(0)
  package let checks = Atomic<Int>(0)
  package let executions = Atomic<Int>(0)
  package let stop = Atomic<Bool>(false)
  /// The last epoch in which some worker made a checked execution.
  package let checkedEpoch = Atomic<UInt64>(0)

  package init(initial: UInt16) { word = Atomic(UInt64(initial) << 1) }

  package var expected: UInt16 { UInt16(truncatingIfNeeded: word.load(ordering: .relaxed) >> 1) }

  package func beginToggle() {
    word.store(word.load(ordering: .relaxed) | 1, ordering: .sequentiallyConsistent)
  }

  package func endToggle(states: UInt16) {
    let epoch = (word.load(ordering: .relaxed) >> 17) + 1
    word.store(epoch << 17 | UInt64(states) << 1, ordering: .sequentiallyConsistent)
  }

  /// After a toggle: lets the workers run in the new stable state until one
  /// of them has checked an execution against it, for at most `limit`
  /// nanoseconds, so that most toggles are really checked rather than raced
  /// past, without slowing the toggler much.
  package func settle(limit: Int = 50_000) {
    let epoch = word.load(ordering: .relaxed) >> 17
    let deadline = monotonicNanoseconds() + limit
    // Spin, do not yield: a yield to a CPU-bound worker costs a whole time
    // slice and would slow the toggler a hundredfold.
    while checkedEpoch.load(ordering: .relaxed) < epoch && monotonicNanoseconds() < deadline {}
  }

  /// Toggles whose stable state some worker checked.
  package var checkedEpochs: UInt64 { checkedEpoch.load(ordering: .relaxed) }

  /// Outcome of one checked execution.
  package enum Outcome { case unchecked, agreed, violated }

  /// Runs `f` once and compares what its sites saw with the word.
  @inline(__always)
  package func check(_ f: () -> UInt16, keys: UInt16) -> Outcome {
    let before = word.load(ordering: .sequentiallyConsistent)
    let seen = f()
    let after = word.load(ordering: .sequentiallyConsistent)
    guard before == after, before & 1 == 0 else { return .unchecked }
    let epoch = before >> 17
    if checkedEpoch.load(ordering: .relaxed) < epoch { checkedEpoch.store(epoch, ordering: .relaxed) }
    let expected = UInt16(truncatingIfNeeded: before >> 1)
    return (seen ^ expected) & keys == 0 ? .agreed : .violated
  }
}
