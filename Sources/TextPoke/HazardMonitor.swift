import CTextPoke
import Glibc

/// What the engine knows about the process's hazards (a tracer that stops
/// on SIGTRAP, threads that block SIGTRAP), kept between batches so that a
/// batch's cost does not grow with the number of threads.
///
/// A full scan reads every thread's /proc status (about 3-10 µs a thread:
/// 6-10 ms for 1,000 threads, once per batch in the first design). Now:
/// - the cheap facts (the tracer, the number of threads: one read of
///   /proc/self/status) are refreshed before a batch when they are more
///   than 10 ms old, or when the previous batch was more than 10 ms ago;
/// - the full scan runs when the number of threads changed since the last
///   one, when it is more than 1 s old, and always before threads are
///   parked (which needs every thread's mask as it is).
/// So a toggle made on its own (more than 10 ms after the last) sees the
/// process as it is, like before; only batches back to back within 10 ms
/// share the cheap facts, and a mask change of an existing thread, with no
/// thread created or ended, is seen within 1 s. The Limits article states
/// these bounds.
struct HazardMonitor {
  private var tracer: Tracer?
  private var threadCount = -1
  /// The last full scan (its threads and what they block).
  private var scanned = ProcessScan(tracer: nil, threads: [])
  private var cheapAt: UInt64 = 0
  private var fullAt: UInt64 = 0
  private var lastBatchAt: UInt64 = 0
  /// Scans and refreshes, for reports.
  private(set) var fullScans: UInt64 = 0
  private(set) var cheapRefreshes: UInt64 = 0

  static let cheapMaxAge: UInt64 = 10_000_000
  static let fullMaxAge: UInt64 = 1_000_000_000

  /// The process as the next batch should see it. Patch lock held.
  mutating func current(_ faults: TextPokeFaults) -> ProcessScan {
    let now = HazardMonitor.now()
    if faults.contains(.freshScans) {
      return fresh(faults, now)
    }
    if cheapAt == 0 || now &- cheapAt > Self.cheapMaxAge || now &- lastBatchAt > Self.cheapMaxAge {
      let (t, n) = ProcessScan.cheap()
      cheapRefreshes += 1
      tracer = t
      if n != threadCount || fullAt == 0 || now &- fullAt > Self.fullMaxAge {
        threadCount = n
        let s = ProcessScan.settled(faults)
        fullScans += 1
        scanned = s
        tracer = s.tracer
        fullAt = now
      }
      cheapAt = now
    }
    lastBatchAt = now
    return ProcessScan(tracer: tracer, threadsOf: scanned)
  }

  /// A full scan now (parking needs every thread's mask as it is now).
  mutating func fresh(_ faults: TextPokeFaults, signalsNeeded: Bool = false) -> ProcessScan {
    fresh(faults, HazardMonitor.now(), signalsNeeded: signalsNeeded)
  }

  /// A full scan now, remembered.
  mutating func fresh(_ faults: TextPokeFaults, _ now: UInt64, signalsNeeded: Bool = false) -> ProcessScan {
    let s = ProcessScan.settled(faults, signalsNeeded: signalsNeeded)
    fullScans += 1
    scanned = s
    tracer = s.tracer
    threadCount = s.threads.count + 1
    fullAt = now
    cheapAt = now
    lastBatchAt = now
    return s
  }

  static func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
  }
}
