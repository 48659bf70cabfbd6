/// Everything that can stop a batch. A thrown batch wrote nothing.
public enum TextPokeError: Error, Sendable, Equatable, CustomStringConvertible {
  /// A patch is malformed (length, address); nothing was written.
  case invalidPatch(address: UInt, reason: String)
  /// Two patches of one batch cover the same byte.
  case overlappingPatches(first: UInt, second: UInt)
  /// The bytes at a site are not the ones the caller expected.
  case unexpectedBytes(site: CodeLocation, expected: [UInt8], found: [UInt8])
  /// membarrier(PRIVATE_EXPEDITED_SYNC_CORE) cannot be used.
  case coreSyncUnavailable(reason: String)
  /// Neither /proc/self/mem nor an mprotect window can write code here.
  case writerUnavailable(reason: String)
  /// The SIGTRAP handler could not be installed.
  case trapHandlerUnavailable(errno: Int32)
  /// The patch lock is already held by this thread (a patch from inside a
  /// patch, for instance from code the patcher itself runs).
  case reentrantPatch
  /// Other threads could not be parked or synchronised with a signal.
  case threadsUnresponsive(detail: String)
  /// The trap handler's address set could not grow (out of memory).
  case tooManySites(limit: Int)

  public var description: String {
    switch self {
    case let .invalidPatch(address, reason):
      return "invalid patch at \(CodeLocation(address)): \(reason)"
    case let .overlappingPatches(first, second):
      return "patches at \(CodeLocation(first)) and \(CodeLocation(second)) overlap"
    case let .unexpectedBytes(site, expected, found):
      return "unexpected bytes at \(site): expected [\(hexBytes(expected))], found [\(hexBytes(found))]; nothing was written"
    case let .coreSyncUnavailable(reason):
      return "cannot synchronise cores: \(reason)"
    case let .writerUnavailable(reason):
      return "cannot write code in this process: \(reason)"
    case let .trapHandlerUnavailable(errno):
      return "cannot install the SIGTRAP handler (errno \(errno))"
    case .reentrantPatch:
      return "a patch was started while this thread already holds the patch lock"
    case let .threadsUnresponsive(detail):
      return detail
    case let .tooManySites(limit):
      return "cannot record more patch sites than \(limit): out of memory"
    }
  }
}
