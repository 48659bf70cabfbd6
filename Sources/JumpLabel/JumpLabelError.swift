import CJumpLabelSite
import TextPoke

/// Errors of the static-key runtime. A thrown call changed nothing.
public enum JumpLabelError: Error, Sendable, Equatable, CustomStringConvertible {
  /// No key of that name is known in this process.
  case unknownKey(String)
  /// One name was declared with two different defaults.
  case conflictingDefaults(key: String, declared: Bool, recorded: Bool)
  /// A site does not hold the instruction its table entry says it must.
  case unexpectedSite(key: String, site: CodeLocation, expected: [UInt8], found: [UInt8])
  /// `decrement()` on a key whose count is 0.
  case underflow(key: String)
  /// `disable()` on a key that was enabled by several `increment()` calls.
  case heldByIncrements(key: String, count: Int)
  /// A control call from a thread that is already inside a control call
  /// (a signal handler, or code the patcher runs); it would deadlock.
  case reentrantControl(key: String)
  /// The patch engine refused the batch.
  case patch(key: String, TextPokeError)
  /// Another copy of this runtime, of another ABI version, is loaded: it
  /// cannot share this registry and might patch the same sites, so no key
  /// is toggled any more. Link one version of the package.
  case foreignRuntime(image: String, abi: UInt32)

  public var description: String {
    switch self {
    case let .unknownKey(name):
      return "unknown static key '\(name)'"
    case let .conflictingDefaults(key, declared, recorded):
      return "static key '\(key)' is declared with default \(declared) here but default \(recorded) elsewhere"
    case let .unexpectedSite(key, site, expected, found):
      return "site of static key '\(key)' at \(site): expected [\(hex(expected))], found [\(hex(found))]; the key will not be patched"
    case let .underflow(key):
      return "static key '\(key)' decremented below zero; nothing changed"
    case let .heldByIncrements(key, count):
      return "static key '\(key)' has count \(count) from increment(); use decrement(); nothing changed"
    case let .reentrantControl(key):
      return "control of static key '\(key)' from inside another control call on the same thread (a signal handler?) is refused; nothing changed"
    case let .patch(key, error):
      return "patching static key '\(key)' failed: \(error)"
    case let .foreignRuntime(image, abi):
      return "\(image) carries a JumpLabel runtime of ABI \(abi), not \(JL_RUNTIME_ABI): two registries could patch the same sites, so keys are not toggled; link one version of the package"
    }
  }
}

func hex(_ bytes: [UInt8]) -> String {
  bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
}
