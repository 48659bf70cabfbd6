import Glibc

/// Protection bits of the mappings that contain some addresses, read from
/// `/proc/self/maps`. Used by the mprotect writer to restore exactly the
/// protection a page had.
enum MemoryMaps {
  private struct Mapping { let start: UInt; let end: UInt; let prot: Int32 }

  /// `PROT_*` bits of the mapping containing each address (one read of
  /// the maps file for all of them), or nil if one is in no mapping.
  static func protections(of addresses: [UInt]) -> [UInt: Int32]? {
    guard let data = read() else { return nil }
    // The file lists mappings in address order.
    var maps: [Mapping] = []
    var lineStart = 0
    for i in data.indices where data[i] == 0x0A {
      if let m = parse(data[lineStart..<i]) { maps.append(m) }
      lineStart = i + 1
    }
    var out: [UInt: Int32] = [:]
    for a in addresses {
      var lo = 0, hi = maps.count
      while lo < hi {
        let mid = (lo + hi) / 2
        if maps[mid].end <= a { lo = mid + 1 } else { hi = mid }
      }
      guard lo < maps.count, maps[lo].start <= a else { return nil }
      out[a] = maps[lo].prot
    }
    return out
  }

  /// Returns `PROT_*` bits for the mapping containing `address`, or nil.
  static func protection(of address: UInt) -> Int32? {
    protections(of: [address])?[address]
  }

  private static func read() -> [UInt8]? {
    let fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
    if fd < 0 { return nil }
    defer { close(fd) }
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      data.append(contentsOf: chunk[0..<n])
    }
    return data
  }

  /// Parses "start-end perms ...".
  private static func parse(_ line: ArraySlice<UInt8>) -> Mapping? {
    var i = line.startIndex
    func hex() -> UInt {
      var v: UInt = 0
      while i < line.endIndex, let d = hexDigit(line[i]) { v = v << 4 | d; i += 1 }
      return v
    }
    let start = hex()
    guard i < line.endIndex, line[i] == UInt8(ascii: "-") else { return nil }
    i += 1
    let end = hex()
    guard i + 4 <= line.endIndex else { return nil }
    i += 1
    var prot: Int32 = 0
    if line[i] == UInt8(ascii: "r") { prot |= PROT_READ }
    if line[i + 1] == UInt8(ascii: "w") { prot |= PROT_WRITE }
    if line[i + 2] == UInt8(ascii: "x") { prot |= PROT_EXEC }
    return Mapping(start: start, end: end, prot: prot)
  }

  private static func hexDigit(_ c: UInt8) -> UInt? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt(c - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt(c - UInt8(ascii: "a") + 10)
    default: return nil
    }
  }
}
