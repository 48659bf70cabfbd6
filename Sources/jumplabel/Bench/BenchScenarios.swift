import BenchSites
import CBench
import Foundation
import Glibc
import Histogram
import JumpLabel
import Synchronization
import TextPoke

/// The keys of the generated bench library (Sources/BenchSites), with 1,
/// 10, 100, 1,000 and 10,000 sites.
enum BenchKeys {
  static let sizes = [1, 10, 100, 1000, 10000]
  static let all: [StaticKey] = [
    StaticKey("bench.n1"), StaticKey("bench.n10"), StaticKey("bench.n100"), StaticKey("bench.n1000"), StaticKey("bench.n10000"),
  ]
  /// Runs every site of key `k` once.
  @inline(never) static func call(_ k: Int) -> UInt32 { bench_call(UInt32(k), 0) }
}

/// One benchmark run's figures, printed as a table or as JSON.
struct BenchReport: Codable {
  struct Machine: Codable { var cpu: String; var cpus: Int; var kernel: String }
  struct SiteRow: Codable { var sites: Int; var toggle: Summary; var sitesPerSecond: Double; var syncsPerBatch: Double; var writer: String }
  struct ThreadRow: Codable { var threads: Int; var toggle: Summary; var mode: String }
  struct PeerRow: Codable { var patcher: String; var busyThreads: Int; var toggle: Summary }
  struct StallRow: Codable {
    var condition: String; var calls: Int; var toggles: Int
    var p50Ns: Double; var p99Ns: Double; var p999Ns: Double; var maxNs: Double
    var percentiles: [[Double]]
  }
  struct IndexRow: Codable { var sites: Int; var milliseconds: Double; var bytesPerSite: Double }
  struct USDTRow: Codable { var state: String; var nsPerEmit: Double }
  /// A dynamic-debug query over 1,000 statements (BenchDynDbg.swift).
  struct DynDbgRow: Codable {
    var statements: Int; var sites: Int
    var queryOn: Summary; var queryOff: Summary; var matchOnly: Summary
    var windowOn: Summary; var windowOff: Summary
    var batchesPerQuery: Double; var syncsPerQuery: Double
    var oneByOneOnMs: Double; var oneByOneOffMs: Double; var oneByOneSyncs: Int
  }

  var machine: Machine
  var floor: Summary?
  var threeSyncs: Summary?
  var sites: [SiteRow] = []
  var busy: [ThreadRow] = []
  var idle: [ThreadRow] = []
  var blocker: [ThreadRow] = []
  var peer: [PeerRow] = []
  var stall: [StallRow] = []
  var index: IndexRow?
  var usdt: [USDTRow] = []
  var dyndbg: DynDbgRow?
}

/// The scenarios. Each toggles real sites of the bench library.
struct BenchScenarios {
  var quick: Bool

  /// Times `toggles` alternate enable/disable of `key` (after a warm-up).
  func toggleTimes(_ key: StaticKey, toggles: Int, using toggle: (Bool) throws -> Void = { _ in }) rethrows -> [UInt64] {
    var out: [UInt64] = []
    out.reserveCapacity(toggles)
    for i in 0..<(toggles + 4) {
      let on = i % 2 == 0
      let t0 = nowNs()
      try toggle(on)
      let dt = nowNs() - t0
      if i >= 4 { out.append(dt) }
    }
    return out
  }

  func toggleKey(_ key: StaticKey, toggles: Int) throws -> [UInt64] {
    try toggleTimes(key, toggles: toggles) { on in try key.set(on) }
  }

  // MARK: floor

  func floor() throws -> (Summary, Summary) {
    let fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { throw BenchError("cannot open /proc/self/mem") }
    defer { close(fd) }
    let f: @convention(c) (UInt32, UInt32) -> UInt32 = bench_call
    let addr = unsafeBitCast(f, to: UInt.self)
    let n = quick ? 300 : 2000
    var a: [UInt64] = [], b: [UInt64] = []
    _ = try TextPoke.prepare()  // registers membarrier
    for _ in 0..<n {
      var t0 = nowNs()
      if bench_floor_once(fd, addr) != 0 { throw BenchError("floor: errno \(errno)") }
      a.append(nowNs() - t0)
      t0 = nowNs()
      _ = bench_three_syncs()
      b.append(nowNs() - t0)
    }
    return (Summary(a), Summary(b))
  }

  // MARK: sites

  func sites() throws -> [BenchReport.SiteRow] {
    var rows: [BenchReport.SiteRow] = []
    for window in [false, true] {
      TextPoke.bulkWriteThreshold = window ? 1 : nil
      defer { TextPoke.bulkWriteThreshold = nil }
      for (i, key) in BenchKeys.all.enumerated() {
        let n = BenchKeys.sizes[i]
        let toggles = quick || window ? max(10, 200 / max(1, n / 10)) : max(20, 2000 / max(1, n / 10))
        let before = TextPoke.statistics
        let times = try toggleKey(key, toggles: toggles)
        let after = TextPoke.statistics
        let s = Summary(times)
        let batches = Double(after.batches - before.batches)
        let used = after.writeWindowBatches > before.writeWindowBatches
        rows.append(.init(sites: n, toggle: s, sitesPerSecond: Double(n) / (s.medianNs / 1e9),
                          syncsPerBatch: batches > 0 ? Double(after.syncs - before.syncs) / batches : 0,
                          writer: used ? "write window (opt-in)" : after.writer?.description ?? "-"))
      }
    }
    return rows
  }

  // MARK: busy threads

  func busy() throws -> [BenchReport.ThreadRow] {
    var rows: [BenchReport.ThreadRow] = []
    for b in [0, 1, 2, 4] {
      let group = ThreadGroup(count: b) { g in
        var acc: UInt32 = 0
        while !g.stopped { acc &+= BenchKeys.call(2) }
        blackHole(acc)
      }
      let times = try toggleKey(BenchKeys.all[2], toggles: quick ? 100 : 1000)
      group.stop()
      rows.append(.init(threads: b, toggle: Summary(times), mode: "100 sites, busy threads run them"))
    }
    return rows
  }

  // MARK: idle threads

  func idle() throws -> [BenchReport.ThreadRow] {
    var rows: [BenchReport.ThreadRow] = []
    for n in quick ? [0, 1000] : [0, 1000, 10000] {
      let idle = IdleThreads(count: n)
      for (mode, faults) in [("hazard monitor (now)", TextPokeFaults()), ("scan per batch (first design)", TextPokeFaults.freshScans)] {
        TextPoke._injectFaults(faults)
        let toggles = faults.contains(.freshScans) && n >= 10000 ? 20 : (quick ? 200 : 2000)
        let times = try toggleKey(BenchKeys.all[0], toggles: toggles)
        rows.append(.init(threads: idle.count, toggle: Summary(times), mode: mode))
      }
      TextPoke._injectFaults([])
      idle.stop()
    }
    return rows
  }

  // MARK: SIGTRAP blocker

  func blocker() throws -> [BenchReport.ThreadRow] {
    var rows: [BenchReport.ThreadRow] = []
    let cpus = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    for (busy, faults, name) in [(cpus, TextPokeFaults(), "self-loop"), (cpus + 2, TextPokeFaults(), "self-loop"),
                                 (cpus, TextPokeFaults.neverSelfLoop, "parked"), (cpus + 2, TextPokeFaults.neverSelfLoop, "parked")] {
      TextPoke._injectFaults(faults)
      defer { TextPoke._injectFaults([]) }
      let blocking = ThreadGroup(count: 1) { g in
        jl_bench_block_sigtrap()
        var acc: UInt32 = 0
        while !g.stopped { acc &+= BenchKeys.call(0) }
        blackHole(acc)
      }
      let workers = ThreadGroup(count: busy) { g in
        var acc: UInt32 = 0
        while !g.stopped { acc &+= BenchKeys.call(0) }
        blackHole(acc)
      }
      let times = try toggleKey(BenchKeys.all[0], toggles: quick ? 50 : 300)
      workers.stop()
      blocking.stop()
      rows.append(.init(threads: busy + 1, toggle: Summary(times), mode: "\(name): 1 SIGTRAP-blocking + \(busy) busy threads on \(cpus) CPUs"))
    }
    return rows
  }

  // MARK: the Rust static-key design, side by side

  func peer() throws -> [BenchReport.PeerRow] {
    var rows: [BenchReport.PeerRow] = []
    let key = BenchKeys.all[0]
    let site = try requireSite(key)
    for busy in [0, 1] {
      let group = ThreadGroup(count: busy) { g in
        var acc: UInt32 = 0
        while !g.stopped { acc &+= BenchKeys.call(0) }
        blackHole(acc)
      }
      let ours = try toggleKey(key, toggles: quick ? 300 : 2000)
      rows.append(.init(patcher: "textpoke (int3, 3 syncs, W^X kept)", busyThreads: busy, toggle: Summary(ours)))
      // The crate's way: the page made RWX for good, one atomic store, one
      // membarrier. Restored to r-x afterwards; the key ends disabled.
      guard bench_rwx(site.address, 5) == 0 else { throw BenchError("mprotect RWX refused (MDWE?)") }
      let nop = site.expectedBytes(enabled: false), jmp = site.expectedBytes(enabled: true)
      let theirs = toggleTimes(key, toggles: quick ? 300 : 2000) { on in
        (on ? jmp : nop).withUnsafeBufferPointer { bench_rust_style_patch(site.address, $0.baseAddress) }
      }
      nop.withUnsafeBufferPointer { bench_rust_style_patch(site.address, $0.baseAddress) }
      _ = bench_rx(site.address, 5)
      group.stop()
      rows.append(.init(patcher: "static-key crate design (RWX, 1 store, 1 sync)", busyThreads: busy, toggle: Summary(theirs)))
    }
    return rows
  }

  // MARK: the stall on running threads

  /// A worker calls the 100-site function in a loop and records each
  /// call's duration; meanwhile the key is toggled without a pause by our
  /// engine, or by a stop-the-world patcher (every thread parked by a
  /// signal while whole instructions are written: the parked protocol,
  /// forced), or not at all. Our engine runs twice: with its default
  /// writer (three `/proc/self/mem` writes per site: a long int3 window)
  /// and with the opt-in write window (a short one).
  func stall(seconds: Double) throws -> [BenchReport.StallRow] {
    var rows: [BenchReport.StallRow] = []
    let conditions: [(String, TextPokeFaults, Bool, Int?)] = [
      ("no toggling", [], false, nil), ("textpoke (int3)", [], true, nil),
      ("textpoke (int3), write window (opt-in)", [], true, 1),
      ("stop the world (all threads parked)", .alwaysPark, true, nil),
    ]
    let savedThreshold = TextPoke.bulkWriteThreshold
    defer { TextPoke.bulkWriteThreshold = savedThreshold }
    for (condition, faults, toggling, threshold) in conditions {
      TextPoke._injectFaults(faults)
      TextPoke.bulkWriteThreshold = threshold
      let histogram = Mutex(Histogram<UInt64>(highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: .three))
      let calls = Atomic<Int>(0)
      let worker = ThreadGroup(count: 1) { g in
        var h = Histogram<UInt64>(highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: .three)
        var acc: UInt32 = 0, n = 0
        while !g.stopped {
          let t0 = nowNs()
          acc &+= BenchKeys.call(2)
          _ = h.record(nowNs() - t0)
          n += 1
        }
        blackHole(acc)
        calls.store(n, ordering: .relaxed)
        histogram.withLock { $0 = h }
      }
      var toggles = 0
      let end = nowNs() + UInt64(seconds * 1e9)
      while nowNs() < end {
        if toggling {
          try BenchKeys.all[2].set(toggles % 2 == 0)
          toggles += 1
        } else {
          usleep(10_000)
        }
      }
      worker.stop()
      try BenchKeys.all[2].disable()
      TextPoke._injectFaults([])
      let h = histogram.withLock { $0 }
      var curve: [[Double]] = []
      for q in [0.0, 0.5, 0.75, 0.9, 0.99, 0.999, 0.9999, 0.99999, 1.0] {
        curve.append([q, Double(h.valueAtPercentile(q * 100))])
      }
      rows.append(.init(
        condition: condition, calls: calls.load(ordering: .relaxed), toggles: toggles,
        p50Ns: Double(h.valueAtPercentile(50)), p99Ns: Double(h.valueAtPercentile(99)),
        p999Ns: Double(h.valueAtPercentile(99.9)), maxNs: Double(h.max), percentiles: curve))
    }
    return rows
  }

  // MARK: start-up indexing

  /// Generates a C library with `count` sites of 100 keys, builds it with
  /// the toolchain's clang, loads it once the runtime has started (its
  /// load hook indexes it) and reports the time spent indexing and the
  /// memory the index grew by.
  func index(count: Int) throws -> BenchReport.IndexRow {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jumplabel-bench-index-\(getpid())").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var src = "#include <jumplabel_site.h>\n"
    let perFunction = 100
    for f in 0..<(count / perFunction) {
      src += "__attribute__((noinline)) unsigned gen_f\(f)(unsigned a) {\n"
      for i in 0..<perFunction { src += "  if (JL_BRANCH(\"gen.k\(f % 100)\", 0, 0)) a += \(f * perFunction + i + 1)u;\n" }
      src += "  return a;\n}\n"
    }
    try src.write(toFile: dir + "/gen.c", atomically: true, encoding: .utf8)
    let include = try siteHeaderDirectory()
    let candidates = ["/opt/swift/usr/bin/clang", "/usr/bin/clang"]
    let clang = candidates.first { access($0, X_OK) == 0 } ?? "clang"
    let p = Process()
    p.executableURL = URL(fileURLWithPath: clang)
    p.arguments = ["-O1", "-fPIC", "-shared", "-nostartfiles", "-I", include, dir + "/gen.c", "-o", dir + "/libgen.so"]
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw BenchError("clang failed building the \(count)-site library") }
    _ = StaticKeys.list()  // the runtime has started: the load hook indexes the library
    let (s0, t0) = StaticKeys._indexStatistics
    let m0 = bench_heap_in_use()
    guard let h = dlopen(dir + "/libgen.so", RTLD_NOW | RTLD_LOCAL) else { throw BenchError("dlopen: \(String(cString: dlerror()))") }
    let (s1, t1) = StaticKeys._indexStatistics
    let m1 = bench_heap_in_use()
    dlclose(h)
    let sites = s1 - s0
    let ms = Double(t1 - t0) / 1e6
    let bytes = Double(Int(m1) - Int(m0)) / Double(max(1, sites))
    return .init(sites: sites, milliseconds: ms, bytesPerSite: bytes)
  }

  /// Sources/CJumpLabelSite/include, found next to the package's sources.
  func siteHeaderDirectory() throws -> String {
    var dir = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { dir.deleteLastPathComponent() }
    let inc = dir.appendingPathComponent("Sources/CJumpLabelSite/include").path
    guard access(inc + "/jumplabel_site.h", R_OK) == 0 else { throw BenchError("cannot find jumplabel_site.h (run from the package's checkout)") }
    return inc
  }
}

struct BenchError: Error, CustomStringConvertible {
  let description: String
  init(_ d: String) { description = d }
}

@inline(never) func blackHole(_ x: UInt32) { if x == 0xDEAD_BEEF { print("") } }

/// The first site of `key`.
func requireSite(_ key: StaticKey) throws -> StaticKeySite {
  guard let s = try StaticKeys.sites(named: key.nameString).first else { throw BenchError("\(key) has no site (a debug build?)") }
  return s
}
