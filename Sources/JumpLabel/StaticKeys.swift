import Glibc
import TextPoke

/// Run-time access to keys by name, for control tools. Every call is
/// answered by the process's primary runtime copy, whichever image asks.
public enum StaticKeys {
  /// Every key known in this process: from the site tables of loaded
  /// images, and keys that were used or controlled through a `StaticKey`.
  public static func list() -> [StaticKeyInfo] {
    guard case let .infos(v) = ProcessRuntime.perform(.list) else { return [] }
    return v
  }

  /// The key named `name`.
  public static func info(named name: String) throws(JumpLabelError) -> StaticKeyInfo {
    guard case let .infos(v) = try ProcessRuntime.perform(.info(name)).get(), let first = v.first else {
      throw .unknownKey(name)
    }
    return first
  }

  /// Enables or disables the key named `name` (boolean form).
  public static func set(named name: String, enabled: Bool) throws(JumpLabelError) {
    _ = try ProcessRuntime.perform(.control(enabled ? .enable : .disable, KeyReference(name: name, defaultValue: nil))).get()
  }

  /// `increment()` on the key named `name`.
  public static func increment(named name: String) throws(JumpLabelError) {
    _ = try ProcessRuntime.perform(.control(.increment, KeyReference(name: name, defaultValue: nil))).get()
  }

  /// `decrement()` on the key named `name`.
  public static func decrement(named name: String) throws(JumpLabelError) {
    _ = try ProcessRuntime.perform(.control(.decrement, KeyReference(name: name, defaultValue: nil))).get()
  }

  /// The sites of the key named `name` in all loaded images.
  public static func sites(named name: String) throws(JumpLabelError) -> [StaticKeySite] {
    guard case let .sites(v) = try ProcessRuntime.perform(.sites(name)).get() else { return [] }
    return v
  }

  /// The loaded images whose sites are indexed, with their site counts.
  public static func images() -> [StaticKeyImage] {
    guard case let .images(v) = ProcessRuntime.perform(.images) else { return [] }
    return v
  }

  /// Why keys cannot be toggled in this process now, or nil if they can:
  /// no way to write code or to synchronise cores (checked once), or the
  /// process as it is now (a debugger attached while a thread blocks
  /// SIGURG, so that its threads can be neither trapped nor parked). The
  /// second part reads every thread's /proc status, about 10 µs each.
  public static func patchingProblem() -> String? {
    guard case let .text(v) = ProcessRuntime.perform(.patchingProblem) else { return nil }
    return v
  }

  /// Re-reads every site in the process and returns one
  /// ``JumpLabelError/unexpectedSite(key:site:expected:found:)`` per site
  /// that does not hold its key's instruction now. Empty means every site
  /// is as its key says. (The same check runs at first use.)
  public static func verify() -> [JumpLabelError] {
    guard case let .errors(v) = ProcessRuntime.perform(.verify) else { return [] }
    return v
  }

  /// Problems found in the tables: conflicting defaults, sites that do not
  /// hold their expected instruction. Keys with a problem cannot be toggled.
  public static func problems() -> [JumpLabelError] {
    guard case let .errors(v) = ProcessRuntime.perform(.problems) else { return [] }
    return v
  }

  /// Runs `body` with the deferred decrements held back (tests only):
  /// what is due meanwhile runs after `body`, so a test can look at the
  /// state inside a deferral's window however long a loaded machine
  /// takes to get there. Nests; holds back every key's deferrals.
  package static func _withDeferredDecrementsPaused<T>(_ body: () throws -> T) rethrows -> T {
    DeferredDecrements.shared.pause()
    defer { DeferredDecrements.shared.resume() }
    return try body()
  }

  /// Sites indexed so far by this copy (the primary) and the time spent in
  /// indexing them: sorting, checking every site's bytes, building the
  /// index, patching the sites of keys no longer in their default state.
  /// For `jumplabel bench`.
  package static var _indexStatistics: (sites: Int, nanoseconds: UInt64) {
    guard ThreadMarks.enter(ThreadMarks.client) else { return (0, 0) }
    defer { ThreadMarks.leave(ThreadMarks.client) }
    guard ProcessRuntime.isPrimary else { return (0, 0) }
    let r = KeyRegistry.shared
    return r.lock.withLockUnlessReentrant { (r.indexedSites, r.indexNanoseconds) } ?? (0, 0)
  }

  static func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
  }

  /// True if this copy of the runtime is the one that keeps the process's
  /// keys; false if it forwards to another copy (another image that links
  /// the package statically and was loaded first).
  public static var isPrimaryRuntime: Bool {
    guard ThreadMarks.enter(ThreadMarks.client) else {
      if case .other = ProcessRuntime.known { return false }
      return true
    }
    defer { ThreadMarks.leave(ThreadMarks.client) }
    return ProcessRuntime.isPrimary
  }
}

/// A loaded image whose branch sites the runtime indexes.
public struct StaticKeyImage: Sendable, Hashable, CustomStringConvertible {
  /// Its path ("<main program>" for the executable).
  public let path: String
  /// How many distinct sites it has.
  public let sites: Int
  /// True if it can never be unloaded (it holds Swift code;
  /// <doc:SharedLibraries>). False: `dlclose` unloads it and its sites leave
  /// the index first.
  public let pinned: Bool

  public var description: String { "\(path): \(sites) sites\(pinned ? ", pinned" : "")" }
}
