import Foundation
import Glibc
import JumpLabel
import Synchronization

/// The churn keys: the same names the C library's sites use.
package enum ChurnKeys {
  package static let all: [StaticKey] = [
    StaticKey("churn.k0"), StaticKey("churn.k1"), StaticKey("churn.k2", default: true), StaticKey("churn.k3", default: true),
  ]
}

/// dlopen/dlclose churn: one thread loads and unloads the C fixture library
/// (512 sites of the four churn keys) in a loop, one thread toggles the
/// keys continuously, and workers call into the library whenever it is
/// loaded, each call checked for linearizability (StressProbe). This is the
/// lock-order stress test: every load and unload runs our hooks under the
/// loader's lock while the toggler holds the registry and patch locks.
package final class DlopenChurn: @unchecked Sendable {
  // @unchecked: `call`/`functions` are guarded by `rwlock`; the rest is atomic.
  package typealias ChurnCall = @convention(c) (UInt32) -> UInt32

  package let path: String
  package let probe: StressProbe
  private let rwlock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
  private var call: ChurnCall?
  private var functions: UInt32 = 1
  package let loads = Atomic<Int>(0), unloads = Atomic<Int>(0), toggles = Atomic<Int>(0)
  /// Unloads after which the loader really had unmapped the library.
  package let unmapped = Atomic<Int>(0)
  package let executions = Atomic<Int>(0), checks = Atomic<Int>(0), violations = Atomic<Int>(0)
  private let failures = Mutex<[String]>([])
  private let stopFlag = Atomic<Bool>(false)

  package init(path: String) {
    self.path = path
    // From the declarations, not from the runtime: the loader thread starts
    // before the runtime's first use, so that the first walk of the images
    // races loads and unloads.
    var initial: UInt16 = 0
    for (i, k) in ChurnKeys.all.enumerated() where k.defaultValue { initial |= 1 << i }
    probe = StressProbe(initial: initial)
    var attr = pthread_rwlockattr_t()
    pthread_rwlockattr_init(&attr)
    // Writer preference: readers run constantly and would starve dlclose.
    pthread_rwlockattr_setkind_np(&attr, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
    rwlock.initialize(to: pthread_rwlock_t())
    pthread_rwlock_init(rwlock, &attr)
  }

  /// Everything that went wrong.
  package var errors: [String] { failures.withLock { $0 } }
  package func fail(_ s: String) { failures.withLock { if $0.count < 20 { $0.append(s) } } }

  /// Sum of all counters: what the watchdog watches.
  package var progress: Int { loads.load(ordering: .relaxed) + toggles.load(ordering: .relaxed) + unloads.load(ordering: .relaxed) }

  package func stop() { stopFlag.store(true, ordering: .relaxed) }
  package var stopped: Bool { stopFlag.load(ordering: .relaxed) }

  /// The loader thread's loop.
  package func loadLoop() {
    while !stopped {
      do {
        let lib = try OpenedLibrary.open(path)
        let f = try lib.function("churn_call", as: ChurnCall.self)
        let n = try lib.function("churn_function_count", as: (@convention(c) () -> UInt32).self)()
        pthread_rwlock_wrlock(rwlock)
        call = f
        functions = n
        pthread_rwlock_unlock(rwlock)
        loads.add(1, ordering: .relaxed)
        usleep(UInt32.random(in: 200...3000))
        pthread_rwlock_wrlock(rwlock)
        call = nil
        pthread_rwlock_unlock(rwlock)
        lib.close()
        unloads.add(1, ordering: .relaxed)
        if !OpenedLibrary.isLoaded(path) { unmapped.add(1, ordering: .relaxed) }
      } catch {
        fail("\(error)")
        return
      }
    }
  }

  /// A worker thread's loop: call into the library while it is loaded.
  package func workLoop() {
    var i: UInt32 = 0
    var n = 0, checked = 0, violated = 0
    while !stopped {
      pthread_rwlock_rdlock(rwlock)
      let loaded = call != nil
      if let f = call {
        for _ in 0..<64 {
          let index = i % functions
          i &+= 1
          var wrongFunction = false
          let outcome = probe.check({
            let r = f(index)
            wrongFunction = r >> 8 != index
            return UInt16(r & 0xf)
          }, keys: 0xf)
          if wrongFunction { fail("churn_call(\(index)) ran another function") }
          n += 1
          switch outcome {
          case .unchecked: break
          case .agreed: checked += 1
          case .violated: checked += 1; violated += 1
          }
        }
      }
      pthread_rwlock_unlock(rwlock)
      if !loaded { sched_yield() }
    }
    executions.add(n, ordering: .relaxed)
    checks.add(checked, ordering: .relaxed)
    violations.add(violated, ordering: .relaxed)
  }

  /// The toggler's loop: flip the churn keys round-robin, from the first
  /// completed load on (its first toggle is the runtime's first use).
  package func toggleLoop() {
    while loads.load(ordering: .relaxed) == 0 && !stopped { sched_yield() }
    var states = probe.expected
    var k = 0
    while !stopped {
      let on = states & (1 << k) == 0
      probe.beginToggle()
      do {
        try ChurnKeys.all[k].set(on)
      } catch {
        probe.endToggle(states: states)
        fail("toggle of \(ChurnKeys.all[k]) failed: \(error)")
        return
      }
      if on { states |= 1 << k } else { states &= ~(1 << k) }
      probe.endToggle(states: states)
      probe.settle()
      toggles.add(1, ordering: .relaxed)
      k = (k + 1) % ChurnKeys.all.count
    }
  }

  /// After the loops stopped: load the library once more and check that
  /// each of its sites holds its key's instruction, then unload it and
  /// check that it is gone from the loader and from the index.
  package func finalCheck() -> (sitesChecked: Int, sitesWrong: Int) {
    var checked = 0, wrong = 0
    do {
      // The same kind of C library, linked with swiftrt.o as SwiftPM does
      // by default: the Swift runtime keeps a pointer into it, so it must
      // be pinned, where the churn library (linked without) unloads.
      let linkedPath = try FixtureLibrary.linkedC.requireBuilt()
      let linked = try OpenedLibrary.open(linkedPath)
      let read = try linked.function("linked_c_sites", as: (@convention(c) () -> UInt32).self)
      let want = (ChurnKeys.all[0].state ? 1 : 0) | (ChurnKeys.all[2].state ? 4 : 0)
      if read() != want { fail("the swiftrt-linked C library's sites read \(read()), expected \(want)") }
      linked.close()
      if !OpenedLibrary.isLoaded(linkedPath) { fail("\(linkedPath) imports swift_addNewDSOImage but was not pinned") }
      if !StaticKeys.images().contains(where: { $0.path == linkedPath && $0.pinned }) {
        fail("\(linkedPath) is not indexed as pinned: \(StaticKeys.images())")
      }

      let lib = try OpenedLibrary.open(path)
      for k in ChurnKeys.all {
        let mine = try StaticKeys.sites(named: k.nameString).filter { $0.image == path }
        if mine.count != 128 { fail("\(k): \(mine.count) indexed sites in \(path), expected 128") }
        for s in mine {
          checked += 1
          if s.currentBytes != s.expectedBytes(enabled: k.state) {
            wrong += 1
            fail("\(s) does not hold the instruction for \(k) = \(k.state)")
          }
        }
      }
      lib.close()
      if OpenedLibrary.isLoaded(path) { fail("\(path) is still loaded after dlclose") }
      for k in ChurnKeys.all where try StaticKeys.sites(named: k.nameString).contains(where: { $0.image == path }) {
        fail("\(k) still indexes sites of the unloaded \(path)")
      }
    } catch {
      fail("\(error)")
    }
    return (checked, wrong)
  }
}
