import Glibc

/// A plain pthread mutex. Unlike `Synchronization.Mutex` it can be taken and
/// released by separate calls, which `pthread_atfork` handlers need.
final class PthreadLock: @unchecked Sendable {
  // @unchecked: the mutex itself is the synchronisation.
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>

  init() {
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    pthread_mutex_init(mutex, nil)
  }

  func lock() { pthread_mutex_lock(mutex) }
  func unlock() { pthread_mutex_unlock(mutex) }

  func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
    lock()
    defer { unlock() }
    return try body()
  }
}
