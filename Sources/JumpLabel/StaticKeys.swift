import TextPoke

/// Run-time access to keys by name, for control tools.
public enum StaticKeys {
  /// Every key known in this process: from the site tables of loaded
  /// images, and keys that were used or controlled through a `StaticKey`.
  public static func list() -> [StaticKeyInfo] {
    KeyRegistry.shared.list()
  }

  /// The key named `name`.
  public static func info(named name: String) throws(JumpLabelError) -> StaticKeyInfo {
    let registry = KeyRegistry.shared
    return try registry.withKey(named: name) { r in registry.info(r) }
  }

  /// Enables or disables the key named `name` (boolean form).
  public static func set(named name: String, enabled: Bool) throws(JumpLabelError) {
    let registry = KeyRegistry.shared
    try registry.withKey(named: name) { (r) throws(JumpLabelError) in
      if enabled { try registry.enableLocked(r) } else { try registry.disableLocked(r) }
    }
  }

  /// `increment()` on the key named `name`.
  public static func increment(named name: String) throws(JumpLabelError) {
    let registry = KeyRegistry.shared
    try registry.withKey(named: name) { (r) throws(JumpLabelError) in try registry.incrementLocked(r) }
  }

  /// `decrement()` on the key named `name`.
  public static func decrement(named name: String) throws(JumpLabelError) {
    let registry = KeyRegistry.shared
    try registry.withKey(named: name) { (r) throws(JumpLabelError) in try registry.decrementLocked(r) }
  }

  /// The sites of the key named `name` in all loaded images.
  public static func sites(named name: String) throws(JumpLabelError) -> [StaticKeySite] {
    try KeyRegistry.shared.sites(named: name)
  }

  /// Why keys cannot be toggled in this process (no way to write code, no
  /// way to synchronise cores), or nil if they can. Checked once, cheaply
  /// afterwards.
  public static func patchingProblem() -> String? {
    do {
      try TextPoke.prepare()
      return nil
    } catch {
      return error.description
    }
  }

  /// Re-reads every site in the process and returns one
  /// ``JumpLabelError/unexpectedSite(key:site:expected:found:)`` per site
  /// that does not hold its key's instruction now. Empty means every site
  /// is as its key says. (The same check runs at first use.)
  public static func verify() -> [JumpLabelError] {
    KeyRegistry.shared.verifyAll()
  }

  /// Problems found in the tables: conflicting defaults, sites that do not
  /// hold their expected instruction. Keys with a problem cannot be toggled.
  public static func problems() -> [JumpLabelError] {
    KeyRegistry.shared.allProblems()
  }
}
