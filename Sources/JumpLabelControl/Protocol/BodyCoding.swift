/// Writes message bodies: little-endian integers, strings as a u16 length
/// and UTF-8, lists as a u16 count and elements.
///
/// Nothing is ever cut or clamped silently: a string longer than 65,535
/// bytes or a list of more than 65,535 elements throws `.tooLarge`, and
/// the caller decides (the server splits replies into parts and cuts the
/// text it quotes before it gets here, so this is a last line of defence).
public struct BodyWriter: Sendable {
  public private(set) var bytes: [UInt8] = []
  public init() {}

  public mutating func u8(_ v: UInt8) { bytes.append(v) }
  public mutating func bool(_ v: Bool) { u8(v ? 1 : 0) }
  public mutating func u16(_ v: UInt16) { for i in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt16(i)))) } }
  public mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
  public mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
  public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
  /// A count of at most 65,535.
  public mutating func count(_ n: Int) throws(ProtocolError) {
    guard let c = UInt16(exactly: n) else { throw .tooLarge(n) }
    u16(c)
  }
  /// A string of at most 65,535 bytes; longer throws `.tooLarge`.
  public mutating func string(_ s: String) throws(ProtocolError) {
    let n = s.utf8.count
    guard let c = UInt16(exactly: n) else { throw .tooLarge(n) }
    u16(c)
    bytes += s.utf8
  }
  public mutating func strings(_ list: [String]) throws(ProtocolError) {
    try count(list.count)
    for s in list { try string(s) }
  }
  /// Raw bytes to the end of the body.
  public mutating func rest(_ b: [UInt8]) { bytes += b }
}

/// Reads message bodies written by `BodyWriter`. Every read checks the
/// bounds and the encoding and throws `ProtocolError.malformed` instead of
/// reading past the end: the input comes from another process.
public struct BodyReader: Sendable {
  private let data: [UInt8]
  private var at = 0

  public init(_ data: [UInt8]) { self.data = data }

  /// True when every byte was read.
  public var atEnd: Bool { at == data.count }

  private mutating func take(_ n: Int, _ what: String) throws(ProtocolError) -> ArraySlice<UInt8> {
    guard n >= 0, data.count - at >= n else { throw .malformed("\(what): needs \(n) bytes, \(data.count - at) left") }
    defer { at += n }
    return data[at..<(at + n)]
  }

  public mutating func u8(_ what: String = "u8") throws(ProtocolError) -> UInt8 { try take(1, what).first! }
  public mutating func bool(_ what: String = "bool") throws(ProtocolError) -> Bool {
    switch try u8(what) {
    case 0: return false
    case 1: return true
    case let b: throw .malformed("\(what): \(b) is not a boolean")
    }
  }
  public mutating func u16(_ what: String = "u16") throws(ProtocolError) -> UInt16 {
    let b = try take(2, what)
    return UInt16(b[b.startIndex]) | UInt16(b[b.startIndex + 1]) << 8
  }
  public mutating func u32(_ what: String = "u32") throws(ProtocolError) -> UInt32 {
    let b = try take(4, what)
    var v: UInt32 = 0
    for (i, x) in b.enumerated() { v |= UInt32(x) << (8 * UInt32(i)) }
    return v
  }
  public mutating func u64(_ what: String = "u64") throws(ProtocolError) -> UInt64 {
    let b = try take(8, what)
    var v: UInt64 = 0
    for (i, x) in b.enumerated() { v |= UInt64(x) << (8 * UInt64(i)) }
    return v
  }
  public mutating func i64(_ what: String = "i64") throws(ProtocolError) -> Int64 { Int64(bitPattern: try u64(what)) }
  public mutating func string(_ what: String = "string") throws(ProtocolError) -> String {
    let n = Int(try u16(what))
    let b = try take(n, what)
    guard let s = String(validating: b, as: UTF8.self) else { throw .malformed("\(what): not valid UTF-8") }
    return s
  }
  public mutating func strings(_ what: String = "strings") throws(ProtocolError) -> [String] {
    let n = Int(try u16(what))
    var out: [String] = []
    for _ in 0..<n { out.append(try string(what)) }
    return out
  }
  public mutating func rest() -> [UInt8] {
    defer { at = data.count }
    return Array(data[at...])
  }
  /// Throws if bytes are left over.
  public func finish(_ what: String) throws(ProtocolError) {
    if !atEnd { throw .malformed("\(what): \(data.count - at) bytes left over") }
  }
}
