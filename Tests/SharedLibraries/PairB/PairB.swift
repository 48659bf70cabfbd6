import JumpLabel
import PairKeys
import Synchronization

private let seenAtLoad = Atomic<UInt32>(0xffff)

/// Run by B's C initializer, before dlopen() returns.
@_cdecl("pair_b_record_at_load")
public func pairBRecordAtLoad() { seenAtLoad.store(pairSitesHere(), ordering: .relaxed) }

/// What B's sites said while B was loading.
@_cdecl("pair_b_seen_at_load")
public func pairBSeenAtLoad() -> UInt32 { seenAtLoad.load(ordering: .relaxed) }

/// What B's sites say now.
@_cdecl("pair_b_sites")
public func pairBSites() -> UInt32 { pairSitesHere() }

/// Sets key `index` (0: one, 1: two, 2: three) from B, through B's copy of
/// the runtime. Returns 0, or -1 if the call threw.
@_cdecl("pair_b_set")
public func pairBSet(_ index: Int32, _ enabled: Int32) -> Int32 {
  let key = [StaticKey.pairOne, .pairTwo, .pairThree][Int(index)]
  do {
    try key.set(enabled != 0)
    return 0
  } catch {
    return -1
  }
}

/// The state of key `index` as B's copy of the runtime reads it.
@_cdecl("pair_b_state")
public func pairBState(_ index: Int32) -> Int32 {
  [StaticKey.pairOne, .pairTwo, .pairThree][Int(index)].state ? 1 : 0
}

/// 1 if B's copy of the runtime is the process's primary.
@_cdecl("pair_b_is_primary")
public func pairBIsPrimary() -> Int32 { StaticKeys.isPrimaryRuntime ? 1 : 0 }

/// How many keys B's copy of the runtime lists (answered by the primary).
@_cdecl("pair_b_listed_keys")
public func pairBListedKeys() -> Int32 { Int32(StaticKeys.list().count) }
