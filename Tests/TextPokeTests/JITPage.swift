import Glibc

/// A page of machine code made at run time, like a JIT's: TextPoke's second
/// client. Layout (offsets):
///
///     0:  nopl 0x0(%rax,%rax,1)     <- site A (5 bytes)
///     5:  mov $0, %eax ; ret
///     16: mov $1, %eax ; ret        <- site A's jump target
///     32: mov $7, %eax ; ret        <- site B: the immediate is patched
final class JITPage: @unchecked Sendable {
  // @unchecked: the page is immutable from Swift's point of view; only
  // TextPoke writes into it, with its own synchronisation.
  let base: UInt
  let size = 4096

  init() {
    let p = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
    precondition(p != MAP_FAILED)
    let b = p.assumingMemoryBound(to: UInt8.self)
    for i in 0..<4096 { b[i] = 0xCC }
    let code: [(Int, [UInt8])] = [
      (0, [0x0F, 0x1F, 0x44, 0x00, 0x00, 0xB8, 0, 0, 0, 0, 0xC3]),
      (16, [0xB8, 1, 0, 0, 0, 0xC3]),
      (32, [0xB8, 7, 0, 0, 0, 0xC3]),
    ]
    for (off, bytes) in code { for (i, x) in bytes.enumerated() { b[off + i] = x } }
    precondition(mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0)
    base = UInt(bitPattern: p)
  }

  deinit { munmap(UnsafeMutableRawPointer(bitPattern: base), size) }

  var siteA: UInt { base }
  var targetA: UInt { base + 16 }
  var siteB: UInt { base + 32 }

  /// Calls the function at site A: 0 while A is a NOP, 1 while it jumps.
  func callA() -> Int32 { call(siteA) }
  /// Calls the function at site B: its current immediate.
  func callB() -> Int32 { call(siteB) }

  private func call(_ address: UInt) -> Int32 {
    let f = unsafeBitCast(address, to: (@convention(c) () -> Int32).self)
    return f()
  }

  func bytes(at address: UInt, count: Int) -> [UInt8] {
    Array(UnsafeBufferPointer(start: UnsafePointer<UInt8>(bitPattern: address), count: count))
  }

  /// Protection of the page now, from /proc/self/maps.
  var protection: String {
    let f = fopen("/proc/self/maps", "r")!
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 512)
    while fgets(&line, 512, f) != nil {
      let s = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
      let parts = s.split(separator: " ")
      let range = parts[0].split(separator: "-").map { UInt($0, radix: 16)! }
      if base >= range[0] && base < range[1] { return String(parts[1]) }
    }
    return "?"
  }
}
