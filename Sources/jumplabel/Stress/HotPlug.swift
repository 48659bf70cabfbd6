import Glibc

/// CPU hot-plug through `/sys/devices/system/cpu/cpuN/online`, the seed's
/// "hotunplug all cpus, then hotplug all cpus". CPU0 stays online.
struct HotPlug: Sendable {
  /// The CPUs that can be taken offline.
  let cpus: [Int]

  enum Unavailable: Error, CustomStringConvertible {
    case notRoot
    case noHotplugCPU
    var description: String {
      switch self {
      case .notRoot: return "--hotplug needs root (CPU hot-plug writes /sys/devices/system/cpu/cpuN/online)"
      case .noHotplugCPU: return "--hotplug: no CPU other than CPU0 has a writable /sys/devices/system/cpu/cpuN/online"
      }
    }
  }

  /// Every CPU ≥ 1 whose `online` file exists and is writable, or an error.
  static func available() throws(Unavailable) -> HotPlug {
    if geteuid() != 0 { throw .notRoot }
    var cpus: [Int] = []
    for n in 1..<1024 {
      let path = "/sys/devices/system/cpu/cpu\(n)"
      if access(path, F_OK) != 0 { break }
      if access(path + "/online", W_OK) == 0 { cpus.append(n) }
    }
    if cpus.isEmpty { throw .noHotplugCPU }
    return HotPlug(cpus: cpus)
  }

  static func path(_ cpu: Int) -> String { "/sys/devices/system/cpu/cpu\(cpu)/online" }

  /// Reads whether `cpu` is online.
  static func isOnline(_ cpu: Int) -> Bool {
    let fd = open(path(cpu), O_RDONLY | O_CLOEXEC)
    if fd < 0 { return true }  // no online file: cannot be offline
    defer { close(fd) }
    var c: UInt8 = 0
    return read(fd, &c, 1) == 1 ? c != UInt8(ascii: "0") : true
  }

  /// Writes `online` for `cpu`. Returns 0 or an errno value. Async-signal-
  /// safe (open/write/close only), so the signal path can use it.
  @discardableResult
  static func set(_ cpu: Int, online: Bool) -> Int32 {
    let fd = open(path(cpu), O_WRONLY | O_CLOEXEC)
    if fd < 0 { return errno }
    defer { close(fd) }
    var c: UInt8 = online ? UInt8(ascii: "1") : UInt8(ascii: "0")
    while true {
      let n = write(fd, &c, 1)
      if n == 1 { return 0 }
      if n < 0 && errno == EINTR { continue }
      return n < 0 ? errno : EIO
    }
  }

  /// Brings every CPU back online, retrying a few times. Returns true if all
  /// are online afterwards.
  @discardableResult
  func restoreAll() -> Bool {
    for _ in 0..<50 {
      var all = true
      for cpu in cpus where !Self.isOnline(cpu) {
        if Self.set(cpu, online: true) != 0 { all = false }
      }
      if all && cpus.allSatisfy(Self.isOnline) { return true }
      usleep(100_000)
    }
    return cpus.allSatisfy(Self.isOnline)
  }
}
