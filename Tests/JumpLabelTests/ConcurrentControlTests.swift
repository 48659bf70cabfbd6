import Glibc
import JumpLabel
import JumpLabelFixtures
import Synchronization
import Testing

/// Toggles from many threads are serialised with no lost updates.
@Suite(.serialized) struct ConcurrentControlTests {
  @Test func twoThreadsTogglingKeysOnOnePageLoseNothing() throws {
    if Fixture.compiledWithSites {
      // The point of the test: both keys' sites share a page, so a patcher
      // that copies or remaps whole pages would lose one thread's update.
      let a = try StaticKeys.sites(named: "fixture.page-a").map { $0.address / 4096 }
      let b = try StaticKeys.sites(named: "fixture.page-b").map { $0.address / 4096 }
      #expect(!Set(a).isDisjoint(with: Set(b)), "page-a and page-b sites are not on one page; the test would prove nothing")
    }
    let errors = Atomic<Int>(0)
    let rounds = 2_000
    withThreads(2, { i in
      let key: StaticKey = i == 0 ? .fixturePageA : .fixturePageB
      for r in 0..<rounds {
        do {
          try key.set(r % 2 == 0)
          // Our own key must be in the state we just set, whatever the
          // other thread is doing to its key on the same page.
          let now = i == 0 ? Fixture.pageA() : Fixture.pageB()
          if now != (r % 2 == 0) { errors.add(1, ordering: .relaxed) }
        } catch { errors.add(1, ordering: .relaxed) }
      }
      do { try key.set(i == 0) } catch { errors.add(1, ordering: .relaxed) }
    }, during: {})
    #expect(errors.load(ordering: .relaxed) == 0)
    #expect(Fixture.pageA() == true && Fixture.pageB() == false)
    for s in try StaticKeys.sites(named: "fixture.page-a") { #expect(s.currentBytes == s.expectedBytes(enabled: true)) }
    for s in try StaticKeys.sites(named: "fixture.page-b") { #expect(s.currentBytes == s.expectedBytes(enabled: false)) }
    try StaticKey.fixturePageA.disable()
  }

  @Test func manyThreadsCountingEndInTheStateTheCountsSay() throws {
    let key = StaticKey.fixtureCounted
    let errors = Atomic<Int>(0)
    let threads = 6, rounds = 3_000
    withThreads(threads, { _ in
      for _ in 0..<rounds {
        do {
          try key.increment()
          // While this thread holds a count the key must be enabled: an
          // increment never returns before the sites are patched.
          if !Fixture.counted() || !key.isEnabled { errors.add(1, ordering: .relaxed) }
          try key.decrement()
        } catch { errors.add(1, ordering: .relaxed) }
      }
    }, during: {})
    #expect(errors.load(ordering: .relaxed) == 0)
    #expect(key.count == 0 && !key.state && !Fixture.counted())
    // Leave three increments outstanding from three threads: count 3.
    withThreads(3, { _ in try? key.increment() }, during: {})
    #expect(key.count == 3 && Fixture.counted())
    for _ in 0..<3 { try key.decrement() }
    #expect(key.count == 0 && !Fixture.counted())
    for s in try StaticKeys.sites(named: "fixture.counted") { #expect(s.currentBytes == s.expectedBytes(enabled: false)) }
  }
}
