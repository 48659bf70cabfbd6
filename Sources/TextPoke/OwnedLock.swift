import CTextPoke
import Glibc
import Synchronization

/// A plain pthread mutex that knows whether the calling thread holds it.
///
/// Used for the patch lock (one batch at a time per process, like the
/// kernel's `text_mutex`) and, in JumpLabel, for the registry lock. It is not
/// `Synchronization.Mutex` because `pthread_atfork` handlers must take it
/// and release it in separate calls.
///
/// Ownership is a per-thread mark (``ThreadMarks``), set *before* the mutex
/// is requested and cleared *after* it is released. So there is no instant
/// at which this thread holds, or waits for, the mutex without the mark
/// showing it: a signal handler that interrupts the thread anywhere in
/// `lock()`/`unlock()` and asks ``heldByCurrentThread`` gets `true` and
/// refuses, instead of waiting forever for a mutex its own thread holds.
/// (The earlier design recorded the owner after taking the mutex and
/// cleared it before releasing it; a handler landing in either window hung.)
package final class OwnedLock: @unchecked Sendable {
  // @unchecked: the mutex itself is the synchronisation; the mark is the
  // calling thread's own.
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let mark: UInt32

  /// Lock slots handed out so far (each lock has its own mark bit).
  private static let slotsUsed = Atomic<Int>(0)

  package init() {
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    pthread_mutex_init(mutex, nil)
    let slot = OwnedLock.slotsUsed.wrappingAdd(1, ordering: .relaxed).oldValue
    precondition(slot < 4, "more OwnedLocks than the thread marks have bits for")
    mark = ThreadMarks.lock(slot)
  }

  /// True if the calling thread holds (or is taking) any lock of this type.
  /// Code that may call into the dynamic loader checks this first: the
  /// loader's lock comes before ours in the lock order (KeyRegistry.swift).
  package static var anyHeldByCurrentThread: Bool { ThreadMarks.isSet(ThreadMarks.anyLock) }

  /// True if the calling thread holds the lock, or is taking or releasing it.
  package var heldByCurrentThread: Bool { ThreadMarks.isSet(mark) }

  /// Takes the lock (also from a `pthread_atfork` prepare handler).
  /// Order matters: the mark first, then the mutex.
  package func lock() {
    _ = ThreadMarks.add(mark)
    pthread_mutex_lock(mutex)
  }

  /// Releases the lock (also after `fork()`, in the parent or in the child,
  /// where the forking thread, the only one, still holds it).
  /// Order matters: the mutex first, then the mark.
  package func unlock() {
    pthread_mutex_unlock(mutex)
    ThreadMarks.leave(mark)
  }

  /// Runs `body` with the lock held, or returns nil without running it if
  /// this thread already holds the lock.
  package func withLockUnlessReentrant<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T? {
    if heldByCurrentThread { return nil }
    lock()
    defer { unlock() }
    return try body()
  }

  /// Runs `body` with the lock held; re-entry is a `reentrantPatch` error.
  func withLock<T>(_ body: () throws(TextPokeError) -> T) throws(TextPokeError) -> T {
    guard let r = try withLockUnlessReentrant(body) else { throw .reentrantPatch }
    return r
  }
}
