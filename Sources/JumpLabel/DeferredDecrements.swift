import CJumpLabel
import Glibc
import TextPoke

/// The kernel's deferred keys (`static_key_slow_dec_deferred`,
/// jump_label_ratelimit.h): a decrement that would take the count from 1 to
/// 0 waits for a timeout first, so that a burst of increments and
/// decrements (a tracer attaching and detaching, an operator's script)
/// patches code at most once per timeout instead of at every edge.
///
/// A decrement from above 1 happens at once (no patching either way).
/// From 1 it is queued and the count stays 1 meanwhile; an increment in
/// between takes the fast path (1 → 2, no patching), and the queued
/// decrement, when due, brings it back to 1. Only a count that is still 1
/// when the decrement is due goes to 0 and patches.
///
/// One thread ("jumplabel-defer") waits for the next due decrement; it is
/// started at the first deferred decrement and performs each through the
/// usual entry point (so it marks itself, and takes the registry lock).
final class DeferredDecrements: @unchecked Sendable {
  // @unchecked: `queue` and `running` are guarded by `mutex`.
  static let shared = DeferredDecrements()

  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
  /// Due decrements: anonymous (`holder` nil) or a holder's release.
  private var queue: [(due: UInt64, key: KeyReference, holder: StaticKeyHolder?)] = []
  private var running = false
  /// Pauses in force (tests only, `StaticKeys._withDeferredDecrementsPaused`):
  /// while above 0, nothing due is performed.
  private var pauses = 0
  /// Decrements that failed when due (an underflow: more decrements than
  /// increments).
  private(set) var failures = 0

  private init() {
    pthread_mutex_init(mutex, nil)
    var attr = pthread_condattr_t()
    pthread_condattr_init(&attr)
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
    pthread_cond_init(cond, &attr)
    // A forked child has no thread: it starts one at its next deferral, and
    // that thread also runs the decrements inherited in the queue.
    pthread_atfork(nil, nil, { DeferredDecrements.shared.running = false })
  }

  /// Queues a decrement of `key` due in `nanoseconds`.
  /// Queues a decrement of `key` due in `nanoseconds`: anonymous, or the
  /// release of `holder`'s share (performed only if still wanted then).
  func schedule(_ key: KeyReference, holder: StaticKeyHolder? = nil, after nanoseconds: UInt64) {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    queue.append((Self.now() &+ nanoseconds, key, holder))
    queue.sort { $0.due < $1.due }
    if !running {
      running = true
      var t = pthread_t()
      let rc = pthread_create(&t, nil, { _ in DeferredDecrements.shared.loop(); return nil }, nil)
      if rc == 0 { pthread_detach(t) } else { running = false }
    }
    pthread_cond_signal(cond)
  }

  /// Holds every due decrement back until the matching `resume()`.
  func pause() {
    pthread_mutex_lock(mutex)
    pauses += 1
    pthread_mutex_unlock(mutex)
  }

  /// Ends one `pause()`; the decrements that fell due meanwhile run now.
  func resume() {
    pthread_mutex_lock(mutex)
    pauses -= 1
    pthread_cond_signal(cond)
    pthread_mutex_unlock(mutex)
  }

  /// Decrements still waiting.
  var pending: Int {
    pthread_mutex_lock(mutex)
    defer { pthread_mutex_unlock(mutex) }
    return queue.count
  }

  private func loop() {
    jl_set_thread_name("jumplabel-defer")
    pthread_mutex_lock(mutex)
    while true {
      guard let first = queue.first, pauses == 0 else {
        pthread_cond_wait(cond, mutex)  // signalled by schedule and resume
        continue
      }
      let now = Self.now()
      if first.due > now {
        var ts = timespec(tv_sec: Int(first.due / 1_000_000_000), tv_nsec: Int(first.due % 1_000_000_000))
        pthread_cond_timedwait(cond, mutex, &ts)
        continue
      }
      queue.removeFirst()
      pthread_mutex_unlock(mutex)
      let due: RuntimeRequest = first.holder.map { .releaseDue(first.key, $0) } ?? .control(.decrement, first.key)
      let ok = due.performMarked()
      pthread_mutex_lock(mutex)
      if !ok { failures += 1 }
    }
  }

  static func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
  }
}

extension RuntimeRequest {
  /// Performs the request from a thread of the runtime's own (the deferral
  /// thread), marked as an entry point. True if it succeeded.
  func performMarked() -> Bool {
    guard ThreadMarks.enter(ThreadMarks.client) else { return false }
    defer { ThreadMarks.leave(ThreadMarks.client) }
    if case .failed = performLocally() { return false }
    return true
  }
}

extension KeyRegistry {
  /// A deferred anonymous decrement (DeferredDecrements): at once from
  /// above 1, queued from 1, an underflow error when no anonymous
  /// increment is left (the labelled holds are not its to take).
  func decrementDeferred(_ key: KeyReference, nanoseconds: UInt64) throws(JumpLabelError) {
    let r = try withKey(key) { $0 }
    while true {
      let v = r.count.load(ordering: .acquiring)
      // Count, then labelled: the order KeyCounting.decrement explains.
      if v - r.labelled.load(ordering: .acquiring) <= 0 { throw .underflow(key: r.name) }
      if v == 1 {
        DeferredDecrements.shared.schedule(key, after: nanoseconds)
        return
      }
      if r.count.compareExchange(expected: v, desired: v - 1, ordering: .acquiringAndReleasing).exchanged { return }
    }
  }
}
