import CTextPoke
import Glibc
import Synchronization

/// The process-wide patch engine. Every mutable field is guarded by `lock`.
final class Engine: @unchecked Sendable {
  // @unchecked: all mutable state below is only touched with `lock` held.
  static let shared = Engine()

  let lock = OwnedLock()
  private var writer: CodeWriter?
  /// nil until first use; then how cores are synchronised.
  private var coreSync: CoreSyncMethod?
  private var coreSyncProblem: String?
  var faults: TextPokeFaults = []
  /// Test hooks run mid-batch (TextPoke._addBatchHook), by token.
  let batchHooks = Mutex<(next: Int, hooks: [Int: @Sendable () -> Void])>((0, [:]))

  /// Runs every registered batch hook (outside the hooks' own mutex).
  func runBatchHooks() {
    for hook in batchHooks.withLock({ $0.hooks.sorted { $0.key < $1.key }.map(\.value) }) { hook() }
  }
  private var parkedBatches: UInt64 = 0
  private var selfLoopBatches: UInt64 = 0
  private var windowBatches: UInt64 = 0
  /// Batches whose last sync failed after every site held its new
  /// instruction (signal-based sync only): they took effect.
  private var lateSyncFailures: UInt64 = 0
  /// Batches of at least this many sites are written through a write
  /// window (`TextPoke.bulkWriteThreshold`); nil: never.
  var bulkWriteThreshold: Int? = {
    guard let v = getenv("JUMPLABEL_WRITE_WINDOW_SITES") else { return nil }
    return Int(String(cString: v)).flatMap { $0 > 0 ? $0 : nil }
  }()
  /// The process's hazards, kept between batches (HazardMonitor.swift).
  private var hazards = HazardMonitor()
  private var lastProtocol: PatchProtocol?
  private var batches: UInt64 = 0
  private var sitesPatched: UInt64 = 0
  private var syncs: UInt64 = 0
  private var retireWaits: UInt64 = 0

  private init() {
    // fork(): the prepare handler takes the patch lock, so no child is
    // forked mid-batch (it would inherit int3 bytes and no patcher to finish
    // them). Both sides release it; the child also drops its inherited
    // /proc/self/mem descriptor, which still writes into the parent.
    pthread_atfork(
      { Engine.shared.lock.lock() },
      { Engine.shared.lock.unlock() },
      {
        Engine.shared.forgetWriterInChild()
        Engine.shared.lock.unlock()
      })
  }

  /// In a forked child, with the lock held by the only thread.
  private func forgetWriterInChild() {
    writer?.closeInForkedChild()
    writer = nil  // reopened, for this process, at the next batch
  }

  /// The trap handler's counters, lock-free; everything else zero.
  static func handlerCountersOnly() -> TextPokeStatistics {
    var c = tp_counters()
    tp_counters_read(&c)
    return TextPokeStatistics(
      batches: 0, sitesPatched: 0, syncs: 0, trapsEmulated: c.emulated, staleTraps: c.stale,
      handlerRetries: c.retried, foreignTraps: c.foreign, retireWaits: 0, writer: nil,
      parkedBatches: 0, coreSync: nil)
  }

  var statistics: TextPokeStatistics {
    var c = tp_counters()
    tp_counters_read(&c)
    let (b, s, y, w, k, pb, cs, lp, sl, wb, lf) = (try? lock.withLock { () throws(TextPokeError) in
      (batches, sitesPatched, syncs, retireWaits, valgrindSeen == true ? CodeWriterKind.mprotectWindow : writer?.kind,
       parkedBatches, coreSync, lastProtocol, selfLoopBatches, windowBatches, lateSyncFailures)
    }) ?? (0, 0, 0, 0, nil, 0, nil, nil, 0, 0, 0)
    var r = TextPokeStatistics(
      batches: b, sitesPatched: s, syncs: y, trapsEmulated: c.emulated, staleTraps: c.stale,
      handlerRetries: c.retried, foreignTraps: c.foreign, retireWaits: w, writer: k,
      parkedBatches: pb, coreSync: cs)
    r.lastProtocol = lp
    r.selfLoopBatches = sl
    r.writeWindowBatches = wb
    r.lateSyncFailures = lf
    return r
  }

  /// True under valgrind (asked once; the fault hides it).
  private var underValgrind: Bool {
    if let v = valgrindSeen { return v }
    let v = !faults.contains(.ignoreValgrind) && tp_valgrind_running() != 0
    valgrindSeen = v
    return v
  }
  private var valgrindSeen: Bool?

  /// The valgrind protocol (valgrind.c): each whole instruction written by
  /// one block of stores through an mprotect window, then valgrind's
  /// translations of it discarded. /proc/self/mem is not used: valgrind
  /// lets other threads run during a system call, and one could translate
  /// a half-written instruction.
  private func runUnderValgrind(_ work: [TextPatch]) throws(TextPokeError) -> TextPokeBatchReport {
    var err: Int32 = 0
    guard var window = WriteWindow.open(work.map { ($0.address, $0.replacement.count) }, error: &err) else {
      throw .writerUnavailable(reason: "under valgrind, code is written through an mprotect window, which was refused (\(String(cString: strerror(err)))); /proc/self/mem is not safe there")
    }
    for p in work {
      window.store(p.replacement, at: p.address)
      tp_valgrind_discard(p.address, p.replacement.count)
    }
    window.close()
    batches += 1
    sitesPatched += UInt64(work.count)
    lastProtocol = .valgrind
    return TextPokeBatchReport(sitesWritten: work.count, syncs: 0, retireWaits: 0, protocol: .valgrind, coreSync: coreSync ?? .membarrier)
  }

  func prepare() throws(TextPokeError) -> CodeWriterKind {
    try lock.withLock { () throws(TextPokeError) in
      if underValgrind {
        // Written back unchanged, like every writer's probe.
        let f: @convention(c) () -> Int = tp_gettid
        let probe = unsafeBitCast(f, to: UInt.self)
        var w = CodeWriter.window
        let e = w.write([UnsafePointer<UInt8>(bitPattern: probe)!.pointee], at: probe)
        if e != 0 {
          throw .writerUnavailable(reason: "under valgrind, code is written through an mprotect window, which is refused (\(String(cString: strerror(e)))); /proc/self/mem is not safe there")
        }
        return .mprotectWindow
      }
      // Probe on one of our own functions: its first byte is written back.
      let f: @convention(c) () -> Int = tp_gettid
      return try ready(probe: unsafeBitCast(f, to: UInt.self))
    }
  }

  /// Sets up the writer, membarrier and the handler. Lock held.
  /// `probe` is a code address whose byte may be written back unchanged.
  private func ready(probe: UInt) throws(TextPokeError) -> CodeWriterKind {
    if coreSync == nil {
      do {
        if faults.contains(.noMembarrier) { throw TextPokeError.coreSyncUnavailable(reason: "disabled by fault injection") }
        try CoreSync.register()
        coreSync = .membarrier
      } catch {
        // The fallback: signal every thread to serialise.
        coreSyncProblem = "\(error)"
        coreSync = .signals
      }
    }
    if coreSync == .signals {
      let e = tp_rendezvous_install()
      if e != 0 { throw .coreSyncUnavailable(reason: "\(coreSyncProblem ?? "membarrier unavailable"), and the signal fallback cannot be installed (errno \(e))") }
    }
    if writer == nil { writer = try CodeWriter.open(probe: probe, allowProcSelfMem: !faults.contains(.noProcSelfMem)) }
    // Checked before every batch: somebody may have replaced our handler.
    let e = tp_handler_ensure_installed()
    if e != 0 { throw .trapHandlerUnavailable(errno: e) }
    return writer!.kind
  }

  func apply(_ input: [TextPatch]) throws(TextPokeError) -> TextPokeBatchReport {
    let patches = try validated(input)
    return try lock.withLock { () throws(TextPokeError) -> TextPokeBatchReport in
      // Verify first, under the lock: nothing else can change the bytes now.
      for p in patches where !p.expectedBytes.isAt(p.address) {
        throw .unexpectedBytes(site: CodeLocation(p.address), expected: p.expected, found: InstructionBytes(at: p.address, count: p.expectedBytes.count).array)
      }
      var work: [TextPatch] = []
      work.reserveCapacity(patches.count)
      for p in patches where p.expectedBytes != p.replacementBytes { work.append(p) }
      if work.isEmpty { return TextPokeBatchReport(sitesWritten: 0, syncs: 0, retireWaits: 0, protocol: .int3, coreSync: coreSync ?? .membarrier) }
      if underValgrind { return try runUnderValgrind(work) }
      _ = try ready(probe: work[0].address)
      // Without membarrier every sync signals every thread: one that blocks
      // SIGURG would never answer, and a batch could then be neither
      // finished nor undone. Refuse before anything is written (a fresh
      // scan each batch: this is the slow fallback anyway).
      if coreSync == .signals, !faults.contains(.skipSignalSyncCheck),
         let t = hazards.fresh(faults, signalsNeeded: true).sigurgBlockers.first {
        throw .threadsUnresponsive(detail: Self.signalSyncMessage(t) + "; nothing was written")
      }
      // Before each batch: a debugger would stop on our int3s, and a thread
      // that blocks SIGTRAP would be killed by one. Then park instead.
      let scan = hazards.current(faults)
      if faults.contains(.alwaysPark) { return try runParked(work, hazards.fresh(faults)) }
      if scan.int3Hazard && !faults.contains(.neverPark) {
        // No int3: a self-loop if it can be done (no signal at all, so
        // threads that block SIGURG, Dispatch's among them, are fine),
        // else park every thread.
        if !faults.contains(.neverSelfLoop), let r = try runSelfLoop(work) { return r }
        return try runParked(work, hazards.fresh(faults))
      }
      for p in work where tp_history_add(p.address) != 0 {
        throw .tooManySites(limit: Int(tp_history_capacity()))
      }
      return try run(work)
    }
  }

  /// Checks lengths, addresses and overlaps, and sorts by address.
  private func validated(_ input: [TextPatch]) throws(TextPokeError) -> [TextPatch] {
    for p in input {
      if p.address == 0 { throw .invalidPatch(address: 0, reason: "null address") }
      if p.expectedBytes.count != p.replacementBytes.count {
        throw .invalidPatch(address: p.address, reason: "expected \(p.expectedBytes.count) bytes but replacement has \(p.replacementBytes.count)")
      }
      if p.expectedBytes.count == 0 || p.expectedBytes.count > 15 {
        throw .invalidPatch(address: p.address, reason: "an instruction is 1 to 15 bytes, not \(p.expectedBytes.count)")
      }
    }
    // Most callers pass sites in address order already (the registry keeps
    // each key's sites sorted): check that in one pass before sorting.
    var inOrder = true
    for i in input.indices.dropFirst() where input[i - 1].address > input[i].address {
      inOrder = false
      break
    }
    let sorted = inOrder ? input : input.sorted { $0.address < $1.address }
    for i in sorted.indices.dropFirst() {
      let a = sorted[i - 1], b = sorted[i]
      if a.address &+ UInt(a.expectedBytes.count) > b.address {
        throw .overlappingPatches(first: a.address, second: b.address)
      }
    }
    return sorted
  }

  /// The three phases. Lock held, bytes verified, `work` sorted.
  private func run(_ work: [TextPatch]) throws(TextPokeError) -> TextPokeBatchReport {
    let syncsBefore = syncs
    let sites = UnsafeMutableBufferPointer<tp_site>.allocate(capacity: work.count)
    defer { sites.deallocate() }
    for (i, p) in work.enumerated() {
      sites[i] = tp_site(addr: UInt(p.address), resume: UInt(p.resumeAddress))
    }
    // Publish before the first int3 exists: a thread can only trap on a
    // site after this store, so its handler always finds the batch.
    tp_batch_publish(sites.baseAddress, work.count)
    // Large batches may be written through a write window (user stores of
    // exactly the site bytes, pages writable for the batch's duration)
    // instead of three /proc/self/mem writes per site: opt-in, because it
    // gives up W^X for that moment (the Performance article). Refused (MDWE):
    // the writes go through /proc/self/mem as usual.
    var window: WriteWindow? = nil
    if let threshold = bulkWriteThreshold, work.count >= threshold {
      var err: Int32 = 0
      window = WriteWindow.open(work.map { ($0.address, $0.expectedBytes.count) }, error: &err)
    }
    defer { window?.close() }
    func put(_ b: InstructionBytes, _ range: Range<Int>, at address: UInt) throws(TextPokeError) {
      if let w = window { w.store(b, range, at: address) } else { try write(b, range, at: address) }
    }
    let int3 = InstructionBytes(byte: X86Instruction.int3)
    var written: [(TextPatch, Int)] = []  // for rollback: bytes changed so far
    var headsWritten = 0
    written.reserveCapacity(work.count)
    do {
      for p in work {
        try put(int3, 0..<1, at: p.address)
        written.append((p, 1))
      }
      try sync()
      runBatchHooks()
      var anyTail = false
      for (i, p) in work.enumerated() where p.expectedBytes.count > 1 && !p.expectedBytes.sameTail(from: 1, as: p.replacementBytes) {
        try put(p.replacementBytes, 1..<p.replacementBytes.count, at: p.address + 1)
        written[i].1 = p.expectedBytes.count
        anyTail = true
      }
      if anyTail { try sync() }
      for p in work {
        try put(p.replacementBytes, 0..<1, at: p.address)
        headsWritten += 1
      }
    } catch {
      // A head write failed part-way: the sites already done hold their
      // new instruction, which must get its int3 back before its tail can
      // be restored.
      do {
        for p in work.prefix(headsWritten) { try put(int3, 0..<1, at: p.address) }
        if headsWritten > 0 { try sync() }
      } catch {
        fatalError("TextPoke: a batch failed and could not be rolled back (\(error)); the text would stay half-patched")
      }
      window?.close()
      window = nil
      rollback(written)
      retireWaits += tp_batch_retire()
      throw error
    }
    // Every site now holds its whole new instruction. The last sync only
    // makes sure no core still fetches an int3; one that does traps into
    // the handler (or, after the retire, takes the late-trap path). So if
    // it fails (a signal-based sync whose thread stopped answering), the
    // batch has still taken effect: undoing it would be the risk.
    do { try sync() } catch { lateSyncFailures += 1 }
    if window != nil { windowBatches += 1 }
    let waits = tp_batch_retire()
    retireWaits += waits
    batches += 1
    sitesPatched += UInt64(work.count)
    lastProtocol = .int3
    return TextPokeBatchReport(sitesWritten: work.count, syncs: Int(syncs - syncsBefore), retireWaits: waits, protocol: .int3, coreSync: coreSync ?? .membarrier)
  }

  /// The self-loop protocol, for when no int3 may be written (a debugger
  /// would stop on it, a thread that blocks SIGTRAP would die of it), after
  /// HotSpot's way of patching a call in place:
  ///
  /// 1. over the first two bytes of every site, `jmp .` (EB FE), one 2-byte
  ///    store each; sync. A thread that reaches a site now loops there; one
  ///    that was executing the old instruction has finished it (the sync).
  /// 2. the tail of every site (nobody can execute it: threads stop at the
  ///    loop, and nothing jumps into the middle of an instruction); sync,
  ///    so that every core fetches the complete new tail.
  /// 3. the new first two bytes of every site, one 2-byte store each: a
  ///    looping thread fetches either the loop again or the complete new
  ///    instruction; sync, so that none still sees the loop.
  ///
  /// The 2-byte stores must be seen whole by instruction fetch: x86
  /// guarantees that for a store that does not cross a cache line. A site
  /// whose first two bytes straddle one (1 site in 64) cannot be patched
  /// this way; the batch then parks instead (returns nil). The stores are
  /// user stores through a write window (the pages are writable and
  /// executable for the batch's duration, µs): under MDWE, which refuses
  /// that, it returns nil too. No signal is sent to anyone, so this works
  /// where parking cannot (threads that block SIGURG) and does not make
  /// every thread of a busy process wait for a CPU. Looping threads spin
  /// for as long as the batch takes (three syncs and the stores).
  /// Model-checked in Model/selfloop.pml.
  private func runSelfLoop(_ work: [TextPatch]) throws(TextPokeError) -> TextPokeBatchReport? {
    guard work.allSatisfy({ $0.expectedBytes.count == 1 || $0.address & 63 != 63 }) else { return nil }
    var err: Int32 = 0
    guard var window = WriteWindow.open(work.map { ($0.address, $0.expectedBytes.count) }, error: &err) else { return nil }
    defer { window.close() }
    let syncsBefore = syncs
    let loop: [UInt8] = [0xEB, 0xFE]
    var looped: [TextPatch] = []
    // No asynchronous signal on this thread until the loops are gone: a
    // handler that ran a site of this batch here would loop forever (with
    // int3 it would trap and be emulated instead).
    var all = sigset_t(), old = sigset_t()
    sigfillset(&all)
    for sig in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT, SIGSYS] { sigdelset(&all, sig) }
    if faults.contains(.selfLoopKeepsSignals) { sigemptyset(&all) }
    pthread_sigmask(SIG_BLOCK, &all, &old)
    defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
    var tails = false
    do {
      for p in work where p.expectedBytes.count > 1 {
        window.store(loop, at: p.address)
        looped.append(p)
      }
      try sync()
      runBatchHooks()
      for p in work where p.expectedBytes.count > 2 && !p.expectedBytes.sameTail(from: 2, as: p.replacementBytes) {
        window.store(p.replacementBytes, 2..<p.replacementBytes.count, at: p.address + 2)
        tails = true
      }
      if tails { try sync() }
    } catch {
      // Only a signal-based sync can fail. Put the old instructions back
      // the same way (the loops are still in place over every site that
      // has one): tails and a sync if any tail was written (a failure there
      // would leave text half-patched, so it stops), then heads: the old
      // head over the old tail is the whole old instruction, so the last
      // sync is best effort (a looping thread sees it a little later).
      if tails {
        for p in looped where p.expectedBytes.count > 2 { window.store(p.expectedBytes, 2..<p.expectedBytes.count, at: p.address + 2) }
        do { try sync() } catch { fatalError("TextPoke: a self-loop batch failed and could not be undone (\(error))") }
      }
      for p in looped { window.store(p.expectedBytes, 0..<2, at: p.address) }
      try? sync()
      throw error
    }
    for p in work { window.store(p.replacementBytes, 0..<min(2, p.replacementBytes.count), at: p.address) }
    // Every site holds its whole new instruction; the sync makes looping
    // threads leave now rather than a little later. Its failure does not
    // undo the batch.
    do { try sync() } catch { lateSyncFailures += 1 }
    batches += 1
    selfLoopBatches += 1
    sitesPatched += UInt64(work.count)
    lastProtocol = .selfLoop
    return TextPokeBatchReport(sitesWritten: work.count, syncs: Int(syncs - syncsBefore), retireWaits: 0, protocol: .selfLoop, coreSync: coreSync ?? .membarrier)
  }

  /// The parked protocol: every other thread waits in a signal handler
  /// while whole instructions are written; each serialises on release.
  /// Between park and release this thread calls only C that neither
  /// allocates nor locks (a parked thread may hold the malloc lock).
  private func runParked(_ work: [TextPatch], _ scan: ProcessScan) throws(TextPokeError) -> TextPokeBatchReport {
    // A thread that blocks SIGURG as well can be neither trapped nor
    // parked: refuse now rather than after the rendezvous times out.
    if let t = scan.unparkable.first {
      throw .threadsUnresponsive(detail: Self.unparkableMessage(scan, t) + "; nothing was written")
    }
    guard let fd = writer?.procSelfMemFD else {
      throw .writerUnavailable(reason: "the parked protocol (needed while \(parkReason(scan))) writes through /proc/self/mem, which is not usable here")
    }
    let e = tp_rendezvous_install()
    if e != 0 { throw .threadsUnresponsive(detail: "cannot install the SIGURG handler (errno \(e))") }
    func writes(_ pick: (TextPatch) -> [UInt8]) -> [tp_write] {
      work.map { p in
        var w = tp_write()
        w.addr = UInt(p.address)
        w.len = UInt8(p.expected.count)
        withUnsafeMutableBytes(of: &w.bytes) { dst in for (i, b) in pick(p).enumerated() { dst[i] = b } }
        return w
      }
    }
    let new = writes(\.replacement), old = writes(\.expected)
    // The test hook runs before parking: nothing may run arbitrary code
    // while the other threads are parked.
    runBatchHooks()
    let missing = tp_rendezvous_begin(1, 2000)
    if missing != 0 {
      tp_rendezvous_end()
      let who = scan.threads.first { $0.tid == missing }
      let why = who.map { $0.blocks(SIGURG) ? "\($0) blocks SIGURG" : "\($0) did not answer SIGURG within 2 s (stopped?)" } ?? "thread \(missing) did not answer SIGURG within 2 s"
      throw .threadsUnresponsive(detail: "cannot park every thread (needed while \(parkReason(scan))): \(why); nothing was written")
    }
    let err = new.withUnsafeBufferPointer { tp_rendezvous_pwrite_all(fd, $0.baseAddress, $0.count) }
    if err != 0 {
      // Still parked: put every site back before anybody runs again.
      let back = old.withUnsafeBufferPointer { tp_rendezvous_pwrite_all(fd, $0.baseAddress, $0.count) }
      if back != 0 { fatalError("TextPoke: parked write failed (errno \(err)) and could not be undone (errno \(back))") }
    }
    tp_rendezvous_end()
    if err != 0 {
      throw .writerUnavailable(reason: "write through /proc/self/mem failed: \(String(cString: strerror(err)))")
    }
    batches += 1
    parkedBatches += 1
    sitesPatched += UInt64(work.count)
    lastProtocol = .parked
    return TextPokeBatchReport(sitesWritten: work.count, syncs: 0, retireWaits: 0, protocol: .parked, coreSync: coreSync ?? .membarrier)
  }

  static func signalSyncMessage(_ t: ProcessScan.ThreadInfo) -> String {
    "cannot patch without membarrier SYNC_CORE: every core sync then signals every thread, and \(t) blocks SIGURG"
  }

  static func unparkableMessage(_ scan: ProcessScan, _ t: ProcessScan.ThreadInfo) -> String {
    "cannot patch while \(parkReason(scan)): \(t) blocks SIGURG, so it can be neither trapped nor parked"
  }

  /// Why the next batch would be refused now, or nil: the writer, core
  /// sync and handler (`prepare`), then a fresh scan of the process.
  func patchingProblem() -> String? {
    do throws(TextPokeError) {
      _ = try prepare()
      return try lock.withLock { () throws(TextPokeError) -> String? in
        if underValgrind { return nil }
        let scan = ProcessScan.settled(faults, signalsNeeded: coreSync == .signals)
        if coreSync == .signals, !faults.contains(.skipSignalSyncCheck), let t = scan.sigurgBlockers.first {
          return Self.signalSyncMessage(t)
        }
        guard (scan.int3Hazard && !faults.contains(.neverPark)) || faults.contains(.alwaysPark) else { return nil }
        // The self-loop protocol needs a write window (refused under MDWE).
        if !faults.contains(.alwaysPark) && !faults.contains(.neverSelfLoop) {
          let f: @convention(c) () -> Int = tp_gettid
          var err: Int32 = 0
          if var w = WriteWindow.open([(unsafeBitCast(f, to: UInt.self), 2)], error: &err) {
            w.close()
            return nil
          }
        }
        if let t = scan.unparkable.first { return Self.unparkableMessage(scan, t) }
        if writer?.procSelfMemFD == nil {
          return "the parked protocol (needed while \(Self.parkReason(scan))) writes through /proc/self/mem, which is not usable here"
        }
        return nil
      }
    } catch {
      return error.description
    }
  }

  private func parkReason(_ scan: ProcessScan) -> String { Self.parkReason(scan) }

  static func parkReason(_ scan: ProcessScan) -> String {
    if let t = scan.tracer, t.stopsOnSigtrap { return "a debugger, \(t), is attached (a tracer that stops on SIGTRAP)" }
    if let t = scan.sigtrapBlockers.first { return "\(t) blocks SIGTRAP" }
    return "forced by fault injection"
  }

  /// Writes bytes `range` of `b` at `address` through the writer.
  private func write(_ b: InstructionBytes, _ range: Range<Int>, at address: UInt) throws(TextPokeError) {
    let e = try b.withBytes(range) { (raw) throws(TextPokeError) in writer!.write(raw, at: address) }
    if e != 0 {
      throw .writerUnavailable(reason: "write at \(CodeLocation(address)) failed: \(String(cString: strerror(e)))")
    }
  }

  private func sync() throws(TextPokeError) {
    if coreSync == .signals {
      let missing = tp_rendezvous_begin(0, 2000)
      tp_rendezvous_end()
      if missing != 0 {
        throw .threadsUnresponsive(detail: "signal-based core sync: thread \(missing) did not answer SIGURG within 2 s")
      }
    } else {
      try CoreSync.syncAllCores()
    }
    syncs += 1
  }

  /// Puts back the old instruction on every site touched by a failed batch,
  /// with the same protocol in reverse (the int3 stays until the old tail is
  /// complete). A failure here would leave text half-patched, so it stops.
  ///
  /// Order: old tails first, behind the int3s, then a sync, then the old
  /// first bytes. A site whose tail was never written needs no sync: its
  /// int3 over the old tail and the old byte over it are both whole
  /// instructions. The last sync is best effort: the old instruction is
  /// complete, and a core that still fetches an int3 traps (late trap).
  private func rollback(_ written: [(TextPatch, Int)]) {
    do {
      var tails = false
      for (p, n) in written where n > 1 {
        try write(p.expectedBytes, 1..<n, at: p.address + 1)
        tails = true
      }
      if tails { try sync() }
      for (p, _) in written { try write(p.expectedBytes, 0..<1, at: p.address) }
    } catch {
      fatalError("TextPoke: a batch failed and could not be rolled back (\(error)); the text would stay half-patched")
    }
    try? sync()
  }
}
