import Glibc
import JumpLabel
import JumpLabelFixtures
import TextPoke
import Testing

/// A key controlled from code that runs inside a toggle on the same thread
/// (a signal handler, or code the patcher calls) gets an error, not a
/// deadlock, and the outer toggle completes.
@Suite(.serialized) struct ReentrantControlTests {
  @Test(.enabled(if: Fixture.compiledWithSites, "needs real sites: a batch must run"))
  func controlFromInsideAToggleIsRefused() throws {
    let me = TextPoke.currentThreadID
    let results = ResultBox()
    let hook = TextPoke._addBatchHook {
      guard TextPoke.currentThreadID == me else { return }
      do { try StaticKey.fixtureReentrant.enable(); results.add("enabled") } catch { results.add("\(error)") }
      do { try StaticKeys.set(named: "fixture.reentrant", enabled: true); results.add("enabled") } catch { results.add("\(error)") }
      // A fallback read of a key in here must not deadlock either.
      @inline(never) func opaque(_ k: StaticKey) -> StaticKey { k }
      results.add("fallback \(opaque(.fixtureReentrant).isEnabled)")
    }
    defer { TextPoke._removeBatchHook(hook) }
    // A key no other suite touches (suites run in parallel).
    _ = Fixture.reentrantSite()
    try StaticKey.fixtureReentrant.enable()
    try StaticKey.fixtureReentrant.disable()
    let got = results.all
    #expect(got.count == 6, "\(got)")
    #expect(got.filter { $0.contains("from inside another control call") }.count == 4, "\(got)")
    // A fallback read in there is answered lock-free from the cache (the
    // literal was primed when the tables were indexed): during the enable
    // batch the count is -1, "in progress", which reads as enabled (the
    // kernel's rule); during the disable batch it is already 0.
    #expect(got.filter { $0.hasPrefix("fallback") } == ["fallback true", "fallback false"], "\(got)")
    #expect(!StaticKey.fixtureReentrant.state)
    #expect(!Fixture.reentrantSite())
  }
}

final class ResultBox: @unchecked Sendable {
  private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private var items: [String] = []
  init() { pthread_mutex_init(lock, nil) }
  func add(_ s: String) { pthread_mutex_lock(lock); items.append(s); pthread_mutex_unlock(lock) }
  var all: [String] { pthread_mutex_lock(lock); defer { pthread_mutex_unlock(lock) }; return items }
}
