import Glibc
import Synchronization
import TextPoke

/// A plain pthread mutex that knows its owner. Unlike
/// `Synchronization.Mutex` it can be taken and released by separate calls,
/// which `pthread_atfork` handlers need, and it refuses re-entry (a signal
/// handler, or code the patcher runs, calling back into us on the thread
/// that holds it) instead of deadlocking.
final class PthreadLock: @unchecked Sendable {
  // @unchecked: the mutex itself is the synchronisation; `owner` is atomic.
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let owner = Atomic<Int>(0)

  init() {
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    pthread_mutex_init(mutex, nil)
  }

  /// True if the calling thread holds the lock.
  var heldByCurrentThread: Bool { owner.load(ordering: .relaxed) == TextPoke.currentThreadID }

  func lock() {
    pthread_mutex_lock(mutex)
    owner.store(TextPoke.currentThreadID, ordering: .relaxed)
  }

  func unlock() {
    owner.store(0, ordering: .relaxed)
    pthread_mutex_unlock(mutex)
  }

  /// Runs `body` with the lock held, or returns nil without running it if
  /// this thread already holds the lock.
  func withLockUnlessReentrant<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T? {
    if heldByCurrentThread { return nil }
    lock()
    defer { unlock() }
    return try body()
  }
}
