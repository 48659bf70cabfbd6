import Glibc
import JumpLabelFixtures
import TextPoke
import Testing

@Suite(.serialized) struct TextPokeTests {
  let page = JITPage()
  let nop5 = X86Instruction.nop5

  var jmpA: [UInt8] { X86Instruction.jmp32(from: page.siteA, to: page.targetA)! }

  @Test func patchesAJITPageAndKeepsItsProtection() throws {
    #expect(page.callA() == 0)
    let on = try TextPoke.apply([TextPatch(address: page.siteA, expected: nop5, replacement: jmpA)])
    #expect(page.bytes(at: page.siteA, count: 5) == jmpA)
    #expect(page.callA() == 1)
    let off = try TextPoke.apply([TextPatch(address: page.siteA, expected: jmpA, replacement: nop5)])
    #expect(page.callA() == 0)
    #expect(on.syncs == 3 && off.syncs == 3, "three syncs per batch")
    #expect(on.sitesWritten == 1 && off.sitesWritten == 1)
    #expect(page.protection.hasPrefix("r-x"), "page protection changed: \(page.protection)")
    #expect(TextPoke.statistics.writer != nil)
    // Nothing to change: nothing written, no sync.
    #expect(try TextPoke.apply([TextPatch(address: page.siteA, expected: nop5, replacement: nop5)]).syncs == 0)
  }

  /// What the registry does when an image is unloaded: its sites leave the
  /// late-trap history, once, and the addresses can be patched again (an
  /// image reloaded at the same address).
  @Test func forgottenSitesLeaveTheLateTrapHistory() throws {
    _ = try TextPoke.apply([TextPatch(address: page.siteA, expected: nop5, replacement: jmpA)])
    _ = try TextPoke.apply([TextPatch(address: page.siteA, expected: jmpA, replacement: nop5)])
    let range = page.base..<page.base + 4096
    #expect(TextPoke.forgetSites(in: range) >= 1, "the patched site was not in the history")
    #expect(TextPoke.forgetSites(in: range) == 0, "a site was forgotten twice")
    _ = try TextPoke.apply([TextPatch(address: page.siteA, expected: nop5, replacement: jmpA)])
    #expect(page.callA() == 1)
    #expect(TextPoke.forgetSites(in: range) >= 1, "a re-patched site did not re-enter the history")
  }

  @Test func oneBatchOfManySitesStillTakesThreeSyncs() throws {
    let on = try TextPoke.apply([
      TextPatch(address: page.siteA, expected: nop5, replacement: jmpA),
      TextPatch(address: page.siteB, expected: [0xB8, 7, 0, 0, 0], replacement: [0xB8, 9, 0, 0, 0]),
    ])
    #expect(page.callA() == 1 && page.callB() == 9)
    let off = try TextPoke.apply([
      TextPatch(address: page.siteB, expected: [0xB8, 9, 0, 0, 0], replacement: [0xB8, 7, 0, 0, 0]),
      TextPatch(address: page.siteA, expected: jmpA, replacement: nop5),
    ])
    #expect(page.callA() == 0 && page.callB() == 7)
    #expect(on.syncs == 3 && off.syncs == 3)
    #expect(on.sitesWritten == 2 && off.sitesWritten == 2)
  }

  @Test func unexpectedBytesWriteNothing() throws {
    let original = page.bytes(at: page.base, count: 64)
    // Site B is right, site A is not: the whole batch is refused.
    let err = #expect(throws: TextPokeError.self) {
      try TextPoke.apply([
        TextPatch(address: page.siteB, expected: [0xB8, 7, 0, 0, 0], replacement: [0xB8, 9, 0, 0, 0]),
        TextPatch(address: page.siteA, expected: jmpA, replacement: nop5),
      ])
    }
    guard case let .unexpectedBytes(site, expected, found)? = err else {
      Issue.record("wrong error: \(String(describing: err))")
      return
    }
    #expect(site.address == page.siteA && expected == jmpA && found == nop5)
    #expect("\(err!)".contains("expected [e9"), "\(err!)")
    #expect(page.bytes(at: page.base, count: 64) == original)
  }

  @Test func malformedBatchesAreRefused() throws {
    let original = page.bytes(at: page.base, count: 64)
    let bad: [[TextPatch]] = [
      [TextPatch(address: page.siteA, expected: nop5, replacement: [0x90])],
      [TextPatch(address: page.siteA, expected: [], replacement: [])],
      [TextPatch(address: page.siteA, expected: [UInt8](repeating: 0x90, count: 16), replacement: [UInt8](repeating: 0x90, count: 16))],
      [TextPatch(address: 0, expected: [0x90], replacement: [0xCC])],
      [TextPatch(address: page.siteA, expected: nop5, replacement: jmpA),
       TextPatch(address: page.siteA + 2, expected: [0x44], replacement: [0x45])],
    ]
    for batch in bad {
      #expect(throws: TextPokeError.self) { try TextPoke.apply(batch) }
    }
    #expect(page.bytes(at: page.base, count: 64) == original)
  }

  @Test func emulationTargets() {
    #expect(TextPatch(address: page.siteA, expected: nop5, replacement: jmpA).resumeAddress == page.targetA)
    #expect(TextPatch(address: page.siteA, expected: jmpA, replacement: nop5).resumeAddress == page.siteA + 5)
    // Cannot be emulated: the trapped thread retries the site.
    #expect(TextPatch(address: page.siteB, expected: [0xB8, 7, 0, 0, 0], replacement: [0xB8, 9, 0, 0, 0]).resumeAddress == page.siteB)
    // The caller's fixup address wins.
    #expect(TextPatch(address: page.siteB, expected: [0xB8, 7, 0, 0, 0], replacement: [0xB8, 9, 0, 0, 0], resume: page.targetA).resumeAddress == page.targetA)
  }

  /// Threads call both JIT functions while the main thread patches them.
  /// Every call returns one of the two legal values, and once a batch has
  /// returned, every later call sees it.
  @Test func patchingWhileThreadsRunTheCode() throws {
    let page = self.page
    let probe = LinearizabilityProbe(initial: false)
    let jmp = jmpA, nop = nop5
    var failure: Error?
    let before = TextPoke.statistics
    let illegal = IllegalCounter()
    withThreads(2, { _ in
      while !probe.stopped {
        probe.check { page.callA() == 1 }
        let b = page.callB()
        if b != 7 && b != 9 { illegal.bump() }
      }
    }, during: {
      do {
        for i in 0..<10_000 {
          let on = i % 2 == 0
          probe.beginToggle()
          try TextPoke.apply([
            TextPatch(address: page.siteA, expected: on ? nop : jmp, replacement: on ? jmp : nop),
            TextPatch(address: page.siteB, expected: [0xB8, on ? 7 : 9, 0, 0, 0], replacement: [0xB8, on ? 9 : 7, 0, 0, 0]),
          ])
          probe.endToggle(now: on)
          // Give the workers a chance to check the stable state.
          probe.settle()
        }
      } catch { failure = error }
      probe.stop()
    })
    if let failure { throw failure }
    let after = TextPoke.statistics
    #expect(probe.violations == 0)
    #expect(illegal.value == 0)
    #expect(probe.trueCount > 0 && probe.falseCount > 0 && probe.checks > 5_000)
    #expect(page.callA() == 0 && page.callB() == 7)
    print("TextPoke live: \(probe.checks) checked calls; traps emulated \(after.trapsEmulated - before.trapsEmulated), stale \(after.staleTraps - before.staleTraps), handler retries \(after.handlerRetries - before.handlerRetries), retire waits \(after.retireWaits - before.retireWaits), writer \(after.writer.map { "\($0)" } ?? "-")")
  }
}

final class IllegalCounter: @unchecked Sendable {
  private var n = 0
  private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  init() { pthread_mutex_init(lock, nil) }
  func bump() { pthread_mutex_lock(lock); n += 1; pthread_mutex_unlock(lock) }
  var value: Int { pthread_mutex_lock(lock); defer { pthread_mutex_unlock(lock) }; return n }
}

/// Code that the patcher runs in the middle of a batch (here a test hook;
/// in life a signal handler or an interposed function) must not be able to
/// start another patch: it gets an error, not a deadlock.
@Suite(.serialized) struct ReentrancyTests {
  @Test func patchFromInsideAPatchIsRefused() throws {
    let page = JITPage()
    let me = TextPoke.currentThreadID
    let inner = Box()
    let hook = TextPoke._addBatchHook {
      guard TextPoke.currentThreadID == me else { return }  // other suites' batches
      do {
        try TextPoke.apply([TextPatch(address: page.siteB, expected: [0xB8, 7, 0, 0, 0], replacement: [0xB8, 9, 0, 0, 0])])
        inner.set("no error")
      } catch {
        inner.set("\(error)")
      }
    }
    defer { TextPoke._removeBatchHook(hook) }
    let jmp = X86Instruction.jmp32(from: page.siteA, to: page.targetA)!
    try TextPoke.apply([TextPatch(address: page.siteA, expected: X86Instruction.nop5, replacement: jmp)])
    #expect(inner.value == "\(TextPokeError.reentrantPatch)")
    #expect(page.callA() == 1 && page.callB() == 7, "the outer batch must complete, the inner must change nothing")
  }
}

final class Box: @unchecked Sendable {
  private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private var v: String?
  init() { pthread_mutex_init(lock, nil) }
  func set(_ s: String) { pthread_mutex_lock(lock); v = s; pthread_mutex_unlock(lock) }
  var value: String? { pthread_mutex_lock(lock); defer { pthread_mutex_unlock(lock) }; return v }
}

/// The invariants the performance work must keep: no cap on the number of
/// sites (there was one at 49,152), three syncs per batch however many.
@Suite(.serialized) struct ScaleTests {
  /// 120,000 one-byte sites in a region of our own (nop <-> hlt; nothing
  /// runs there), switched in one batch through the write window (the
  /// /proc/self/mem path would take seconds) and back: more distinct sites
  /// than the old cap, and two syncs (one-byte sites have no tail).
  @Test func moreSitesThanTheOldCapInOneBatch() throws {
    let count = 120_000
    let size = (count + 4095) / 4096 * 4096
    let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
    #expect(p != MAP_FAILED)
    defer {
      TextPoke.forgetSites(in: UInt(bitPattern: p)..<(UInt(bitPattern: p) + UInt(size)))
      munmap(p, size)
    }
    memset(p, 0x90, size)  // nop
    #expect(mprotect(p, size, PROT_READ | PROT_EXEC) == 0)
    let base = UInt(bitPattern: p)
    let old = TextPoke.bulkWriteThreshold
    TextPoke.bulkWriteThreshold = 1
    defer { TextPoke.bulkWriteThreshold = old }
    // 0x90 (nop) <-> 0xF4 (hlt): one-byte instructions nobody executes here.
    func batch(_ from: UInt8, _ to: UInt8) -> [TextPatch] {
      (0..<count).map { TextPatch(address: base + UInt($0), expected: [from], replacement: [to], resume: base + UInt($0)) }
    }
    let on = try TextPoke.apply(batch(0x90, 0xF4))
    #expect(on.sitesWritten == count && on.syncs == 2, "\(on)")
    let b = p.assumingMemoryBound(to: UInt8.self)
    #expect((0..<count).allSatisfy { b[$0] == 0xF4 })
    let off = try TextPoke.apply(batch(0xF4, 0x90))
    #expect(off.sitesWritten == count)
    #expect((0..<count).allSatisfy { b[$0] == 0x90 })
  }
}
