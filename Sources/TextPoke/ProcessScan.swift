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
    var description: String { "thread \(tid) (\(name))" }
  }

  /// Pid of the tracer (a debugger), or 0.
  let tracerPid: Int
  /// Threads other than the caller.
  let threads: [ThreadInfo]

  /// Other threads that block SIGTRAP: an int3 on such a thread kills the
  /// process (the kernel forces the signal and resets the disposition).
  var sigtrapBlockers: [ThreadInfo] { threads.filter { $0.blocks(SIGTRAP) } }

  /// A scan in which no thread blocks SIGTRAP only transiently: glibc
  /// starts every new thread with (nearly) all signals blocked for a
  /// moment, so such a blocker is looked at again a few times (up to
  /// ~5 ms). A thread that blocks SIGTRAP but not everything counts at once.
  static func settled() -> ProcessScan {
    var scan = now()
    var tries = 0
    while scan.sigtrapBlockers.contains(where: { $0.blocks(SIGINT) && $0.blocks(SIGTERM) && $0.blocks(SIGURG) }) && tries < 5 {
      usleep(1000)
      scan = now()
      tries += 1
    }
    return scan
  }

  static func now() -> ProcessScan {
    let me = tp_gettid()
    let status = fields(of: "/proc/self/status")
    var threads: [ThreadInfo] = []
    if let dir = opendir("/proc/self/task") {
      defer { closedir(dir) }
      while let e = readdir(dir) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let tid = Int(name), tid != me else { continue }
        let f = fields(of: "/proc/self/task/\(tid)/status")
        guard !f.isEmpty else { continue }  // exited meanwhile
        threads.append(ThreadInfo(tid: tid, name: f["Name"] ?? "?", blocked: UInt64(f["SigBlk"] ?? "0", radix: 16) ?? 0))
      }
    }
    return ProcessScan(tracerPid: Int(status["TracerPid"] ?? "0") ?? 0, threads: threads)
  }

  /// "Key:\tvalue" lines of a /proc status file.
  static func fields(of path: String) -> [String: String] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { return [:] }
    defer { close(fd) }
    var data: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n <= 0 { break }
      data += buf[0..<n]
    }
    var out: [String: String] = [:]
    for line in data.split(separator: UInt8(ascii: "\n")) {
      guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
      let key = String(decoding: line[line.startIndex..<colon], as: UTF8.self)
      let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingWhitespace()
      out[key] = value
    }
    return out
  }
}

extension String {
  func trimmingWhitespace() -> String {
    let s = drop { $0 == " " || $0 == "\t" }
    return String(s.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
  }
}
