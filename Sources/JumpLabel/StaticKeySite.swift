import TextPoke

/// One branch site of a key, as recorded in an image's table.
public struct StaticKeySite: Sendable, Hashable, CustomStringConvertible {
  /// The 5-byte NOP that a site holds while its key matches its layout.
  public static let nop5: [UInt8] = X86Instruction.nop5

  /// `jmp rel32` from `address` to `target`.
  public static func jmp32(from address: UInt, to target: UInt) -> [UInt8] {
    // The assembler encoded this jump when the image was built, so the
    // distance always fits.
    X86Instruction.jmp32(from: address, to: target)!
  }

  /// The key this site belongs to.
  public let key: String
  /// Address of the site's 5-byte instruction.
  public let address: UInt
  /// Where the site jumps when it is a JMP.
  public let target: UInt
  /// True if the NOP path is the enabled path (`isEnabled(likely: true)`).
  public let likely: Bool
  /// Path of the image that holds the site.
  public let image: String

  init(key: String, address: UInt, target: UInt, likely: Bool, image: String) {
    self.key = key
    self.address = address
    self.target = target
    self.likely = likely
    self.image = image
  }

  /// The instruction the site must hold when its key is `enabled`: a NOP
  /// iff `enabled == likely` (the kernel's rule), else a JMP to `target`.
  public func expectedBytes(enabled: Bool) -> [UInt8] {
    enabled == likely ? Self.nop5 : Self.jmp32(from: address, to: target)
  }

  /// The 5 bytes at the site now.
  public var currentBytes: [UInt8] {
    Array(UnsafeBufferPointer(start: UnsafePointer<UInt8>(bitPattern: address), count: 5))
  }

  public var description: String {
    "\(key) site \(CodeLocation(address)) -> 0x\(String(target, radix: 16)) [\(likely ? "likely" : "unlikely")]"
  }
}
