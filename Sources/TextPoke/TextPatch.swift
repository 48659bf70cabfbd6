/// One instruction to replace in the text of the running process.
///
/// A patch names an address, the bytes that must be there now, and the bytes
/// of the one instruction that replaces them. Both byte strings have the same
/// length, between 1 and 15 (the longest x86-64 instruction).
///
/// While a patch is in flight, a thread that reaches `address` traps on an
/// int3 and the engine decides where it continues (see ``resumeAddress``).
public struct TextPatch: Sendable, Hashable {
  /// Address of the first byte of the instruction to replace.
  public var address: UInt
  /// The bytes that must be at `address` before the patch. They are checked
  /// under the patch lock; a mismatch fails the whole batch before any write.
  public var expected: [UInt8] {
    get { expectedBytes.array }
    set { expectedBytes = InstructionBytes(newValue) }
  }
  /// The bytes of the replacement instruction.
  public var replacement: [UInt8] {
    get { replacementBytes.array }
    set { replacementBytes = InstructionBytes(newValue) }
  }
  /// `expected`, stored inline (the engine works with these).
  public var expectedBytes: InstructionBytes
  /// `replacement`, stored inline.
  public var replacementBytes: InstructionBytes
  /// The seed's "fixup" address: where a thread that hits the site while it
  /// is being patched continues. `nil` lets the engine decide: the target of
  /// a replacement JMP, the next instruction after a replacement NOP, or,
  /// for anything it cannot emulate, `address` itself (the thread retries
  /// until the new instruction is complete).
  public var resume: UInt?

  /// Creates a patch. Validation happens in ``TextPoke/apply(_:)``.
  public init(address: UInt, expected: [UInt8], replacement: [UInt8], resume: UInt? = nil) {
    self.init(address: address, expected: InstructionBytes(expected), replacement: InstructionBytes(replacement), resume: resume)
  }

  /// Creates a patch from inline bytes (no allocation).
  public init(address: UInt, expected: InstructionBytes, replacement: InstructionBytes, resume: UInt? = nil) {
    self.address = address
    self.expectedBytes = expected
    self.replacementBytes = replacement
    self.resume = resume
  }

  /// Where a thread that traps on this site mid-patch continues.
  public var resumeAddress: UInt {
    if let resume { return resume }
    return X86Instruction.emulatedResume(of: replacementBytes, at: address) ?? address
  }
}
