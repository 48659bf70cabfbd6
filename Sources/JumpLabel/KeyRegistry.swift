import CJumpLabel
import Glibc
import Synchronization
import TextPoke

/// All keys of the process, the sites of every loaded image, and the
/// toggle logic. Only the primary runtime copy has one in use
/// (Runtime/ProcessRuntime.swift); other copies forward to it.
///
/// ## Lock order (outermost first)
///
/// 1. the dynamic loader's locks (`dlopen`, `dlclose`, `dl_iterate_phdr`,
///    `dladdr`);
/// 2. `KeyRegistry.lock`;
/// 3. TextPoke's patch lock.
///
/// This is the user-space shape of the seed's hang: `text_mutex` then
/// `on_each_cpu` against hot-plug's lock then `text_mutex`. Here a load hook
/// runs inside `dlopen` with the loader's lock held and needs 2 and 3 to
/// patch the new image; so nothing that holds 2 or 3 may ever wait for the
/// loader. Enforced, not hoped for:
/// - tables are walked (`SiteTable.readLoadedImages`) and images pinned
///   (`LoaderCalls.pin`) before 2 is taken; both trap if 2 or 3 is held;
/// - a hook's own loader work (describing and pinning the image) happens
///   before it takes 2;
/// - symbol names for messages (`CodeLocation`, which calls `dladdr`) are
///   not looked up while 2 or 3 is held, and descriptions of problems are
///   made after 2 is released;
/// - a toggle never needs the loader at all: the index it patches from is
///   already in memory, and an image cannot be unmapped while a toggle runs,
///   because its unload hook must take 2 first (see `unindex`).
final class KeyRegistry: @unchecked Sendable {
  // @unchecked: everything mutable below is guarded by `lock`.
  static let shared = KeyRegistry()

  let lock = OwnedLock()
  private let loaded = Atomic<Bool>(false)
  var keys: [String: KeyRecord] = [:]
  /// Every key's indexed sites, by name: one run per image (SiteRun.swift).
  var sites: [String: [SiteRun]] = [:]
  var problems: [String: JumpLabelError] = [:]
  /// States set by name for keys no image has declared yet (control tools
  /// may switch a plugin's key before the plugin is loaded): applied when
  /// the key's record is created.
  var pendingStates: [String: Bool] = [:]
  /// At most this many names are remembered in `pendingStates`.
  static let undeclaredLimit = 1024
  /// Sites indexed so far, and the time spent indexing them (reading a
  /// table is counted separately: it happens outside the lock).
  var indexedSites = 0
  var indexNanoseconds: UInt64 = 0
  /// Indexed images, by table start.
  private var images: [UInt: IndexedImage] = [:]
  /// Number of unload events so far, and the number each table was last
  /// unloaded at: the first walk drops tables unloaded while it ran.
  /// (Unload events are only recorded once the registry started, so any
  /// recorded unload of a table at or before `generation` that the second
  /// walk still lists was followed by a load of it.)
  /// Runtime copies of another ABI seen so far: while there is one, no key
  /// is toggled (it could patch the same sites under its own lock).
  private var foreign: [String: UInt32] = [:]
  private var unloads: UInt64 = 0
  private var unloadedAt: [UInt: UInt64] = [:]

  /// What the registry keeps of an indexed image.
  struct IndexedImage {
    let image: String
    /// Pinned images are never unmapped; their unload hook (which still
    /// runs at exit) changes nothing.
    let pinned: Bool
    /// The addresses of its sites.
    let range: Range<UInt>
    let keys: Set<String>
  }

  private init() {
    // Lock order across fork(): prepare handlers run in reverse order of
    // registration. The engine registers first, we register second, so at
    // fork time our prepare (registry lock) runs before the engine's (patch
    // lock): the same order as everywhere else.
    TextPoke.installForkHandlers()
    pthread_atfork({ KeyRegistry.shared.lock.lock() }, { KeyRegistry.shared.lock.unlock() }, { KeyRegistry.shared.lock.unlock() })
    // exit() runs atexit handlers in reverse order of registration, and the
    // loader registered its destructor pass first, so this runs before any
    // image destructor that _dl_fini runs at exit.
    atexit { KeyRegistry.exiting.store(true, ordering: .releasing) }
    ProcessRuntime.settle()
  }

  /// The loader's load count at the last scan for foreign runtimes.
  static let scannedAdds = Atomic<UInt64>(UInt64.max)

  /// Set when the process starts to exit.
  static let exiting = Atomic<Bool>(false)

  // MARK: - Loading

  /// Indexes the images loaded now, once. From then on images announce
  /// themselves through their load and unload hooks (Images/ImageEvents.swift).
  func ensureLoaded() {
    if loaded.load(ordering: .acquiring) { return }
    if lock.heldByCurrentThread { return }  // re-entered; callers refuse
    // Before the walk, so that an image loaded concurrently is either seen
    // by the walk or registers itself (runtime.c explains the ordering).
    jl_runtime_mark_started()
    guard let generation = lock.withLockUnlessReentrant({ unloads }) else { return }
    // Loader work, none of our locks held. `dl_iterate_phdr` also lists the
    // images of a dlopen in progress on another thread, which may still
    // fail and unmap them without running any hook, and images whose
    // dlclose has run their unload hook but not yet unmapped them. So: walk,
    // wait until no other thread is in the loader, walk again, and keep the
    // tables both walks saw. (Not dlopen(RTLD_NOLOAD) per image: inside a
    // dlopen, that would run the constructors of images not initialised
    // yet, out of order.)
    let walked = SiteTable.readLoadedImages()
    let foreignNow = SiteTable.foreignRuntimes()
    if KeyRegistry.hasFault(.dlopenWalkedImages) {
      for t in walked where t.image != SiteTable.mainProgram { jl_probe_dlopen(t.image) }
    }
    LoaderCalls.waitForLoader()
    let still = SiteTable.loadedTables()
    var tables: [(table: ImageTable, pinned: Bool)] = []
    for t in walked where !t.unloading && still.contains(.init(start: t.start, image: t.image)) {
      // Pin only an image whose own load hook has run: dlopen on one that
      // is not initialised yet would initialise it now. Such an image's
      // load hook pins it when it runs (imageLoaded).
      let pinned = t.image == SiteTable.mainProgram || (LoaderCalls.holdsSwift(t) && t.initialised && LoaderCalls.pin(t.image))
      tables.append((t, pinned))
    }
    _ = lock.withLockUnlessReentrant {
      if loaded.load(ordering: .relaxed) { return }
      // An unload hook ran since `generation` was read: that image may be
      // unmapped (or about to be) even though the walk saw it. If it was
      // loaded again since, its own load hook indexes it.
      noteForeign(foreignNow)
      for (t, pinned) in tables where unloadedAt[t.start].map({ $0 <= generation }) ?? true {
        index(t, pinned: pinned)
      }
      loaded.store(true, ordering: .releasing)
    }
  }

  /// Adds an image's sites to the index, lock held. Checks declared
  /// defaults, checks that every site holds the instruction its compiler
  /// emitted, then patches (one batch) the sites whose key is no longer in
  /// its default state: an image loaded after keys changed follows them
  /// before any of its code runs. A key with a problem is never patched;
  /// its control calls throw the problem.
  func index(_ t: ImageTable, pinned: Bool) {
    let started = StaticKeys.monotonicNanoseconds()
    defer {
      indexedSites += t.entries.count
      indexNanoseconds += StaticKeys.monotonicNanoseconds() - started
    }
    if let known = images[t.start] {
      // Indexed by a walk before its load hook could pin it.
      if pinned && !known.pinned {
        images[t.start] = IndexedImage(image: known.image, pinned: true, range: known.range, keys: known.keys)
      }
      return
    }
    // Per key, in name order: its sites in address order, duplicates
    // dropped (ImageTable.keyGroups). Nothing below works per site except
    // the byte check and the patches.
    let groups = t.keyGroups()
    var batch: [TextPatch] = []
    var batchKeys: [String] = []
    var records = [KeyRecord?](repeating: nil, count: groups.count)
    var lo = UInt.max, hi = UInt(0)
    for k in t.keys.indices.sorted(by: { t.keys[$0] < t.keys[$1] }) where !groups[k].runs.isEmpty {
      let (name, group) = (t.keys[k], groups[k])
      let record = keyRecord(name: name, defaultValue: group.firstDefault, origin: t.image)
      records[k] = record
      if group.isTracepoint { record.isTracepoint.store(true, ordering: .relaxed) }
      if group.declares(!record.defaultValue) {
        noteProblem(name, .conflictingDefaults(
          key: name, declared: !record.defaultValue, recorded: record.defaultValue,
          declaredAt: t.image, recordedAt: record.origin))
      }
      if problems[name] == nil {
        // No conflict: every site declares the record's default. Each must
        // hold the instruction its compiler emitted for that before
        // anything patches it: checked here, for every site, without
        // allocating. A key keeps one problem: the first mismatch is enough.
        let emitted = record.defaultValue
        if let bad = group.runs.lazy.flatMap({ $0 }).first(where: { !$0.holds(enabled: emitted) }) {
          noteProblem(name, mismatch(name, bad, expected: emitted))
        }
      }
      // Still no problem: the sites need patching iff the key is no longer
      // in its default state, and then all of them.
      let enabled = record.state
      if problems[name] == nil && enabled != record.defaultValue {
        group.runs.appendPatches(to: enabled, into: &batch)
        batchKeys.append(name)
      }
      sites[name, default: []].append(contentsOf: group.runs)
      lo = min(lo, group.runs.first!.first!.code)
      hi = max(hi, group.runs.last!.last!.code + 5)
    }
    // Every name literal of the table now finds its record lock-free
    // (fallback reads, and refusals that must not allocate).
    for n in t.names {
      if let record = records[n.key] {
        FallbackCache.sharedReady.prime(pointer: n.pointer, length: n.length, record: record, unpinned: !pinned)
      }
    }
    if !batch.isEmpty, let f = foreignRuntime {
      // Another registry may patch these sites too: leave them, mark the keys.
      for k in batchKeys { noteProblem(k, f) }
    } else if !batch.isEmpty {
      do {
        try TextPoke.apply(batch)
      } catch {
        // Nothing was written: these keys' sites in this image disagree
        // with their keys, so the keys are marked and never patched again.
        for k in batchKeys { noteProblem(k, .patch(key: k, error)) }
      }
    }
    if lo > hi { (lo, hi) = (t.start, t.start + 5) }  // no sites
    let keys = Set(t.keys.indices.lazy.filter { records[$0] != nil }.map { t.keys[$0] })
    images[t.start] = IndexedImage(image: t.image, pinned: pinned, range: lo..<hi, keys: keys)
  }

  /// Drops an image's sites from the index, lock held. Runs from the
  /// image's unload hook, after its other destructors and before the loader
  /// unmaps it. Because this takes the registry lock, a toggle that is
  /// patching the image's sites finishes first; every later toggle no
  /// longer knows them. So no toggle writes into unmapped or reused memory,
  /// and the table is never read again.
  func unindex(table: UInt) {
    if let img = images[table], img.pinned { return }  // stays mapped
    unloads += 1
    unloadedAt[table] = unloads
    guard let img = images.removeValue(forKey: table) else { return }
    for k in img.keys { sites[k]?.removeAll { $0.table == table } }  // its runs
    // At exit (after our atexit handler) the loader runs every destructor
    // but unmaps nothing while other threads may still run the image and
    // trap late in it: keep its addresses in the late-trap history then. Its
    // sites leave the index all the same: a dlclose made by an atexit
    // handler that runs after ours does unmap.
    if !KeyRegistry.exiting.load(ordering: .acquiring) { TextPoke.forgetSites(in: img.range) }
  }

  /// The error for the first runtime copy of another ABI, if any. Lock held.
  var foreignRuntime: JumpLabelError? {
    foreign.min(by: { $0.key < $1.key }).map { .foreignRuntime(image: $0.key, abi: $0.value) }
  }

  /// Records runtime copies of another ABI. Lock held.
  func noteForeign(_ found: [(image: String, abi: UInt32)]) {
    for (image, abi) in found { foreign[image] = abi }
  }

  /// Looks for runtime copies of another ABI again if an image was loaded
  /// since the last look (the loader's load counter says so cheaply).
  /// Loader work first, then the lock. Called at image load hooks and by
  /// `problems()`, never on the toggle path: a walk of the images holds the
  /// loader's write lock, which glibc's fork() does not reset in the child,
  /// so a process that forks while another thread walks gets a child that
  /// hangs at its first walk (seen: the fork test, once this ran per toggle).
  func rescanForeign() {
    LoaderCalls.mayCallLoader()
    let adds = jl_loader_adds()
    if KeyRegistry.scannedAdds.load(ordering: .relaxed) == adds { return }
    let found = SiteTable.foreignRuntimes()
    KeyRegistry.scannedAdds.store(adds, ordering: .relaxed)
    if !found.isEmpty { _ = lock.withLockUnlessReentrant { noteForeign(found) } }
  }

  /// Records the first problem of a key; its control calls throw it from
  /// now on. Lock held.
  private func noteProblem(_ name: String, _ error: JumpLabelError) {
    guard problems[name] == nil else { return }
    problems[name] = error
    keys[name]?.hasProblem.store(true, ordering: .releasing)
  }

  /// The error for a site of `key` that does not hold its instruction for
  /// `expected` (the key's state).
  private func mismatch(_ key: String, _ site: IndexedSite, expected: Bool) -> JumpLabelError {
    .unexpectedSite(key: key, site: CodeLocation(site.code), expected: site.bytes(enabled: expected).array,
                    found: InstructionBytes(at: site.code, count: 5).array)
  }

  /// Re-reads every site of every key and reports those that do not hold
  /// their key's instruction (something else wrote into the text).
  func verifyAll() -> [JumpLabelError] {
    ensureLoaded()
    return lock.withLockUnlessReentrant {
      keys.values.sorted { $0.name < $1.name }.flatMap { r in
        let enabled = r.state
        return (sites[r.name] ?? []).flatMap { run in
          run.lazy.filter { !$0.holds(enabled: enabled) }.map { self.mismatch(r.name, $0, expected: enabled) }
        }
      }
    } ?? []
  }

  /// The record of `name`, created on first mention (by `origin`: an
  /// image's site table, a fallback read, a control call). Lock held.
  private func keyRecord(name: String, defaultValue: Bool, origin: String) -> KeyRecord {
    if let r = keys[name] { return r }
    let r = KeyRecord(name: name, defaultValue: defaultValue, origin: origin)
    // A state set by name before anything declared the key: nobody can
    // have seen this record yet, so a plain store is enough.
    // The remembered state is the `.enabled` holder's share.
    if let state = pendingStates.removeValue(forKey: name) {
      r.book.held = state ? [.enabled] : []
      r.labelled.store(state ? 1 : 0, ordering: .releasing)
      r.count.store(state ? 1 : 0, ordering: .releasing)
    } else if let flags = DynamicDebugBoot.flags(forNewKey: name) {
      // A debug statement or logging call site as JUMPLABEL_DYNDBG and the
      // live levels say (DynamicDebug/): the `.enabled` holder's share, as
      // a remembered state; its image's sites are patched in the batch
      // that indexes them.
      let on = flags.contains(.print)
      r.book.held = on ? [.enabled] : []
      r.labelled.store(on ? 1 : 0, ordering: .releasing)
      r.count.store(on ? 1 : 0, ordering: .releasing)
    }
    keys[name] = r
    return r
  }

  // MARK: - Lookup

  /// For the fallback site: never throws, records a conflicting default.
  /// Re-entered on a thread that holds the lock (a site in a signal
  /// handler), it cannot look anything up safely and answers with a
  /// throw-away record in the declared default state.
  ///
  /// `origin` describes the reader ("a fallback read in <image>"); it is
  /// made by the caller before the lock is taken (naming an image asks the
  /// loader).
  func recordForFallback(name: String, defaultValue: Bool, origin: String) -> (record: KeyRecord, registered: Bool) {
    ensureLoaded()
    let found: KeyRecord? = lock.withLockUnlessReentrant {
      let r = keyRecord(name: name, defaultValue: defaultValue, origin: origin)
      if r.defaultValue != defaultValue {
        noteProblem(r.name, .conflictingDefaults(
          key: r.name, declared: defaultValue, recorded: r.defaultValue, declaredAt: origin, recordedAt: r.origin))
      }
      return r
    }
    if let found { return (found, true) }
    return (KeyRecord(name: name, defaultValue: defaultValue, origin: origin), false)
  }

  /// For control calls on a declared key. Lock held.
  private func controllable(_ key: KeyReference) throws(JumpLabelError) -> KeyRecord {
    guard let defaultValue = key.defaultValue else {
      guard let r = keys[key.name] else { throw .unknownKey(key.name) }
      if let p = problems[key.name] { throw p }
      return r
    }
    let r = keyRecord(name: key.name, defaultValue: defaultValue, origin: KeyRecord.controlOrigin)
    if r.defaultValue != defaultValue {
      throw .conflictingDefaults(
        key: r.name, declared: defaultValue, recorded: r.defaultValue, declaredAt: KeyRecord.controlOrigin, recordedAt: r.origin)
    }
    if let p = problems[r.name] { throw p }
    return r
  }

  /// Runs `body` with the lock and the record of `key`.
  func withKey<T>(_ key: KeyReference, _ body: (KeyRecord) throws(JumpLabelError) -> T) throws(JumpLabelError) -> T {
    ensureLoaded()
    guard let r = try lock.withLockUnlessReentrant({ () throws(JumpLabelError) -> T in try body(try controllable(key)) }) else {
      throw .reentrantControl(key: key.name)
    }
    return r
  }

  /// The record for a control call's fast path. Throws like a control call.
  func record(_ key: StaticKey) throws(JumpLabelError) -> KeyRecord {
    // Lock-free when the key's record is already cached and agrees: that is
    // what makes increment()/decrement() away from 0↔1 lock-free.
    if !lock.heldByCurrentThread, let r = FallbackCache.sharedReady.cachedRecord(for: key),
       r.defaultValue == key.defaultValue, !r.hasProblem.load(ordering: .acquiring) {
      return r
    }
    let r = try withKey(KeyReference(key)) { $0 }
    // It exists and agrees now: cache this literal for the next call.
    if !lock.heldByCurrentThread { _ = FallbackCache.sharedReady.record(for: key) }
    return r
  }

  // MARK: - Patching

  /// Makes every site of `record` follow `enabled`, in one batch. Lock held.
  func patchSites(of record: KeyRecord, to enabled: Bool) throws(JumpLabelError) {
    guard let runs = sites[record.name], runs.siteCount > 0 else { return }
    if let f = foreignRuntime { throw f }
    var batch: [TextPatch] = []
    batch.reserveCapacity(runs.siteCount)
    runs.appendPatches(to: enabled, into: &batch)
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
    let (raw, pending) = lock.withLockUnlessReentrant { (keys.values.map { infoLocked($0) }, pendingStates) } ?? ([], [:])
    let undeclared = pending.map { name, state in
      var i = StaticKeyInfo(
        name: name, state: state, count: state ? 1 : 0, sites: 0, defaultValue: false, fallbackHits: 0,
        fallbackHitsInOptimizedCode: 0, isTracepoint: false, problem: nil)
      i.declared = false
      if state { i.holders = [.enabled: 1] }
      return i
    }
    return (raw.map { $0.info } + undeclared).sorted { $0.name < $1.name }
  }

  /// Snapshot of one key, lock held. The problem's description is made by
  /// the caller after releasing the lock: it may look up symbol names.
  func infoLocked(_ r: KeyRecord) -> PendingInfo {
    PendingInfo(
      name: r.name, state: r.state, count: max(r.count.load(ordering: .acquiring), 0),
      sites: sites[r.name]?.siteCount ?? 0, defaultValue: r.defaultValue,
      fallbackHits: r.fallbackHits.load(ordering: .relaxed),
      fallbackHitsInOptimizedCode: r.optimizedFallbackHits.load(ordering: .relaxed),
      isTracepoint: r.isTracepoint.load(ordering: .relaxed), problem: problems[r.name],
      holders: holdersLocked(r), forcedOff: r.book.forced)
  }

  /// A `StaticKeyInfo` whose problem is not described yet.
  struct PendingInfo {
    let name: String, state: Bool, count: Int, sites: Int, defaultValue: Bool, fallbackHits: Int
    let fallbackHitsInOptimizedCode: Int
    let isTracepoint: Bool
    let problem: JumpLabelError?
    let holders: [StaticKeyHolder: Int]
    let forcedOff: String?
    var info: StaticKeyInfo {
      var i = StaticKeyInfo(
        name: name, state: state, count: count, sites: sites, defaultValue: defaultValue,
        fallbackHits: fallbackHits, fallbackHitsInOptimizedCode: fallbackHitsInOptimizedCode,
        isTracepoint: isTracepoint, problem: problem?.description)
      i.holders = holders
      i.forcedOff = forcedOff
      return i
    }
  }

  /// Sites of the key named `name`.
  func sites(named name: String) throws(JumpLabelError) -> [StaticKeySite] {
    ensureLoaded()
    guard let r = try lock.withLockUnlessReentrant({ () throws(JumpLabelError) in
      guard keys[name] != nil else { throw JumpLabelError.unknownKey(name) }
      return (sites[name] ?? []).flatMap { run in run.map { $0.info(key: name, image: run.image) } }
    }) else { throw .reentrantControl(key: name) }
    return r
  }

  /// Every problem found in the tables, by key.
  func allProblems() -> [JumpLabelError] {
    ensureLoaded()
    rescanForeign()
    guard let (blocking, slow) = lock.withLockUnlessReentrant({
      (foreign.sorted { $0.key < $1.key }.map { JumpLabelError.foreignRuntime(image: $0.key, abi: $0.value) }
         + problems.sorted { $0.key < $1.key }.map(\.value),
       keys.values.filter { $0.optimizedFallbackHits.load(ordering: .relaxed) > 0 }.sorted { $0.name < $1.name })
    }) else { return [] }
    // Naming the images asks the loader: after the lock is released.
    return blocking + slow.map { r in
      let dso = r.optimizedFallbackImage.load(ordering: .relaxed)
      let image = CodeLocation(dso).symbolInfo.image.map { SiteTable.imageName($0) } ?? "an unknown image"
      return .fallbackInOptimizedCode(key: r.name, hits: r.optimizedFallbackHits.load(ordering: .relaxed), image: image)
    }
  }

  /// The indexed images, for control tools.
  func indexedImages() -> [(image: String, sites: Int, pinned: Bool)] {
    ensureLoaded()
    return lock.withLockUnlessReentrant {
      images.map { (start, img) in
        (img.image, img.keys.reduce(0) { n, k in n + (sites[k]?.filter { $0.table == start }.siteCount ?? 0) }, img.pinned)
      }
    }?.sorted { $0.image < $1.image } ?? []
  }
}

/// A key as a control call names it: declared (name and default, created
/// on first mention) or by name only (must exist).
struct KeyReference: Sendable, Hashable {
  let name: String
  /// nil: by name only.
  let defaultValue: Bool?

  init(_ key: StaticKey) {
    name = key.nameString
    defaultValue = key.defaultValue
  }

  init(name: String, defaultValue: Bool?) {
    self.name = name
    self.defaultValue = defaultValue
  }
}
