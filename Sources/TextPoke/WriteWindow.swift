import CTextPoke
import Glibc

/// Pages of code made writable for a moment, and put back exactly as they
/// were: the mprotect writer's primitive.
///
/// Each page gets its original protection plus write; execute is never
/// dropped, so a thread running on a page keeps running. The original
/// protections are read once from /proc/self/maps for all pages, and
/// neighbouring pages with the same protection are changed by one call.
/// If a page's protection cannot be restored, the process stops rather
/// than run on with writable code.
struct WriteWindow {
  private struct Run { let start: UInt; let length: Int; let prot: Int32 }
  private var runs: [Run] = []
  private var opened = 0

  static let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))

  /// Opens the pages that hold [address, address + length) for every
  /// range. Returns nil and changes nothing if one cannot be opened, with
  /// the errno value in `error`.
  static func open(_ ranges: [(address: UInt, length: Int)], error: inout Int32) -> WriteWindow? {
    let page = pageSize
    var pages = Set<UInt>()
    for r in ranges where r.length > 0 {
      var p = r.address & ~(page - 1)
      let last = (r.address + UInt(r.length) - 1) & ~(page - 1)
      while p <= last { pages.insert(p); p += page }
    }
    let sorted = pages.sorted()
    var prots = [Int32](repeating: -1, count: sorted.count)
    guard tp_maps_protections(sorted, sorted.count, &prots) == 0 else {
      error = EFAULT
      return nil
    }
    var w = WriteWindow()
    for (i, p) in sorted.enumerated() {
      let prot = prots[i]
      if let last = w.runs.last, last.prot == prot, last.start + UInt(last.length) == p {
        w.runs[w.runs.count - 1] = Run(start: last.start, length: last.length + Int(page), prot: prot)
      } else {
        w.runs.append(Run(start: p, length: Int(page), prot: prot))
      }
    }
    for r in w.runs {
      if mprotect(UnsafeMutableRawPointer(bitPattern: r.start), r.length, r.prot | PROT_WRITE) != 0 {
        error = errno
        w.close()
        return nil
      }
      w.opened += 1
    }
    return w
  }

  /// Writes one instruction's bytes with one straight-line block of stores
  /// (valgrind switches threads only between blocks; see valgrind.c). The
  /// range must lie in the window.
  func store(_ bytes: [UInt8], at address: UInt) {
    bytes.withUnsafeBufferPointer { tp_store_exact(address, $0.baseAddress, $0.count) }
  }

  /// Writes bytes `range` of `b` at `address` (one block of stores).
  func store(_ b: InstructionBytes, _ range: Range<Int>, at address: UInt) {
    try? b.withBytes(range) { (raw) throws(TextPokeError) in
      tp_store_exact(address, raw.bindMemory(to: UInt8.self).baseAddress, raw.count)
    }
  }

  /// Puts every page back as it was.
  mutating func close() {
    for r in runs.prefix(opened).reversed() {
      if mprotect(UnsafeMutableRawPointer(bitPattern: r.start), r.length, r.prot) != 0 {
        fatalError("TextPoke: cannot restore protection of page 0x\(String(r.start, radix: 16)) (errno \(errno)); refusing to continue with a writable code page")
      }
    }
    opened = 0
  }
}
