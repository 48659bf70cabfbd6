import CTextPoke
import Glibc
import Synchronization

/// Cross-modifying code for a running, multithreaded process: the int3 +
/// core-sync protocol of the Linux kernel's `text_poke_bp`, in user space.
///
/// ``apply(_:)`` replaces one instruction at each of a batch of sites while
/// other threads may be executing them:
///
/// 1. Verify, under the patch lock, that every site holds the expected bytes.
///    If one does not, throw and write nothing.
/// 2. Publish the batch to the SIGTRAP handler, write `int3` (0xCC) on the
///    first byte of every site, and sync all cores.
/// 3. Write the remaining bytes of every site, and sync.
/// 4. Write the new first byte of every site, and sync.
/// 5. Retire the batch: wait until no trap handler still reads it.
///
/// Why the order is safe: a thread can only ever execute either the complete
/// old instruction or the complete new one, or trap. After step 2's sync no
/// thread can be executing from bytes fetched before the int3 was written
/// (the sync serialises every core), so while step 3 rewrites the tail, any
/// thread arriving at the site hits the int3 and the handler sends it to the
/// new instruction's effect (its ``TextPatch/resumeAddress``). The tail is
/// never executed while torn. Step 3's sync makes the complete new tail
/// visible to every core's instruction fetch before step 4 exposes it by
/// replacing the int3. Step 4's sync guarantees that when `apply` returns,
/// no thread can still see the old instruction or the int3 — except a thread
/// that trapped earlier and whose handler has not run yet: that late handler
/// finds the site restored and restarts the instruction (a stale trap), and
/// step 5 makes sure it does so without reading a retired batch.
///
/// Three syncs per batch, whatever the number of sites (two when no site has
/// tail bytes to change).
public enum TextPoke {
  /// Applies a batch of patches atomically with respect to other threads:
  /// when it returns, every thread of the process executes the new
  /// instructions. When it throws, no byte was changed.
  @discardableResult
  ///
  /// Called again on a thread that is already inside the engine (a signal
  /// handler that interrupted a batch, or code the patcher runs), it throws
  /// ``TextPokeError/reentrantPatch`` at once: no lock, no allocation.
  public static func apply(_ patches: [TextPatch]) throws(TextPokeError) -> TextPokeBatchReport {
    // The mark comes before anything that could wait: Engine.shared's
    // one-time initialiser and the patch lock (ThreadMarks.swift).
    guard ThreadMarks.enter(ThreadMarks.engine) else { throw .reentrantPatch }
    defer { ThreadMarks.leave(ThreadMarks.engine) }
    return try Engine.shared.apply(patches)
  }

  /// Checks that this process can be patched (writer, core sync, handler)
  /// and returns the writer in use. Cheap after the first call.
  @discardableResult
  public static func prepare() throws(TextPokeError) -> CodeWriterKind {
    guard ThreadMarks.enter(ThreadMarks.engine) else { throw .reentrantPatch }
    defer { ThreadMarks.leave(ThreadMarks.engine) }
    return try Engine.shared.prepare()
  }

  /// Why a batch would be refused now, or nil if it would be applied:
  /// ``prepare()``'s checks, then the process as it is now (a debugger
  /// attached while a thread blocks SIGURG, for instance). Reads
  /// /proc/self/task/*/status, so it costs about 10 µs per thread.
  public static func patchingProblem() -> String? {
    guard ThreadMarks.enter(ThreadMarks.engine) else { return TextPokeError.reentrantPatch.description }
    defer { ThreadMarks.leave(ThreadMarks.engine) }
    return Engine.shared.patchingProblem()
  }

  /// The kernel thread id of the calling thread.
  public static var currentThreadID: Int { tp_gettid() }

  /// A hook the patcher calls on its own thread in the middle of every
  /// batch (int3: after the int3s are written and synced; parked: before
  /// parking), for tests of re-entrant patching. Not for production use.
  /// Hooks are independent: tests running in parallel each add their own
  /// and remove only theirs. Returns the token for `_removeBatchHook`.
  @discardableResult
  package static func _addBatchHook(_ hook: @escaping @Sendable () -> Void) -> Int {
    Engine.shared.batchHooks.withLock { s in
      s.next += 1
      s.hooks[s.next] = hook
      return s.next
    }
  }

  /// Removes the hook `_addBatchHook` returned `token` for.
  package static func _removeBatchHook(_ token: Int) {
    _ = Engine.shared.batchHooks.withLock { $0.hooks.removeValue(forKey: token) }
  }

  /// Imposes conditions for tests (fault injection). Takes effect for the
  /// choices not made yet: call it before the first batch of the process.
  package static func _injectFaults(_ faults: TextPokeFaults) {
    if faults.contains(.ignoreReentry) { tp_marks_ignore_for_tests() }
    if faults.contains(.tracersStopOnSigtrap) { Tracer.allStop.store(true, ordering: .relaxed) }
    tp_rendezvous_hold_exit_for_tests(faults.contains(.heldHandlerExit) ? 1 : 0)
    let nested = ThreadMarks.add(ThreadMarks.engine)
    defer { if !nested { ThreadMarks.leave(ThreadMarks.engine) } }
    Engine.shared.lock.lock()
    Engine.shared.faults = faults
    Engine.shared.lock.unlock()
  }

  /// Batches of at least this many sites are written with user stores
  /// through a write window (the pages are made writable, still
  /// executable, for the batch's duration: tens of microseconds for 10,000
  /// sites), instead of three `/proc/self/mem` writes per site (about
  /// 1.7 µs each). nil, the default: int3 batches never map a page
  /// writable and executable (self-loop batches, used only while a
  /// debugger is attached or a thread blocks SIGTRAP, always store through
  /// a window). Where the window is refused (MDWE), batches use
  /// /proc/self/mem whatever this says. Also set at start-up by
  /// `JUMPLABEL_WRITE_WINDOW_SITES=N`.
  public static var bulkWriteThreshold: Int? {
    get {
      let nested = ThreadMarks.add(ThreadMarks.engine)
      defer { if !nested { ThreadMarks.leave(ThreadMarks.engine) } }
      return (try? Engine.shared.lock.withLock { () throws(TextPokeError) in Engine.shared.bulkWriteThreshold }) ?? nil
    }
    set {
      let nested = ThreadMarks.add(ThreadMarks.engine)
      defer { if !nested { ThreadMarks.leave(ThreadMarks.engine) } }
      _ = try? Engine.shared.lock.withLock { () throws(TextPokeError) in Engine.shared.bulkWriteThreshold = newValue.flatMap { $0 > 0 ? $0 : nil } }
    }
  }

  /// Installs the engine's `pthread_atfork` handlers now (they are also
  /// installed at the engine's first use). A client with its own lock that
  /// is taken before the patch lock calls this before registering its own
  /// handlers, so that the prepare handlers run in lock order.
  public static func installForkHandlers() {
    let nested = ThreadMarks.add(ThreadMarks.engine)
    defer { if !nested { ThreadMarks.leave(ThreadMarks.engine) } }
    _ = Engine.shared
  }

  /// Forgets every site in `range` because the image that holds them is
  /// being unloaded (call before it is unmapped). Without this, the late-trap
  /// history would keep the addresses forever and grow with every reload.
  /// Takes the patch lock. Returns how many sites were forgotten.
  @discardableResult
  public static func forgetSites(in range: Range<UInt>) -> Int {
    let nested = ThreadMarks.add(ThreadMarks.engine)
    defer { if !nested { ThreadMarks.leave(ThreadMarks.engine) } }
    Engine.shared.lock.lock()
    defer { Engine.shared.lock.unlock() }
    return tp_history_forget(range.lowerBound, range.upperBound)
  }

  /// Counters since the start of the process. Read on a thread that is
  /// inside the engine already (a signal handler), only the trap handler's
  /// counters are filled in.
  public static var statistics: TextPokeStatistics {
    guard ThreadMarks.enter(ThreadMarks.engine) else { return Engine.handlerCountersOnly() }
    defer { ThreadMarks.leave(ThreadMarks.engine) }
    return Engine.shared.statistics
  }
}

/// What one ``TextPoke/apply(_:)`` call did.
public struct TextPokeBatchReport: Sendable, Equatable {
  /// Sites whose bytes changed (patches whose replacement equalled the
  /// current bytes are skipped).
  public var sitesWritten: Int
  /// `membarrier` syncs issued: 3, or 2 when no site had tail bytes to
  /// change, or 0 when nothing changed.
  public var syncs: Int
  /// Yields while waiting for trap handlers to release the batch.
  public var retireWaits: UInt64
  /// The protocol used.
  public var `protocol`: PatchProtocol
  /// How cores were synchronised.
  public var coreSync: CoreSyncMethod
}

/// What the engine has done so far in this process.
public struct TextPokeStatistics: Sendable, Equatable {
  /// Batches applied.
  public var batches: UInt64
  /// Sites written (all batches).
  public var sitesPatched: UInt64
  /// `membarrier` syncs issued.
  public var syncs: UInt64
  /// Traps on a site while its batch was in flight; the handler emulated
  /// the new instruction.
  public var trapsEmulated: UInt64
  /// Late traps: the handler ran after the site was restored and restarted
  /// the instruction.
  public var staleTraps: UInt64
  /// Times a handler waited because a batch was being published or retired.
  public var handlerRetries: UInt64
  /// SIGTRAPs that were not ours and went to the previous disposition.
  public var foreignTraps: UInt64
  /// Times the patcher yielded while waiting for handlers to finish (the
  /// seed's question: usually 0, because the last sync already waited).
  public var retireWaits: UInt64
  /// The writer chosen for int3 batches, if one was. Self-loop batches and
  /// opt-in write-window batches store through a write window whatever
  /// this says.
  public var writer: CodeWriterKind?
  /// Batches applied with the parked protocol (a debugger attached or a
  /// thread blocking SIGTRAP, where the self-loop cannot be used: MDWE).
  public var parkedBatches: UInt64
  /// How cores are synchronised, once chosen.
  public var coreSync: CoreSyncMethod?
  /// The protocol of the last batch.
  public var lastProtocol: PatchProtocol?
  /// Batches applied with the self-loop protocol (a hazard, no signal).
  public var selfLoopBatches: UInt64 = 0
  /// int3 batches written through a write window (`bulkWriteThreshold`).
  public var writeWindowBatches: UInt64 = 0
  /// Batches whose final core sync failed (signal-based sync: a thread
  /// stopped answering) after every site already held its whole new
  /// instruction. They took effect; a core that still fetched the old
  /// first byte traps (int3) or loops a little longer (self-loop).
  public var lateSyncFailures: UInt64 = 0
}
