import CTextPoke
import Glibc
import Synchronization

/// A plain pthread mutex that knows which thread holds it.
///
/// Used for the patch lock (one batch at a time per process, like the
/// kernel's `text_mutex`) and, in JumpLabel, for the registry lock. It is not
/// `Synchronization.Mutex` because `pthread_atfork` handlers must take it
/// and release it in separate calls. It remembers its owner so that a call
/// from code running on the thread that holds it (a signal handler, code
/// the patcher runs) is refused instead of deadlocking.
package final class OwnedLock: @unchecked Sendable {
  // @unchecked: the mutex itself is the synchronisation; `owner` is atomic.
  private let mutex: UnsafeMutablePointer<pthread_mutex_t>
  private let owner = Atomic<Int>(0)

  package init() {
    mutex = .allocate(capacity: 1)
    mutex.initialize(to: pthread_mutex_t())
    pthread_mutex_init(mutex, nil)
    for slot in OwnedLock.all where slot.lock.storeIfNil(self) === self { return }
    preconditionFailure("more OwnedLocks than OwnedLock.all has slots")
  }

  /// Every lock of this type (there are two: registry and patch lock).
  /// Immortal, like the engine and the registry that own them.
  private static let all: [Slot] = (0..<4).map { _ in Slot() }
  private final class Slot: Sendable { let lock = AtomicLazyReference<OwnedLock>() }

  /// True if the calling thread holds any of them. Code that may call into
  /// the dynamic loader checks this first: the loader's lock comes before
  /// ours in the lock order (KeyRegistry.swift).
  package static var anyHeldByCurrentThread: Bool {
    all.contains { $0.lock.load()?.heldByCurrentThread ?? false }
  }

  /// True if the calling thread holds the lock.
  package var heldByCurrentThread: Bool { owner.load(ordering: .relaxed) == tp_gettid() }

  /// Takes the lock (also from a `pthread_atfork` prepare handler).
  package func lock() {
    pthread_mutex_lock(mutex)
    owner.store(tp_gettid(), ordering: .relaxed)
  }

  /// Releases the lock (also after `fork()`, in the parent or in the child,
  /// where the forking thread, the only one, still holds it).
  package func unlock() {
    owner.store(0, ordering: .relaxed)
    pthread_mutex_unlock(mutex)
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
