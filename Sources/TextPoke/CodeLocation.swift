import CTextPoke

/// A code address, described with the symbol and image that contain it.
///
/// The symbol is looked up with `dladdr(3)` only when it is asked for, so a
/// `CodeLocation` can be made while the patch lock is held without calling
/// into the dynamic loader (see the lock order in KeyRegistry.swift).
public struct CodeLocation: Sendable, Hashable, CustomStringConvertible {
  /// The address itself.
  public let address: UInt

  /// Wraps `address`.
  public init(_ address: UInt) { self.address = address }

  /// The nearest dynamic symbol at or below the address, its offset, and
  /// the path of the image, as far as `dladdr(3)` knows them.
  public var symbolInfo: (symbol: String?, offset: UInt, image: String?) {
    let symbol: String?, offset: UInt, image: String?
    var fname: UnsafePointer<CChar>?, sname: UnsafePointer<CChar>?, base: UInt = 0
    // dladdr takes the loader's lock, which must never be requested while
    // one of ours is held (lock order: KeyRegistry.swift). Then: no symbol.
    if !OwnedLock.anyHeldByCurrentThread, let p = UnsafeRawPointer(bitPattern: address),
       tp_dladdr(p, &fname, &sname, &base) != 0 {
      image = fname.map { String(cString: $0) }
      if let sname, base != 0 {
        symbol = String(cString: sname)
        offset = address &- base
      } else {
        symbol = nil
        offset = 0
      }
    } else {
      symbol = nil
      offset = 0
      image = nil
    }
    return (symbol, offset, image)
  }

  public var description: String {
    let (symbol, offset, image) = symbolInfo
    var s = "0x" + String(address, radix: 16)
    if let symbol { s += " <\(symbol)+0x\(String(offset, radix: 16))>" }
    if let image { s += " in \(image)" }
    return s
  }
}

/// Formats bytes as `0f 1f 44 00 00`.
@usableFromInline
func hexBytes(_ bytes: [UInt8]) -> String {
  bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
}
