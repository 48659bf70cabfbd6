import Configuration
import ServiceLifecycle

/// A bridge that brings a process in line with a configuration snapshot
/// (``ConfigKeyBridge``, ``ConfigLevelBridge``).
protocol ConfigFollowing: Sendable {
  /// Applies one snapshot; the result is the bridge's own report.
  associatedtype Outcome
  @discardableResult func apply(_ snapshot: ConfigSnapshotReader) -> Outcome
  /// True while something waits for a later check (an operator's override,
  /// a refused change), so that the configuration applies again once it
  /// ends.
  var needsRecheck: Bool { get }
}

/// Runs a bridge for as long as the service runs: one check per
/// configuration change (a `ReloadingFileProvider` reports one per poll
/// that saw the file change), and one every `recheck` while the bridge
/// needs it.
struct ConfigFollowingService<Bridge: ConfigFollowing>: Service {
  let bridge: Bridge
  let config: ConfigReader
  let recheck: Duration

  func run() async throws {
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask {
        try await config.watchSnapshot { updates in
          for try await snapshot in updates.cancelOnGracefulShutdown() { bridge.apply(snapshot) }
        }
      }
      group.addTask {
        // Rechecks only matter while something waits; a check with nothing
        // to do switches nothing.
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
          try? await Task.sleep(for: recheck)
          if bridge.needsRecheck { bridge.apply(config.snapshot()) }
        }
      }
    }
  }
}
