import Foundation
import Glibc
import Synchronization

/// Nanoseconds, monotonic.
func nowNs() -> UInt64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Summary of a set of durations (nanoseconds).
struct Summary: Codable {
  var count: Int
  var medianNs: Double
  var p99Ns: Double
  var minNs: Double
  var maxNs: Double

  init(_ samples: [UInt64]) {
    let s = samples.sorted()
    count = s.count
    func at(_ q: Double) -> Double { s.isEmpty ? 0 : Double(s[min(s.count - 1, Int(Double(s.count - 1) * q))]) }
    medianNs = at(0.5)
    p99Ns = at(0.99)
    minNs = Double(s.first ?? 0)
    maxNs = Double(s.last ?? 0)
  }

  var text: String { "median \(us(medianNs)) µs, p99 \(us(p99Ns)) µs" }
}

func us(_ ns: Double) -> String { String(format: ns < 10_000 ? "%.2f" : "%.0f", ns / 1000) }

/// Threads that run a body until stopped: busy workers, idle sleepers.
final class ThreadGroup: @unchecked Sendable {
  // @unchecked: the pthread handles are touched by the owner only.
  private let stopFlag = Atomic<Bool>(false)
  private let started = Atomic<Int>(0)
  private var handles: [pthread_t] = []

  var stopped: Bool { stopFlag.load(ordering: .relaxed) }

  /// Starts `count` threads running `body(self)` with a small stack.
  init(count: Int, stackSize: Int = 256 * 1024, _ body: @escaping @Sendable (ThreadGroup) -> Void) {
    final class Box { let f: () -> Void; init(_ f: @escaping () -> Void) { self.f = f } }
    var attr = pthread_attr_t()
    pthread_attr_init(&attr)
    pthread_attr_setstacksize(&attr, stackSize)
    for _ in 0..<count {
      var t = pthread_t()
      let box = Unmanaged.passRetained(Box { [self] in self.started.add(1, ordering: .relaxed); body(self) }).toOpaque()
      guard pthread_create(&t, &attr, { p in
        Unmanaged<Box>.fromOpaque(p!).takeRetainedValue().f()
        return nil
      }, box) == 0 else {
        Unmanaged<Box>.fromOpaque(box).release()
        break
      }
      handles.append(t)
    }
    pthread_attr_destroy(&attr)
    while started.load(ordering: .relaxed) < handles.count { usleep(100) }
  }

  var count: Int { handles.count }

  func stop() {
    stopFlag.store(true, ordering: .relaxed)
    for t in handles { pthread_join(t, nil) }
    handles.removeAll()
  }
}

/// Idle threads: each sleeps in a futex-backed condition until stopped.
final class IdleThreads: @unchecked Sendable {
  // @unchecked: the mutex and condition are pthread objects.
  private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
  private var group: ThreadGroup?
  nonisolated(unsafe) private var released = false

  init(count: Int) {
    pthread_mutex_init(mutex, nil)
    pthread_cond_init(cond, nil)
    guard count > 0 else { return }
    group = ThreadGroup(count: count, stackSize: 64 * 1024) { [self] _ in
      pthread_mutex_lock(mutex)
      while !released { pthread_cond_wait(cond, mutex) }
      pthread_mutex_unlock(mutex)
    }
  }

  var count: Int { group?.count ?? 0 }

  func stop() {
    pthread_mutex_lock(mutex)
    released = true
    pthread_cond_broadcast(cond)
    pthread_mutex_unlock(mutex)
    group?.stop()
  }
}
