import Glibc
import Synchronization
import TextPoke

/// All keys of the process, their sites, and the toggle logic.
///
/// ## Lock order (outermost first)
///
/// 1. the dynamic loader's locks (`dlopen`, `dl_iterate_phdr`, `dladdr`);
/// 2. `KeyRegistry.lock`;
/// 3. TextPoke's patch lock.
///
/// The loader's locks are never requested while 2 or 3 is held: tables are
/// read before the registry lock is taken, and error messages resolve
/// symbols only when printed. This is the user-space form of the kernel's
/// fix for the seed's hang (`cpus_read_lock` → `jump_label_mutex` →
/// `text_mutex`): code running under the loader's lock (a library
/// constructor) may take 2 and 3, never the reverse.
final class KeyRegistry: @unchecked Sendable {
  // @unchecked: `keys`, `sites`, `problems` are guarded by `lock`.
  static let shared = KeyRegistry()

  let lock = OwnedLock()
  private let loaded = Atomic<Bool>(false)
  private var keys: [String: KeyRecord] = [:]
  private var sites: [String: [SiteEntry]] = [:]
  private var problems: [String: JumpLabelError] = [:]

  private init() {
    // Lock order across fork(): prepare handlers run in reverse order of
    // registration. The engine registers first, we register second, so at
    // fork time our prepare (registry lock) runs before the engine's (patch
    // lock): the same order as everywhere else.
    TextPoke.installForkHandlers()
    pthread_atfork({ KeyRegistry.shared.lock.lock() }, { KeyRegistry.shared.lock.unlock() }, { KeyRegistry.shared.lock.unlock() })
  }

  // MARK: - Loading

  /// Reads the tables of the images loaded now, once.
  func ensureLoaded() {
    if loaded.load(ordering: .acquiring) { return }
    if lock.heldByCurrentThread { return }  // re-entered; callers refuse
    let entries = SiteTable.readLoadedImages()  // loader lock, no registry lock
    _ = lock.withLockUnlessReentrant {
      if loaded.load(ordering: .relaxed) { return }
      merge(entries)
      loaded.store(true, ordering: .releasing)
    }
  }

  /// Adds sites to the index: checks declared defaults, then verifies that
  /// every site holds the instruction for its key's current state. A key
  /// with a problem is never patched; its control calls throw the problem.
  private func merge(_ entries: [SiteEntry]) {
    // Sorted by (key, address), like the kernel's jump_label_init. One
    // instruction may be listed twice (a linker that folds identical
    // functions keeps both entries); it is one site.
    var seen = Set<UInt>()
    let sorted = entries.sorted { ($0.key, $0.code) < ($1.key, $1.code) }.filter { seen.insert($0.code).inserted }
    var i = 0
    while i < sorted.count {
      var j = i
      while j < sorted.count && sorted[j].key == sorted[i].key { j += 1 }
      let group = Array(sorted[i..<j])
      let name = group[0].key
      let record = keyRecord(name: name, defaultValue: group[0].declaredDefault)
      if let other = group.first(where: { $0.declaredDefault != record.defaultValue }) {
        noteProblem(name, .conflictingDefaults(key: name, declared: other.declaredDefault, recorded: record.defaultValue))
      }
      if let bad = mismatches(group, enabled: record.state).first { noteProblem(name, bad) }
      sites[name, default: []].append(contentsOf: group)
      i = j
    }
  }

  /// Records the first problem of a key; its control calls throw it from
  /// now on. Lock held.
  private func noteProblem(_ name: String, _ error: JumpLabelError) {
    guard problems[name] == nil else { return }
    problems[name] = error
    keys[name]?.hasProblem.store(true, ordering: .releasing)
  }

  /// Sites of `group` that do not hold the instruction for `enabled`.
  private func mismatches(_ group: [SiteEntry], enabled: Bool) -> [JumpLabelError] {
    group.compactMap { site in
      let found = Array(UnsafeBufferPointer(start: UnsafePointer<UInt8>(bitPattern: site.code), count: 5))
      let expected = site.instruction(enabled: enabled)
      return found == expected ? nil : .unexpectedSite(key: site.key, site: CodeLocation(site.code), expected: expected, found: found)
    }
  }

  /// Re-reads every site of every key and reports those that do not hold
  /// their key's instruction (something else wrote into the text).
  func verifyAll() -> [JumpLabelError] {
    ensureLoaded()
    return lock.withLockUnlessReentrant {
      keys.values.sorted { $0.name < $1.name }.flatMap { r in mismatches(sites[r.name] ?? [], enabled: r.state) }
    } ?? []
  }

  /// The record of `name`, created on first mention. Lock held.
  private func keyRecord(name: String, defaultValue: Bool) -> KeyRecord {
    if let r = keys[name] { return r }
    let r = KeyRecord(name: name, defaultValue: defaultValue)
    keys[name] = r
    return r
  }

  // MARK: - Lookup

  /// For the fallback site: never throws, records a conflicting default.
  /// Re-entered on a thread that holds the lock (a site in a signal
  /// handler), it cannot look anything up safely and answers with a
  /// throw-away record in the declared default state.
  func recordForFallback(_ key: StaticKey) -> (record: KeyRecord, registered: Bool) {
    ensureLoaded()
    let found: KeyRecord? = lock.withLockUnlessReentrant {
      let r = keyRecord(name: key.nameString, defaultValue: key.defaultValue)
      if r.defaultValue != key.defaultValue {
        noteProblem(r.name, .conflictingDefaults(key: r.name, declared: key.defaultValue, recorded: r.defaultValue))
      }
      return r
    }
    if let found { return (found, true) }
    return (KeyRecord(name: key.nameString, defaultValue: key.defaultValue), false)
  }

  /// For control calls on a declared key. Lock held.
  private func controllable(_ key: StaticKey) throws(JumpLabelError) -> KeyRecord {
    let r = keyRecord(name: key.nameString, defaultValue: key.defaultValue)
    if r.defaultValue != key.defaultValue {
      throw .conflictingDefaults(key: r.name, declared: key.defaultValue, recorded: r.defaultValue)
    }
    if let p = problems[r.name] { throw p }
    return r
  }

  /// For control calls by name. Lock held.
  private func controllable(named name: String) throws(JumpLabelError) -> KeyRecord {
    guard let r = keys[name] else { throw .unknownKey(name) }
    if let p = problems[name] { throw p }
    return r
  }

  /// Runs `body` with the lock and the record of `key`.
  func withKey<T>(_ key: StaticKey, _ body: (KeyRecord) throws(JumpLabelError) -> T) throws(JumpLabelError) -> T {
    ensureLoaded()
    guard let r = try lock.withLockUnlessReentrant({ () throws(JumpLabelError) -> T in try body(try controllable(key)) }) else {
      throw .reentrantControl(key: key.nameString)
    }
    return r
  }

  /// Runs `body` with the lock and the record named `name`.
  func withKey<T>(named name: String, _ body: (KeyRecord) throws(JumpLabelError) -> T) throws(JumpLabelError) -> T {
    ensureLoaded()
    guard let r = try lock.withLockUnlessReentrant({ () throws(JumpLabelError) -> T in try body(try controllable(named: name)) }) else {
      throw .reentrantControl(key: name)
    }
    return r
  }

  /// The record for a control call's fast path. Throws like a control call.
  func record(_ key: StaticKey) throws(JumpLabelError) -> KeyRecord {
    // Lock-free when the key's record is already cached and agrees: that is
    // what makes increment()/decrement() away from 0↔1 lock-free.
    if !lock.heldByCurrentThread, let r = FallbackCache.shared.cachedRecord(for: key),
       r.defaultValue == key.defaultValue, !r.hasProblem.load(ordering: .acquiring) {
      return r
    }
    let r = try withKey(key) { $0 }
    // It exists and agrees now: cache this literal for the next call.
    if !lock.heldByCurrentThread { _ = FallbackCache.shared.record(for: key) }
    return r
  }

  // MARK: - Patching

  /// Makes every site of `record` follow `enabled`, in one batch. Lock held.
  func patchSites(of record: KeyRecord, to enabled: Bool) throws(JumpLabelError) {
    guard let list = sites[record.name], !list.isEmpty else { return }
    let batch = list.map {
      TextPatch(address: $0.code, expected: $0.instruction(enabled: !enabled), replacement: $0.instruction(enabled: enabled))
    }
    do {
      try TextPoke.apply(batch)
    } catch {
      throw .patch(key: record.name, error)
    }
  }

  // MARK: - Queries

  /// Snapshot of every key.
  func list() -> [StaticKeyInfo] {
    ensureLoaded()
    return lock.withLockUnlessReentrant {
      keys.values.map { info($0) }.sorted { $0.name < $1.name }
    } ?? []
  }

  /// Snapshot of one key. Lock held.
  func info(_ r: KeyRecord) -> StaticKeyInfo {
    StaticKeyInfo(
      name: r.name, state: r.state, count: max(r.count.load(ordering: .acquiring), 0),
      sites: sites[r.name]?.count ?? 0, defaultValue: r.defaultValue,
      fallbackHits: r.fallbackHits.load(ordering: .relaxed), problem: problems[r.name]?.description)
  }

  /// Sites of the key named `name`.
  func sites(named name: String) throws(JumpLabelError) -> [StaticKeySite] {
    ensureLoaded()
    guard let r = try lock.withLockUnlessReentrant({ () throws(JumpLabelError) in
      guard keys[name] != nil else { throw JumpLabelError.unknownKey(name) }
      return (sites[name] ?? []).map(StaticKeySite.init)
    }) else { throw .reentrantControl(key: name) }
    return r
  }

  /// Every problem found in the tables, by key.
  func allProblems() -> [JumpLabelError] {
    ensureLoaded()
    return lock.withLockUnlessReentrant { problems.sorted { $0.key < $1.key }.map(\.value) } ?? []
  }
}
