import CTextPoke
import Glibc
import Synchronization

/// The one lock around the whole patch protocol: one batch at a time per
/// process, like the kernel's `text_mutex`.
///
/// It is a plain pthread mutex (not `Synchronization.Mutex`) because
/// `pthread_atfork` handlers must be able to take it in the parent before a
/// fork and release it on both sides. It remembers its owner's thread id so
/// that a patch started from code the patcher itself runs is refused with an
/// error instead of deadlocking.
final class PatchLock: @unchecked Sendable {
  // @unchecked: the mutex is the synchronisation; `owner` is atomic.
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let owner = Atomic<Int>(0)

  init() {
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    pthread_mutex_init(mutex, nil)
  }

  /// Takes the lock, or throws if this thread already holds it.
  func lock() throws(TextPokeError) {
    let me = tp_gettid()
    if owner.load(ordering: .relaxed) == me { throw .reentrantPatch }
    pthread_mutex_lock(mutex)
    owner.store(me, ordering: .relaxed)
  }

  /// Releases the lock.
  func unlock() {
    owner.store(0, ordering: .relaxed)
    pthread_mutex_unlock(mutex)
  }

  /// Takes the lock for `fork()` (pthread_atfork prepare): waits for any
  /// batch in flight, so a child never inherits int3 bytes.
  func lockForFork() {
    pthread_mutex_lock(mutex)
    owner.store(tp_gettid(), ordering: .relaxed)
  }

  /// Releases the lock after `fork()`, in the parent or in the child (where
  /// the forking thread, the only one, still holds it).
  func unlockAfterFork() {
    owner.store(0, ordering: .relaxed)
    pthread_mutex_unlock(mutex)
  }

  /// Runs `body` with the lock held.
  func withLock<T>(_ body: () throws(TextPokeError) -> T) throws(TextPokeError) -> T {
    try lock()
    defer { unlock() }
    return try body()
  }
}
