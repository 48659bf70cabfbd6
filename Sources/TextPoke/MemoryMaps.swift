import Glibc

/// Protection bits of the mapping that contains an address, read from
/// `/proc/self/maps`. Used by the mprotect writer to restore exactly the
/// protection a page had.
enum MemoryMaps {
  /// Returns `PROT_*` bits for the mapping containing `address`, or nil.
  static func protection(of address: UInt) -> Int32? {
    let fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
    if fd < 0 { return nil }
    defer { close(fd) }
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      data.append(contentsOf: chunk[0..<n])
    }
    var lineStart = 0
    for i in data.indices where data[i] == 0x0A {
      if let p = parse(data[lineStart..<i], address) { return p }
      lineStart = i + 1
    }
    return nil
  }

  /// Parses "start-end perms ..." and returns the protection if it matches.
  private static func parse(_ line: ArraySlice<UInt8>, _ address: UInt) -> Int32? {
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
    guard address >= start, address < end, i + 4 <= line.endIndex else { return nil }
    i += 1
    var prot: Int32 = 0
    if line[i] == UInt8(ascii: "r") { prot |= PROT_READ }
    if line[i + 1] == UInt8(ascii: "w") { prot |= PROT_WRITE }
    if line[i + 2] == UInt8(ascii: "x") { prot |= PROT_EXEC }
    return prot
  }

  private static func hexDigit(_ c: UInt8) -> UInt? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt(c - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt(c - UInt8(ascii: "a") + 10)
    default: return nil
    }
  }
}
