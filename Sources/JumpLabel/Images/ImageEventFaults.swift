import Synchronization

/// Conditions a test can impose on the load and unload hooks, to prove that
/// its checks fail without them (negative controls). Not for production.
package struct ImageEventFaults: OptionSet, Sendable {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  /// Load hooks do nothing: a late-loaded image keeps its compiled-in
  /// instructions whatever its keys' states.
  public static let ignoreLoads = ImageEventFaults(rawValue: 1)
  /// Unload hooks do nothing: the index keeps the sites of unmapped images.
  public static let ignoreUnloads = ImageEventFaults(rawValue: 2)
  /// The first walk also does dlopen(RTLD_NOLOAD) + dlclose on every image
  /// it saw (an earlier design): inside a dlopen, that runs the constructors
  /// of images not initialised yet.
  public static let dlopenWalkedImages = ImageEventFaults(rawValue: 4)
  /// Runtime copies of another ABI go unnoticed.
  public static let ignoreForeignRuntimes = ImageEventFaults(rawValue: 8)
}

extension KeyRegistry {
  static let imageEventFaults = Atomic<UInt8>(0)

  static func hasFault(_ f: ImageEventFaults) -> Bool {
    ImageEventFaults(rawValue: imageEventFaults.load(ordering: .relaxed)).contains(f)
  }
}

extension StaticKeys {
  /// The check every loader call of the runtime makes first: traps if the
  /// calling thread holds the registry or patch lock (the lock order,
  /// KeyRegistry.swift). For the test that proves the check is live.
  package static func _checkMayCallLoader() {
    LoaderCalls.mayCallLoader()
  }

  /// Imposes `faults` on this copy's hooks (it must be the primary). For
  /// negative controls in tests only.
  package static func _injectImageEventFaults(_ faults: ImageEventFaults) {
    KeyRegistry.imageEventFaults.store(faults.rawValue, ordering: .relaxed)
  }
}
