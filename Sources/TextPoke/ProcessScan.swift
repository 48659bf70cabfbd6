import CTextPoke
import Glibc

/// What the engine must know about the process before each batch: whether
/// a debugger is attached, and which threads block SIGTRAP or SIGURG.
/// Read from /proc/self; costs one small file read per thread.
struct ProcessScan {
  /// A thread and the signals it blocks.
  struct ThreadInfo: CustomStringConvertible {
    let tid: Int
    let name: String
    let blocked: UInt64
    func blocks(_ sig: Int32) -> Bool { blocked & (1 << UInt64(sig - 1)) != 0 }
    /// Blocks SIGINT, SIGTERM and SIGURG too: a thread being created, or a
    /// signal-handling thread (sigwait); it cannot be parked either.
    var blocksNearlyEverything: Bool { blocks(SIGINT) && blocks(SIGTERM) && blocks(SIGURG) }
    /// Blocks every signal our rendezvous handler blocks (all but the
    /// synchronous faults; SIGKILL and SIGSTOP are never shown): the mask
    /// a thread has while it is inside that handler or a sigreturn away.
    var coversHandlerMask: Bool {
      let never: Set<Int32> = [SIGTRAP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGKILL, SIGSTOP]
      return (1...31).allSatisfy { never.contains(Int32($0)) || blocks(Int32($0)) }
    }
    var description: String { "thread \(tid) (\(name))" }
  }

  /// The tracer attached to the process (ptrace), if any.
  let tracer: Tracer?
  /// Threads other than the caller.
  let threads: [ThreadInfo]
  /// Other threads that block SIGTRAP: an int3 on such a thread kills the
  /// process (the kernel forces the signal and resets the disposition).
  /// Found once per scan: every batch asks (`int3Hazard`), and a filter
  /// over 10,000 threads per batch tripled the cost of a toggle.
  let sigtrapBlockers: [ThreadInfo]

  /// The fault `oldSettleRule`: threads that finished our handler count
  /// as blockers (see `sigurgBlockers`).
  let oldSettleRule: Bool

  init(tracer: Tracer?, threads: [ThreadInfo], oldSettleRule: Bool = false) {
    self.tracer = tracer
    self.threads = threads
    self.oldSettleRule = oldSettleRule
    sigtrapBlockers = threads.filter { $0.blocks(SIGTRAP) }
  }

  /// `scan`'s threads, as they were, with a newer view of the tracer.
  init(tracer: Tracer?, threadsOf scan: ProcessScan) {
    self.tracer = tracer
    threads = scan.threads
    oldSettleRule = scan.oldSettleRule
    sigtrapBlockers = scan.sigtrapBlockers
  }

  /// The int3 protocol cannot be used: a tracer would stop on our traps, or
  /// a thread would be killed by one.
  var int3Hazard: Bool { (tracer?.stopsOnSigtrap ?? false) || !sigtrapBlockers.isEmpty }

  /// Threads that block SIGURG, the signal of parking and of the
  /// signal-based core sync. A thread that answered the last rendezvous
  /// and still shows the handler's mask (SIGURG blocked) is not one of
  /// them: it is inside the handler, or it finished it and is a sigreturn
  /// away from its own mask. The second case was the false refusal of
  /// #17: a thread preempted between the end of the handler and its
  /// sigreturn, behind busy threads, stayed so longer than the settle's
  /// 10 ms. Were such a thread to block SIGURG by itself afterwards, the
  /// rendezvous would find out (it waits 2 s, then refuses, nothing written).
  var sigurgBlockers: [ThreadInfo] {
    threads.filter { t in
      guard t.blocks(SIGURG) else { return false }
      if oldSettleRule { return tp_rendezvous_is_inside(t.tid) == 0 }
      return !(t.coversHandlerMask && tp_rendezvous_answered(t.tid) != 0)
    }
  }

  /// Threads that could not be parked if parking were needed: while there
  /// is an int3 hazard (whichever thread causes it), every thread that
  /// blocks SIGURG.
  var unparkable: [ThreadInfo] { int3Hazard ? sigurgBlockers : [] }

  /// A scan in which no thread blocks signals only transiently, looked at
  /// again every 200 µs for up to 10 ms while one seems to:
  /// - glibc's pthread_create blocks (nearly) every signal in the creating
  ///   thread and in the new one for a few microseconds;
  /// - a thread still leaving our own handlers (the parking handler of the
  ///   previous batch, a late trap) shows their masks, SIGURG blocked
  ///   among them, until its sigreturn. Under a tracer every signal
  ///   delivery is slower (strace: 922 of 4,000 toggles were once refused
  ///   this way, blaming a thread that blocked nothing).
  /// A thread that blocks SIGTRAP but not nearly everything counts at once.
  /// With `signalsNeeded` (the core sync is signal-based), a thread that
  /// seems to block SIGURG is looked at again too.
  ///
  /// After those 10 ms, it keeps looking (up to 2 s, the rendezvous' own
  /// bound) only while every thread that still seems to block is one that
  /// blocks nearly everything, is runnable, and has used less than 1 ms of
  /// CPU since it was first seen so: a thread being created or ending that
  /// waits for a CPU behind busy threads (a time slice can be longer than
  /// 10 ms), not one that blocks signals for real (asleep in sigwait, or
  /// running with them blocked: both stop the wait at once).
  static func settled(_ faults: TextPokeFaults = [], signalsNeeded: Bool = false) -> ProcessScan {
    let old = faults.contains(.oldSettleRule)
    var scan = now(oldSettleRule: old)
    if faults.contains(.unsettledScans) { return scan }
    let started = monotonic()
    var cpuAtFirstSight: [Int: UInt64] = [:]
    var tries = 0
    while true {
      let suspects = scan.sigtrapBlockers.filter(\.blocksNearlyEverything)
        + (scan.int3Hazard ? scan.unparkable : [])
        + (signalsNeeded ? scan.sigurgBlockers : [])
      if suspects.isEmpty { break }
      if tries >= 50 {
        if old { break }
        let waitingForCPU = suspects.allSatisfy { t in
          guard t.blocksNearlyEverything, let (state, cpu) = schedulingState(of: t.tid) else { return false }
          let first = cpuAtFirstSight[t.tid] ?? cpu
          cpuAtFirstSight[t.tid] = first
          return (state == UInt8(ascii: "R") || state == UInt8(ascii: "D")) && cpu &- first < 1_000_000
        }
        if !waitingForCPU || monotonic() &- started > 2_000_000_000 { break }
      }
      usleep(200)
      scan = now(oldSettleRule: old)
      tries += 1
    }
    return scan
  }

  /// A thread's scheduler state letter (/proc/self/task/TID/stat) and the
  /// CPU time it has used (its thread CPU clock, ns); nil if it is gone.
  static func schedulingState(of tid: Int) -> (state: UInt8, cpuNanoseconds: UInt64)? {
    var buf = [UInt8](repeating: 0, count: 512)
    let fd = open("/proc/self/task/\(tid)/stat", O_RDONLY | O_CLOEXEC)
    if fd < 0 { return nil }
    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count - 1) }
    close(fd)
    // "tid (comm) S ...": the comm may hold spaces and parentheses; the
    // state follows the last ')'.
    guard n > 0, let close = buf[0..<n].lastIndex(of: UInt8(ascii: ")")), close + 2 < n else { return nil }
    // The thread CPU clock of `tid` (the kernel's MAKE_THREAD_CPUCLOCK:
    // ~tid << 3 | CPUCLOCK_PERTHREAD_MASK | CPUCLOCK_SCHED), readable for
    // threads of this process.
    var ts = timespec()
    guard clock_gettime(clockid_t((~Int32(truncatingIfNeeded: tid)) << 3 | 6), &ts) == 0 else { return nil }
    return (buf[close + 2], UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
  }

  static func monotonic() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
  }

  /// The tracer and the number of threads: one read of /proc/self/status.
  static func cheap() -> (tracer: Tracer?, threads: Int) {
    var buf = [UInt8](repeating: 0, count: 4096)
    let tracerPid = Int(field("TracerPid", in: "/proc/self/status", &buf) ?? "0") ?? 0
    let n = Int(field("Threads", in: "", &buf, reread: false) ?? "0") ?? 0
    return (tracerPid == 0 ? nil : Tracer(pid: tracerPid), n)
  }

  static func now(oldSettleRule: Bool = false) -> ProcessScan {
    let me = tp_gettid()
    var buf = [UInt8](repeating: 0, count: 4096)
    let tracerPid = Int(field("TracerPid", in: "/proc/self/status", &buf) ?? "0") ?? 0
    let tracer = tracerPid == 0 ? nil : Tracer(pid: tracerPid)
    var threads: [ThreadInfo] = []
    if let dir = opendir("/proc/self/task") {
      defer { closedir(dir) }
      while let e = readdir(dir) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let tid = Int(name), tid != me else { continue }
        let path = "/proc/self/task/\(tid)/status"
        guard let blk = field("SigBlk", in: path, &buf) else { continue }  // exited meanwhile
        threads.append(ThreadInfo(tid: tid, name: field("Name", in: path, &buf, reread: false) ?? "?", blocked: UInt64(blk, radix: 16) ?? 0))
      }
    }
    return ProcessScan(tracer: tracer, threads: threads, oldSettleRule: oldSettleRule)
  }

  /// The value of "key:<tab>value" in a /proc status file, read into `buf`
  /// (or, with `reread: false`, already there from the previous call).
  static func field(_ key: String, in path: String, _ buf: inout [UInt8], reread: Bool = true) -> String? {
    if reread {
      for i in buf.indices { buf[i] = 0 }
      let fd = open(path, O_RDONLY | O_CLOEXEC)
      if fd < 0 { return nil }
      defer { close(fd) }
      var used = 0
      while used < buf.count - 1 {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress! + used, $0.count - 1 - used) }
        if n <= 0 { break }
        used += n
      }
      if used == 0 { return nil }
    }
    let k = Array(key.utf8) + [UInt8(ascii: ":")]
    var i = 0
    while i + k.count < buf.count && buf[i] != 0 {
      if buf[i..<(i + k.count)].elementsEqual(k) {
        var v = i + k.count
        while buf[v] == 0x20 || buf[v] == 0x09 { v += 1 }
        var e = v
        while buf[e] != 0x0A && buf[e] != 0 { e += 1 }
        return String(decoding: buf[v..<e], as: UTF8.self)
      }
      while buf[i] != 0x0A && buf[i] != 0 { i += 1 }
      if buf[i] == 0 { break }
      i += 1
    }
    return nil
  }
}
