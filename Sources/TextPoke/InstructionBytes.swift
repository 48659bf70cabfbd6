import Glibc

/// The bytes of one instruction (at most 16; x86-64 instructions have at
/// most 15), stored inline: making, comparing and writing them allocates
/// nothing, which is what lets a batch of 10,000 sites be prepared in
/// microseconds.
public struct InstructionBytes: Sendable, Hashable, CustomStringConvertible {
  /// How many bytes (what the array it was made from held; only the first
  /// 16 are kept, and a patch longer than 15 is refused anyway).
  public let count: Int
  private var lo: UInt64 = 0
  private var hi: UInt64 = 0

  /// The bytes of `array`.
  public init(_ array: [UInt8]) {
    count = array.count
    array.withUnsafeBytes { src in
      withUnsafeMutableBytes(of: &lo) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: src.prefix(8))) }
      if src.count > 8 {
        withUnsafeMutableBytes(of: &hi) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[8..<min(16, src.count)])) }
      }
    }
  }

  /// One byte.
  public init(byte: UInt8) {
    count = 1
    lo = UInt64(byte)
  }

  /// The `count` bytes at `address` now.
  public init(at address: UInt, count: Int) {
    self.count = count
    let n = min(count, 16)
    let src = UnsafeRawPointer(bitPattern: address)!
    withUnsafeMutableBytes(of: &lo) { $0.copyMemory(from: UnsafeRawBufferPointer(start: src, count: min(n, 8))) }
    if n > 8 { withUnsafeMutableBytes(of: &hi) { $0.copyMemory(from: UnsafeRawBufferPointer(start: src + 8, count: n - 8)) } }
  }

  /// Byte `i` (0 ≤ i < count, i < 16).
  public subscript(i: Int) -> UInt8 {
    i < 8 ? UInt8(truncatingIfNeeded: lo >> (8 * UInt64(i))) : UInt8(truncatingIfNeeded: hi >> (8 * UInt64(i - 8)))
  }

  /// The bytes as an array.
  public var array: [UInt8] { (0..<min(count, 16)).map { self[$0] } }

  /// True if the `count` bytes at `address` are these.
  public func isAt(_ address: UInt) -> Bool { self == InstructionBytes(at: address, count: count) }

  /// True if bytes `from...` equal those of `other`.
  func sameTail(from: Int, as other: InstructionBytes) -> Bool {
    for i in from..<min(count, 16) where self[i] != other[i] { return false }
    return true
  }

  /// Calls `body` with bytes `range` (within the first 16).
  func withBytes<R>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws(TextPokeError) -> R) throws(TextPokeError) -> R {
    var copy = (lo, hi)
    return try withUnsafeBytes(of: &copy) { (all) throws(TextPokeError) -> R in
      try body(UnsafeRawBufferPointer(rebasing: all[range.clamped(to: 0..<min(count, 16))]))
    }
  }

  public static func == (a: InstructionBytes, b: InstructionBytes) -> Bool {
    a.count == b.count && a.lo == b.lo && a.hi == b.hi
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(count)
    hasher.combine(lo)
    hasher.combine(hi)
  }

  public var description: String { hexBytes(array) }
}
