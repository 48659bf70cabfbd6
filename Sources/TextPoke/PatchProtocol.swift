/// How a batch was applied.
public enum PatchProtocol: String, Sendable, CustomStringConvertible, Codable {
  /// int3 on every site, three syncs, a trap handler for threads that hit
  /// a site meanwhile. Other threads never stop.
  case int3
  /// Every other thread is parked in a signal handler while whole
  /// instructions are written, then released. No int3. Used while a
  /// debugger is attached or a thread blocks SIGTRAP.
  case parked
  /// Also for a debugger or a SIGTRAP-blocking thread, without any signal:
  /// `jmp .` over each site's first two bytes, sync, the tail, sync, the
  /// new first two bytes, sync (HotSpot's way). Threads that reach a site
  /// meanwhile loop there for the batch's few microseconds.
  case selfLoop = "self-loop"
  /// Under valgrind: whole instructions written in one block of stores
  /// (valgrind runs one thread at a time and switches only between
  /// blocks), then valgrind's translations of them discarded. No int3,
  /// no signal, no core sync.
  case valgrind

  public var description: String { rawValue }
}

/// How "sync all cores" is done.
public enum CoreSyncMethod: String, Sendable, CustomStringConvertible {
  /// `membarrier(PRIVATE_EXPEDITED_SYNC_CORE)`.
  case membarrier
  /// A signal to every thread, each of which executes a serialising
  /// instruction and acknowledges (when membarrier is unavailable).
  case signals

  public var description: String { rawValue }
}

/// Conditions that tests impose on the engine, to reach fallback paths that
/// this machine would otherwise never take. Not for production use.
package struct TextPokeFaults: OptionSet, Sendable {
  public let rawValue: Int
  public init(rawValue: Int) { self.rawValue = rawValue }
  /// Behave as if membarrier SYNC_CORE were unavailable.
  public static let noMembarrier = TextPokeFaults(rawValue: 1)
  /// Behave as if /proc/self/mem writes were refused.
  public static let noProcSelfMem = TextPokeFaults(rawValue: 2)
  /// Use the parked protocol for every batch.
  public static let alwaysPark = TextPokeFaults(rawValue: 4)
  /// Never park: use int3 even under a debugger or with a thread blocking
  /// SIGTRAP. Exists only to show, in tests, what parking prevents.
  public static let neverPark = TextPokeFaults(rawValue: 8)
  /// Entry points never see that their thread is already inside the
  /// runtime (no re-entry refusal): shows, in tests, the hang a signal
  /// handler that toggles would otherwise run into. Takes effect at once.
  public static let ignoreReentry = TextPokeFaults(rawValue: 16)
  /// Every tracer counts as a debugger that stops on SIGTRAP, strace too
  /// (the classification's negative control). Takes effect at once.
  public static let tracersStopOnSigtrap = TextPokeFaults(rawValue: 32)
  /// Scans are not settled: a thread that only seems to block SIGURG (it
  /// is being created or ending, or, with `oldSettleRule`, it is still
  /// leaving our own handler) counts. Shows the false refusals the
  /// settling prevents.
  public static let unsettledScans = TextPokeFaults(rawValue: 64)
  /// Valgrind goes unnoticed: the engine patches as on a real CPU, which
  /// valgrind's stale translations make a silent no-op (or a crash).
  public static let ignoreValgrind = TextPokeFaults(rawValue: 128)
  /// Every batch scans every thread, as the first design did (for
  /// measuring what the hazard monitor saves, and for tests that must see
  /// a mask change at once).
  public static let freshScans = TextPokeFaults(rawValue: 256)
  /// Hazards park threads instead of using the self-loop protocol (to
  /// test and measure parking).
  public static let neverSelfLoop = TextPokeFaults(rawValue: 512)
  /// Without membarrier, threads that block SIGURG are not looked for
  /// before a batch: the batch starts and its first signal-based sync
  /// times out (2 s). Shows what the up-front refusal prevents, and that
  /// the rollback survives it.
  public static let skipSignalSyncCheck = TextPokeFaults(rawValue: 1024)
  /// The self-loop protocol leaves the patcher's signal mask alone: a
  /// handler that runs a site of the batch on the patcher's own thread
  /// then spins on the loop forever (the hang the mask prevents).
  public static let selfLoopKeepsSignals = TextPokeFaults(rawValue: 2048)
  /// Scans settle as they did before #17: a thread that finished our
  /// rendezvous handler but has not returned from it yet (preempted
  /// before its sigreturn) counts as blocking SIGURG, and a thread that
  /// seems to block nearly everything is waited for 10 ms at most however
  /// long it waits for a CPU. The negative control of the settle rule
  /// (Scripts/false-refusal-loop).
  public static let oldSettleRule = TextPokeFaults(rawValue: 4096)
  /// Each parked thread, after it finished the rendezvous handler, stays
  /// in it (mask still the handler's, SIGURG blocked) until the next
  /// batch's rendezvous begins (2 s at most), so every scan of that batch
  /// sees it: the window of the false refusal, made to happen at every
  /// batch whatever the machine's load. Takes effect at once.
  public static let heldHandlerExit = TextPokeFaults(rawValue: 8192)
}
