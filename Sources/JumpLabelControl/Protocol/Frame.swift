/// The frame of the control protocol (README, "Live control"): every
/// message, in both directions, is a 16-byte header and a body.
///
///     offset  size  field
///          0     4  magic "JLCT"
///          4     2  version (little-endian), 2
///          6     2  message type
///          8     4  body length, at most 65,520 (a frame is at most 64 KiB)
///         12     4  reserved, must be 0
///
/// Anything else is malformed: the peer gets an error and the connection
/// is closed. Neither side ever builds a larger frame: encoding throws
/// `.tooLarge` instead (replies that can grow are sent in parts, see
/// ``Message``), so no input and no state can make a process trap here.
public struct Frame: Sendable, Equatable {
  /// "JLCT".
  public static let magic: [UInt8] = [0x4A, 0x4C, 0x43, 0x54]
  /// Header size in bytes.
  public static let headerSize = 16
  /// The largest frame, header included.
  public static let maxSize = 64 * 1024
  /// The largest body.
  public static let maxBody = maxSize - headerSize
  /// The protocol versions this code speaks. Version 2 (replies in
  /// parts, heartbeat, the namespace in the welcome) does not speak to
  /// version 1 peers: they get an "unsupported version" error.
  public static let versions: ClosedRange<UInt16> = 2...2

  public var version: UInt16
  public var type: UInt16
  public var body: [UInt8]

  public init(version: UInt16 = Frame.versions.upperBound, type: UInt16, body: [UInt8]) {
    self.version = version
    self.type = type
    self.body = body
  }

  /// The frame's bytes; throws `.tooLarge` if the body does not fit
  /// (never traps: the body may hold what a peer sent).
  public func encoded() throws(ProtocolError) -> [UInt8] {
    guard body.count <= Frame.maxBody else { throw .tooLarge(body.count) }
    var out = Frame.magic
    out.reserveCapacity(Frame.headerSize + body.count)
    out.append(UInt8(truncatingIfNeeded: version)); out.append(UInt8(truncatingIfNeeded: version >> 8))
    out.append(UInt8(truncatingIfNeeded: type)); out.append(UInt8(truncatingIfNeeded: type >> 8))
    let n = UInt32(body.count)
    for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt32(i)))) }
    out += [0, 0, 0, 0]
    return out + body
  }

  /// Parses a header. Returns the version, type and body length, or throws
  /// for a bad magic, a non-zero reserved field or an oversized body.
  public static func parseHeader(_ h: ArraySlice<UInt8>) throws(ProtocolError) -> (version: UInt16, type: UInt16, length: Int) {
    guard h.count >= headerSize else { throw .truncated }
    let b = Array(h.prefix(headerSize))
    guard Array(b[0..<4]) == magic else { throw .badMagic }
    let version = UInt16(b[4]) | UInt16(b[5]) << 8
    let type = UInt16(b[6]) | UInt16(b[7]) << 8
    let length = Int(UInt32(b[8]) | UInt32(b[9]) << 8 | UInt32(b[10]) << 16 | UInt32(b[11]) << 24)
    guard b[12] == 0, b[13] == 0, b[14] == 0, b[15] == 0 else { throw .reservedNotZero }
    guard length <= maxBody else { throw .tooLarge(length) }
    return (version, type, length)
  }

  /// Splits the first complete frame off the front of `buffer`, or
  /// returns nil if it holds only part of one. Throws for a malformed
  /// header.
  public static func extractOne(from buffer: inout [UInt8]) throws(ProtocolError) -> Frame? {
    guard buffer.count >= headerSize else { return nil }
    let (v, t, n) = try parseHeader(buffer[0..<headerSize])
    guard buffer.count - headerSize >= n else { return nil }
    let f = Frame(version: v, type: t, body: Array(buffer[headerSize..<(headerSize + n)]))
    buffer.removeFirst(headerSize + n)
    return f
  }

  /// Splits complete frames off the front of `buffer`; leaves a partial
  /// frame in it. Throws at the first malformed header.
  public static func extract(from buffer: inout [UInt8]) throws(ProtocolError) -> [Frame] {
    var frames: [Frame] = []
    var at = 0
    while buffer.count - at >= headerSize {
      let (v, t, n) = try parseHeader(buffer[at..<(at + headerSize)])
      guard buffer.count - at - headerSize >= n else { break }
      frames.append(Frame(version: v, type: t, body: Array(buffer[(at + headerSize)..<(at + headerSize + n)])))
      at += headerSize + n
    }
    if at > 0 { buffer.removeFirst(at) }
    return frames
  }
}

/// What is wrong with bytes received on the control socket.
public enum ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
  case truncated
  case badMagic
  case reservedNotZero
  case tooLarge(Int)
  case unsupportedVersion(UInt16)
  case unknownType(UInt16)
  case malformed(String)
  case unexpected(UInt16)

  public var description: String {
    switch self {
    case .truncated: return "truncated message"
    case .badMagic: return "not a JumpLabel control message (bad magic)"
    case .reservedNotZero: return "reserved header field is not zero"
    case let .tooLarge(n): return "message body of \(n) bytes exceeds the \(Frame.maxBody)-byte limit"
    case let .unsupportedVersion(v): return "protocol version \(v) is not supported (this side speaks \(Frame.versions.lowerBound)...\(Frame.versions.upperBound))"
    case let .unknownType(t): return "unknown message type \(t)"
    case let .malformed(why): return "malformed message: \(why)"
    case let .unexpected(t): return "message type \(t) is not expected here"
    }
  }
}
