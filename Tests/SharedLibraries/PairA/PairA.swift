import Glibc
import JumpLabel
import PairKeys
import Synchronization

private let initFailure = Mutex<String?>(nil)

/// Run by A's C initializer: invert keys one and two.
@_cdecl("pair_a_initialize")
public func pairAInitialize() {
  do {
    try StaticKey.pairOne.enable()
    try StaticKey.pairTwo.disable()
  } catch {
    initFailure.withLock { $0 = "\(error)" }
  }
}

/// Why the initializer failed, or nil (the caller must not free it).
@_cdecl("pair_a_init_failure")
public func pairAInitFailure() -> UnsafeMutablePointer<CChar>? {
  initFailure.withLock { $0.map { strdup($0) } } ?? nil
}

/// What A's own sites say.
@_cdecl("pair_a_sites")
public func pairASites() -> UInt32 { pairSitesHere() }

/// 1 if A's copy of the runtime is the process's primary.
@_cdecl("pair_a_is_primary")
public func pairAIsPrimary() -> Int32 { StaticKeys.isPrimaryRuntime ? 1 : 0 }
