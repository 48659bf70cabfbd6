/// The few x86-64 instructions the engine understands: enough to emulate
/// the replacement of a jump-label site without executing it.
public enum X86Instruction {
  /// The 5-byte NOP `nopl 0x0(%rax,%rax,1)`, as compilers emit for alignment.
  public static let nop5: [UInt8] = [0x0F, 0x1F, 0x44, 0x00, 0x00]

  /// The int3 breakpoint.
  public static let int3: UInt8 = 0xCC

  /// `jmp rel32` from `address` to `target`, or nil if out of range.
  public static func jmp32(from address: UInt, to target: UInt) -> [UInt8]? {
    let delta = Int64(bitPattern: UInt64(target)) &- Int64(bitPattern: UInt64(address &+ 5))
    guard let rel = Int32(exactly: delta) else { return nil }
    let u = UInt32(bitPattern: rel)
    return [0xE9, UInt8(truncatingIfNeeded: u), UInt8(truncatingIfNeeded: u >> 8),
            UInt8(truncatingIfNeeded: u >> 16), UInt8(truncatingIfNeeded: u >> 24)]
  }

  /// The destination of a `jmp rel32` or `jmp rel8` at `address`, or nil.
  public static func jumpTarget(of bytes: [UInt8], at address: UInt) -> UInt? {
    if bytes.count == 5, bytes[0] == 0xE9 {
      let rel = UInt32(bytes[1]) | UInt32(bytes[2]) << 8 | UInt32(bytes[3]) << 16 | UInt32(bytes[4]) << 24
      return UInt(bitPattern: Int(bitPattern: address &+ 5) &+ Int(Int32(bitPattern: rel)))
    }
    if bytes.count == 2, bytes[0] == 0xEB {
      return UInt(bitPattern: Int(bitPattern: address &+ 2) &+ Int(Int8(bitPattern: bytes[1])))
    }
    return nil
  }

  /// True for the NOP encodings recommended by Intel and AMD, lengths 1-9.
  public static func isNop(_ bytes: [UInt8]) -> Bool {
    switch bytes {
    case [0x90], [0x66, 0x90], [0x0F, 0x1F, 0x00], [0x0F, 0x1F, 0x40, 0x00],
         [0x0F, 0x1F, 0x44, 0x00, 0x00], [0x66, 0x0F, 0x1F, 0x44, 0x00, 0x00],
         [0x0F, 0x1F, 0x80, 0x00, 0x00, 0x00, 0x00],
         [0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
         [0x66, 0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00]:
      return true
    default:
      return false
    }
  }

  /// The NOP encodings of `isNop`, inline.
  static let nops: Set<InstructionBytes> = [
    [0x90], [0x66, 0x90], [0x0F, 0x1F, 0x00], [0x0F, 0x1F, 0x40, 0x00], [0x0F, 0x1F, 0x44, 0x00, 0x00],
    [0x66, 0x0F, 0x1F, 0x44, 0x00, 0x00], [0x0F, 0x1F, 0x80, 0x00, 0x00, 0x00, 0x00],
    [0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00], [0x66, 0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
  ].reduce(into: Set<InstructionBytes>()) { $0.insert(InstructionBytes($1)) }

  /// `emulatedResume(of:at:)` for inline bytes, without allocating.
  public static func emulatedResume(of b: InstructionBytes, at address: UInt) -> UInt? {
    if b.count == 5, b[0] == 0xE9 {
      let rel = UInt32(b[1]) | UInt32(b[2]) << 8 | UInt32(b[3]) << 16 | UInt32(b[4]) << 24
      return UInt(bitPattern: Int(bitPattern: address &+ 5) &+ Int(Int32(bitPattern: rel)))
    }
    if b.count == 2, b[0] == 0xEB {
      return UInt(bitPattern: Int(bitPattern: address &+ 2) &+ Int(Int8(bitPattern: b[1])))
    }
    if b.count <= 9, nops.contains(b) { return address &+ UInt(b.count) }
    return nil
  }

  /// Where a thread that traps at `address` continues if the trap handler
  /// emulates `bytes` instead of executing them: a jump's target, or the
  /// instruction after a NOP. Nil when the instruction cannot be emulated
  /// by moving the instruction pointer alone (a CALL would need a push).
  public static func emulatedResume(of bytes: [UInt8], at address: UInt) -> UInt? {
    if let target = jumpTarget(of: bytes, at: address) { return target }
    if isNop(bytes) { return address &+ UInt(bytes.count) }
    return nil
  }
}
