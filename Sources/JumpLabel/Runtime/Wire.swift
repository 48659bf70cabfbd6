/// The byte encoding of requests and replies between runtime copies
/// (jumplabel_runtime_abi.h). Both ends are this same code at the same
/// JL_RUNTIME_ABI, so the format only needs to be unambiguous, not
/// self-describing: little-endian integers, length-prefixed strings.
struct WireWriter {
  private(set) var bytes: [UInt8] = []

  mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
  mutating func int(_ v: Int) { u64(UInt64(bitPattern: Int64(v))) }
  mutating func uint(_ v: UInt) { u64(UInt64(v)) }
  mutating func u8(_ v: UInt8) { bytes.append(v) }
  mutating func bool(_ v: Bool) { u8(v ? 1 : 0) }
  mutating func byteArray(_ v: [UInt8]) { int(v.count); bytes.append(contentsOf: v) }
  mutating func string(_ v: String) { byteArray(Array(v.utf8)) }
  mutating func optionalString(_ v: String?) {
    bool(v != nil)
    if let v { string(v) }
  }
  mutating func optionalBool(_ v: Bool?) { u8(v == nil ? 2 : v! ? 1 : 0) }
}

/// Reads what `WireWriter` wrote. A malformed message reads as zeros and
/// empty strings (it cannot happen between copies of one ABI; this only
/// keeps a bug from reading out of bounds).
struct WireReader {
  private let data: [UInt8]
  private var at = 0

  init(_ data: [UInt8]) { self.data = data }

  mutating func u8() -> UInt8 {
    guard at < data.count else { return 0 }
    defer { at += 1 }
    return data[at]
  }
  mutating func u64() -> UInt64 {
    var v: UInt64 = 0
    for i in 0..<8 { v |= UInt64(u8()) << (8 * UInt64(i)) }
    return v
  }
  mutating func int() -> Int { Int(Int64(bitPattern: u64())) }
  mutating func uint() -> UInt { UInt(u64()) }
  mutating func bool() -> Bool { u8() != 0 }
  mutating func byteArray() -> [UInt8] {
    let n = max(0, min(int(), data.count - at))
    defer { at += n }
    return Array(data[at..<at + n])
  }
  mutating func string() -> String { String(decoding: byteArray(), as: UTF8.self) }
  mutating func optionalString() -> String? { bool() ? string() : nil }
  mutating func optionalBool() -> Bool? {
    switch u8() {
    case 0: return false
    case 1: return true
    default: return nil
    }
  }
}
