import Foundation
import JumpLabel
import JumpLabelFixtures
import Synchronization
import TextPoke
import Testing
import Tracepoints

@Suite(.serialized) struct TracepointTests {
  static let releaseOnly = "debug builds have no NOP sites; run `swift test -c release`"

  /// A disabled tracepoint costs one NOP: its emit sites hold the 5-byte
  /// NOP, and the payload expression never runs (no allocation, no call).
  @Test func disabledTracepointEvaluatesNothing() throws {
    var ran = 0
    for _ in 0..<1000 { Fixture.emitQuiet { ran += 1; return 0 } }
    #expect(ran == 0, "the payload of a disabled tracepoint was evaluated \(ran) times")
    if Fixture.compiledWithSites {
      let sites = try StaticKeys.sites(named: "fixture.trace.quiet")
      #expect(!sites.isEmpty)
      for s in sites { #expect(s.currentBytes == StaticKeySite.nop5, "\(s)") }
      let info = try StaticKeys.info(named: "fixture.trace.quiet")
      #expect(info.isTracepoint && info.fallbackHits == 0 && !info.state, "\(info)")
    }
  }

  /// Tracepoints are listed from the site tables, before any emit or attach.
  @Test(.enabled(if: Fixture.compiledWithSites, Comment(rawValue: releaseOnly)))
  func tracepointsAreListedBeforeAnyEmit() throws {
    let quiet = try #require(Tracepoints.list().first { $0.name == "fixture.trace.quiet" })
    #expect(quiet.sites >= 1 && !quiet.enabled && quiet.probes == 0, "\(quiet)")
    let keys = StaticKeys.list()
    #expect(keys.first { $0.name == "fixture.trace.quiet" }?.isTracepoint == true)
    #expect(keys.first { $0.name == "fixture.false" }?.isTracepoint == false)
  }

  /// Probes run on the emitting thread, in attach order; attaching enables
  /// the key, and the last detach disables it after the deferral.
  @Test func probesRunOnTheEmitterInAttachOrder() throws {
    let seen = Mutex<[String]>([])
    let first = try Tracepoint.fixtureSample.attach { p in seen.withLock { $0.append("a\(p.sequence)@\(TextPoke.currentThreadID)") } }
    let second = try Tracepoint.fixtureSample.attach { p in seen.withLock { $0.append("b\(p.sequence)@\(TextPoke.currentThreadID)") } }
    #expect(Tracepoint.fixtureSample.key.state && Tracepoint.fixtureSample.key.count == 2)
    let tid = Mutex(0)
    let t = Thread {
      tid.withLock { $0 = TextPoke.currentThreadID }
      Fixture.emitSample(1)
      Fixture.emitSample(2)
    }
    t.start()
    while !t.isFinished { usleep(1000) }
    let me = tid.withLock { $0 }
    #expect(seen.withLock { $0 } == ["a1@\(me)", "b1@\(me)", "a2@\(me)", "b2@\(me)"])
    // Deferred: still enabled right after the last detach (looked at with
    // the deferrals held back: a loaded machine may take longer than the
    // delay to get there), off after it.
    StaticKeys._withDeferredDecrementsPaused {
      first.detach()
      second.detach()
      #expect(!first.isAttached && !second.isAttached)
      #expect(Tracepoint.fixtureSample.key.state)
    }
    let deadline = Date().addingTimeInterval(60)
    while Tracepoint.fixtureSample.key.state && Date() < deadline { usleep(10_000) }
    #expect(!Tracepoint.fixtureSample.key.state)
    Fixture.emitSample(3)
    #expect(seen.withLock { $0 }.count == 4)
  }

  /// A burst of attach and detach patches code at most a few times: the
  /// decrement that would disable the key is deferred (the kernel's
  /// deferred keys), and an attach in between keeps it enabled.
  @Test(.enabled(if: Fixture.compiledWithSites, Comment(rawValue: releaseOnly)))
  func aBurstOfAttachAndDetachPatchesRarely() throws {
    let key = Tracepoint.fixtureSample.key
    let deadline = Date().addingTimeInterval(60)
    while key.state && Date() < deadline { usleep(10_000) }
    // Other suites patch in parallel, so the global batch counter proves
    // nothing: a hook counts the batches that patch this key's sites (one
    // holds neither a NOP nor a JMP in the middle of the batch).
    let addresses = try StaticKeys.sites(named: key.nameString).map(\.address)
    let patched = Atomic<Int>(0)
    let token = TextPoke._addBatchHook {
      if addresses.contains(where: { a in let b = UnsafePointer<UInt8>(bitPattern: a)!.pointee; return b != 0x0F && b != 0xE9 }) {
        patched.add(1, ordering: .relaxed)
      }
    }
    defer { TextPoke._removeBatchHook(token) }
    // With the deferrals held back, as if each detach-to-attach gap were
    // shorter than the delay however loaded the machine is (a gap longer
    // than the delay does patch twice, as it should).
    try StaticKeys._withDeferredDecrementsPaused {
      for _ in 0..<200 {
        let h = try Tracepoint.fixtureSample.attach { _ in }
        h.detach()
      }
    }
    let during = patched.load(ordering: .relaxed)
    #expect(during <= 2, "\(during) batches for 200 attach/detach pairs")
    while key.state && Date() < deadline { usleep(10_000) }
    #expect(!key.state)
    #expect(patched.load(ordering: .relaxed) <= 3)
    #expect(!addresses.isEmpty)
  }

  /// The guarantee of detach: once it returns, the probe is not running
  /// and will not run. A probe that stays inside its call for 20 ms is
  /// detached from another thread while it is inside: detach returns only
  /// after the call ended. Negative control: without the grace-period
  /// wait, detach returns while the probe is still running.
  @Test(arguments: [false, true])
  func detachWaitsForProbesInFlight(skipGraceWait: Bool) throws {
    Tracepoints._skipGraceWaitForTests = skipGraceWait
    defer { Tracepoints._skipGraceWaitForTests = false }
    let entered = Atomic<Bool>(false)
    let detachReturned = Atomic<Bool>(false)
    let probeEnd = Atomic<Int>(0)
    let h = try Tracepoint.fixtureDetach.attach { _ in
      entered.store(true, ordering: .sequentiallyConsistent)
      // No timing: the probe stays in its call until detach() has returned
      // (what the fault allows), or for 200 ms if it cannot return first
      // (the grace wait holds it), however slow the machine is.
      // (With the fault nothing holds it: 60 s, a hang guard only.)
      let giveUp = Self.now() + (skipGraceWait ? 60_000_000_000 : 200_000_000)
      while !detachReturned.load(ordering: .sequentiallyConsistent) && Self.now() < giveUp { usleep(200) }
      probeEnd.store(Self.now(), ordering: .sequentiallyConsistent)
    }
    let t = Thread { Fixture.emitDetach(1) }
    t.start()
    while !entered.load(ordering: .sequentiallyConsistent) { usleep(100) }
    h.detach()
    let returned = Self.now()
    detachReturned.store(true, ordering: .sequentiallyConsistent)
    while !t.isFinished { usleep(1000) }
    let end = probeEnd.load(ordering: .sequentiallyConsistent)
    if skipGraceWait {
      #expect(end > returned, "the negative control did not show the hazard")
    } else {
      #expect(end != 0 && end <= returned, "detach returned \((end - returned) / 1000) µs before the probe's call ended")
    }
  }

  /// Many emitters and one detacher: no probe call starts after its
  /// detach returned.
  @Test func noProbeCallStartsAfterDetachReturns() throws {
    let stop = Atomic<Bool>(false)
    let late = Atomic<Int>(0)
    let calls = Atomic<Int>(0)
    let group = DispatchGroup()
    for _ in 0..<2 {
      group.enter()
      Thread {
        var i = 0
        while !stop.load(ordering: .relaxed) { Fixture.emitDetach(i); i += 1 }
        group.leave()
      }.start()
    }
    for _ in 0..<200 {
      let detached = Atomic<Bool>(false)
      let h = try Tracepoint.fixtureDetach.attach { _ in
        calls.add(1, ordering: .relaxed)
        if detached.load(ordering: .sequentiallyConsistent) { late.add(1, ordering: .relaxed) }
      }
      usleep(200)
      h.detach()
      detached.store(true, ordering: .sequentiallyConsistent)
    }
    stop.store(true, ordering: .relaxed)
    group.wait()
    #expect(late.load(ordering: .relaxed) == 0)
    #expect(calls.load(ordering: .relaxed) > 0)
  }

  /// The JSON Lines sink: one line per event, with time, thread id,
  /// tracepoint name and the payload through Encodable.
  @Test func jsonLinesSinkWritesOneLinePerEvent() throws {
    var fds: [Int32] = [0, 0]
    #expect(pipe(&fds) == 0)
    let sink = JSONLinesSink(fileDescriptor: fds[1])
    let h = try Tracepoint.fixtureRequest.attach(sink)
    for i in 0..<3 { Fixture.emitRequest(i) }
    h.detach()
    close(fds[1])
    let data = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile()
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
    #expect(lines.count == 3 && sink.linesWritten == 3 && sink.writeErrors == 0, "\(lines)")
    for (i, line) in lines.enumerated() {
      let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
      #expect(obj["tracepoint"] as? String == "fixture.trace.request")
      #expect((obj["tid"] as? Int ?? 0) > 0)
      #expect((obj["time"] as? String)?.hasSuffix("Z") == true && (obj["time"] as? String)?.count == 30, "\(line)")
      let p = try #require(obj["payload"] as? [String: Any])
      #expect(p["method"] as? String == "GET" && p["path"] as? String == "/item/\(i)" && p["status"] as? Int == 200, "\(line)")
    }
  }

  /// The ring buffer keeps the last records, oldest first, and counts the
  /// ones it overwrote; bitwise payloads are stored as bytes and come back
  /// as the same JSON.
  @Test func ringBufferKeepsTheLastRecordsAndCountsDrops() throws {
    let ring = try RingBufferSink(capacity: 8, payloadCapacity: 64)
    let h = try Tracepoint.fixtureSample.attach(ring)
    for i in 0..<20 { Fixture.emitSample(i) }
    h.detach()
    let records = ring.drain()
    #expect(records.count == 8 && ring.dropped == 12 && ring.written == 20, "\(records)")
    #expect(records.map(\.payloadJSON) == (12..<20).map { "{\"sequence\":\($0),\"value\":\(Double($0) / 2)}" })
    #expect(records.allSatisfy { $0.name == "fixture.trace.sample" && !$0.truncated })
    #expect(ring.drain().isEmpty)
    // A payload with references is stored as its JSON.
    let r2 = try RingBufferSink(capacity: 4, payloadCapacity: 128)
    let h2 = try Tracepoint.fixtureRequest.attach(r2)
    Fixture.emitRequest(7)
    h2.detach()
    #expect(r2.drain().map(\.payloadJSON) == ["{\"method\":\"GET\",\"path\":\"/item/7\",\"status\":200}"])
  }

  static func now() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
  }
}

/// A probe's share of its tracepoint's key.
@Suite(.serialized) struct ProbeHolderTests {
  /// A probe's attach holds the key as `.probe`; disable() refuses while it
  /// is attached (the negative control: the probe keeps being called), a
  /// forced disable marks its handle forced off with the reason and it is
  /// never called again, even after the key is enabled again.
  @Test func aForcedDisableMarksTheProbeForcedOff() throws {
    let calls = Mutex(0)
    let h = try Tracepoint.fixtureForced.attach { _ in calls.withLock { $0 += 1 } }
    let name = "fixture.trace.forced"
    #expect(StaticKeys.holders(of: name) == [h.holder: 1] && h.holder.kind == .probe)
    Fixture.emitForced(1)
    #expect(throws: JumpLabelError.heldBy(key: name, holders: [h.holder: 1])) { try Tracepoint.fixtureForced.key.disable() }
    Fixture.emitForced(2)
    #expect(calls.withLock { $0 } == 2 && !h.wasForcedOff && h.isAttached)
    try Tracepoint.fixtureForced.key.disable(force: "disabled by pid 9 (test)")
    #expect(h.wasForcedOff && h.forcedOffReason == "disabled by pid 9 (test)" && !h.isAttached)
    Fixture.emitForced(3)
    try Tracepoint.fixtureForced.key.enable()
    Fixture.emitForced(4)
    #expect(calls.withLock { $0 } == 2, "a forced-off probe was called")
    h.detach()  // a no-op: nothing to release
    #expect(StaticKeys.holders(of: name) == [.enabled: 1])
    try Tracepoint.fixtureForced.key.disable()
  }

  /// Sinks attached as a holder (a control client) share one hold, which
  /// the last detach releases; a forced disable tells every handle.
  @Test func sinksAttachedAsAHolderShareOneHold() throws {
    let client = StaticKeyHolder(.trace, id: "pid 77")
    Fixture.emitRequest(0)  // declares the key in a debug build (no site table)
    let a = try Tracepoints.attach(try RingBufferSink(capacity: 8), named: "fixture.trace.request", as: client)
    let b = try Tracepoints.attach(try RingBufferSink(capacity: 8), named: "fixture.trace.request", as: client)
    #expect(StaticKeys.holders(of: "fixture.trace.request") == [client: 1])
    a.detach()
    #expect(StaticKeys.holders(of: "fixture.trace.request") == [client: 1], "the first of two detaches released the shared hold")
    try StaticKeys.set(names: ["fixture.trace.request"], enabled: false, force: "disabled by pid 5 (jumplabel ctl --force)")
    #expect(b.forcedOffReason == "disabled by pid 5 (jumplabel ctl --force)" && !a.wasForcedOff)
    b.detach()
    #expect(StaticKeys.holders(of: "fixture.trace.request").isEmpty)
  }
}
