import CJumpLabelSite
import TextPoke

/// Errors of the static-key runtime. A thrown call changed nothing.
public enum JumpLabelError: Error, Sendable, Equatable, CustomStringConvertible {
  /// No key of that name is known in this process.
  case unknownKey(String)
  /// One name was declared with two different defaults: `declared` at
  /// `declaredAt`, after `recorded` at `recordedAt` (an image's path, "a
  /// fallback read in <image>", or "a control call").
  case conflictingDefaults(key: String, declared: Bool, recorded: Bool, declaredAt: String, recordedAt: String)
  /// A site does not hold the instruction its table entry says it must.
  case unexpectedSite(key: String, site: CodeLocation, expected: [UInt8], found: [UInt8])
  /// `decrement()` on a key whose count is 0.
  case underflow(key: String)
  /// `disable()` of a key that others hold on: code's `increment()`s,
  /// probes, trace clients, a USDT tracer, leases (`holders`, with the
  /// number of shares each: 1, or the count of code's increments). Nothing
  /// changed; a forced disable drops them (StaticKeyHolder).
  case heldBy(key: String, holders: [StaticKeyHolder: Int])
  /// A release by a holder that holds no share of the key (and was not
  /// dropped by a forced disable).
  case notHeld(key: String, holder: StaticKeyHolder)
  /// `StaticKeys.forget(names:)` of a name that a loaded image or a use
  /// declared: only remembered states of undeclared names can be forgotten.
  case declaredKey(String)
  /// A control call from a thread that is already inside a control call
  /// (a signal handler, or code the patcher runs); it would deadlock.
  case reentrantControl(key: String)
  /// The patch engine refused the batch.
  case patch(key: String, TextPokeError)
  /// Not an error of a toggle: sites of this key in optimised code read its
  /// state instead of being a NOP (`hits` times so far, first from
  /// `image`), because the compiler could not see the key's literal there:
  /// a `static let` key used from another module, or a key passed through
  /// a variable. Toggling works; only the cost is wrong. Reported by
  /// ``StaticKeys/problems()``; declare the key as an `@inlinable` computed
  /// property instead.
  case fallbackInOptimizedCode(key: String, hits: Int, image: String)
  /// Another copy of this runtime, of another ABI version, is loaded: it
  /// cannot share this registry and might patch the same sites, so no key
  /// is toggled any more. Link one version of the package.
  case foreignRuntime(image: String, abi: UInt32)
  /// Setting `key` by name before any image declared it would remember
  /// more than `limit` such names (the bound on remembered names).
  case tooManyUndeclared(key: String, limit: Int)

  /// True for the problems that stop the key from being toggled; false for
  /// reports about cost (``fallbackInOptimizedCode(key:hits:image:)``).
  /// The key the error is about, or nil for an error about an image.
  public var key: String? {
    switch self {
    case let .unknownKey(name), let .declaredKey(name): return name
    case let .conflictingDefaults(key, _, _, _, _), let .unexpectedSite(key, _, _, _), let .underflow(key),
         let .heldBy(key, _), let .notHeld(key, _), let .reentrantControl(key), let .patch(key, _),
         let .fallbackInOptimizedCode(key, _, _), let .tooManyUndeclared(key, _):
      return key
    case .foreignRuntime: return nil
    }
  }

  public var blocksToggling: Bool {
    if case .fallbackInOptimizedCode = self { return false }
    return true
  }

  public var description: String {
    switch self {
    case let .unknownKey(name):
      return "unknown static key '\(name)'"
    case let .conflictingDefaults(key, declared, recorded, declaredAt, recordedAt):
      return "static key '\(key)' is declared with default \(declared) in \(declaredAt) but with default \(recorded) in \(recordedAt)"
    case let .fallbackInOptimizedCode(key, hits, image):
      return "static key '\(key)' was read \(hits) times by sites in optimised code that are not NOPs (first in \(image)): the compiler did not see its literal name there (a `static let` key used from another module, or a key passed through a variable); declare it as `@inlinable public static var ... { StaticKey(\"\(key)\") }`"
    case let .unexpectedSite(key, site, expected, found):
      return "site of static key '\(key)' at \(site): expected [\(hex(expected))], found [\(hex(found))]; the key will not be patched"
    case let .underflow(key):
      return "static key '\(key)' decremented below zero; nothing changed"
    case let .heldBy(key, holders):
      return "static key '\(key)' is held on by \(holders.holderList); nothing changed (they release it, or force the disable)"
    case let .notHeld(key, holder):
      return "static key '\(key)' is not held by \(holder); nothing changed"
    case let .declaredKey(name):
      return "static key '\(name)' is declared by a loaded image or a use, so it cannot be forgotten; nothing changed"
    case let .reentrantControl(key):
      return "control of static key '\(key)' from inside another control call on the same thread (a signal handler?) is refused; nothing changed"
    case let .patch(key, error):
      return "patching static key '\(key)' failed: \(error)"
    case let .tooManyUndeclared(key, limit):
      let shown = key.utf8.count > 200 ? String(decoding: Array(key.utf8.prefix(200)), as: UTF8.self) + "..." : key
      return "cannot remember the state of '\(shown)': \(limit) names that no image declared yet are remembered already (the limit); nothing changed"
    case let .foreignRuntime(image, abi):
      return "\(image) carries a JumpLabel runtime of ABI \(abi), not \(JL_RUNTIME_ABI): two registries could patch the same sites, so keys are not toggled; link one version of the package"
    }
  }
}

func hex(_ bytes: [UInt8]) -> String {
  bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
}
