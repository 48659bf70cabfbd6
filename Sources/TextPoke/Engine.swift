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
    let (b, s, y, w, k, pb, cs, lp) = (try? lock.withLock { () throws(TextPokeError) in
      (batches, sitesPatched, syncs, retireWaits, valgrindSeen == true ? CodeWriterKind.mprotectWindow : writer?.kind,
       parkedBatches, coreSync, lastProtocol)
    }) ?? (0, 0, 0, 0, nil, 0, nil, nil)
    var r = TextPokeStatistics(
      batches: b, sitesPatched: s, syncs: y, trapsEmulated: c.emulated, staleTraps: c.stale,
      handlerRetries: c.retried, foreignTraps: c.foreign, retireWaits: w, writer: k,
      parkedBatches: pb, coreSync: cs)
    r.lastProtocol = lp
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
      for p in patches {
        let found = Array(UnsafeBufferPointer(start: UnsafePointer<UInt8>(bitPattern: p.address), count: p.expected.count))
        if found != p.expected {
          throw .unexpectedBytes(site: CodeLocation(p.address), expected: p.expected, found: found)
        }
      }
      let work = patches.filter { $0.expected != $0.replacement }
      if work.isEmpty { return TextPokeBatchReport(sitesWritten: 0, syncs: 0, retireWaits: 0, protocol: .int3, coreSync: coreSync ?? .membarrier) }
      if underValgrind { return try runUnderValgrind(work) }
      _ = try ready(probe: work[0].address)
      // Before each batch: a debugger would stop on our int3s, and a thread
      // that blocks SIGTRAP would be killed by one. Then park instead.
      let scan = ProcessScan.settled(faults)
      if (scan.int3Hazard && !faults.contains(.neverPark)) || faults.contains(.alwaysPark) {
        return try runParked(work, scan)
      }
      for p in work where tp_history_add(p.address) != 0 {
        throw .tooManySites(limit: 49152)
      }
      return try run(work)
    }
  }

  /// Checks lengths, addresses and overlaps, and sorts by address.
  private func validated(_ input: [TextPatch]) throws(TextPokeError) -> [TextPatch] {
    for p in input {
      if p.address == 0 { throw .invalidPatch(address: 0, reason: "null address") }
      if p.expected.count != p.replacement.count {
        throw .invalidPatch(address: p.address, reason: "expected \(p.expected.count) bytes but replacement has \(p.replacement.count)")
      }
      if p.expected.isEmpty || p.expected.count > 15 {
        throw .invalidPatch(address: p.address, reason: "an instruction is 1 to 15 bytes, not \(p.expected.count)")
      }
    }
    let sorted = input.sorted { $0.address < $1.address }
    for i in sorted.indices.dropFirst() {
      let a = sorted[i - 1], b = sorted[i]
      if a.address &+ UInt(a.expected.count) > b.address {
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
    var written: [(TextPatch, Int)] = []  // for rollback: bytes changed so far
    do {
      for p in work {
        try write([X86Instruction.int3], at: p.address)
        written.append((p, 1))
      }
      try sync()
      runBatchHooks()
      var anyTail = false
      for (i, p) in work.enumerated() where p.expected.count > 1 && p.expected[1...] != p.replacement[1...] {
        try write(Array(p.replacement[1...]), at: p.address + 1)
        written[i].1 = p.expected.count
        anyTail = true
      }
      if anyTail { try sync() }
      for p in work { try write([p.replacement[0]], at: p.address) }
      try sync()
    } catch {
      rollback(written)
      retireWaits += tp_batch_retire()
      throw error
    }
    let waits = tp_batch_retire()
    retireWaits += waits
    batches += 1
    sitesPatched += UInt64(work.count)
    lastProtocol = .int3
    return TextPokeBatchReport(sitesWritten: work.count, syncs: Int(syncs - syncsBefore), retireWaits: waits, protocol: .int3, coreSync: coreSync ?? .membarrier)
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
        let scan = ProcessScan.settled(faults)
        guard (scan.int3Hazard && !faults.contains(.neverPark)) || faults.contains(.alwaysPark) else { return nil }
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

  private func write(_ bytes: [UInt8], at address: UInt) throws(TextPokeError) {
    let e = writer!.write(bytes, at: address)
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
  private func rollback(_ written: [(TextPatch, Int)]) {
    do {
      for (p, n) in written where n > 1 { try write(Array(p.expected[1..<n]), at: p.address + 1) }
      try sync()
      for (p, _) in written { try write([p.expected[0]], at: p.address) }
      try sync()
    } catch {
      fatalError("TextPoke: a batch failed and could not be rolled back (\(error)); the text would stay half-patched")
    }
  }
}
