public import Configuration
public import ServiceLifecycle

extension ConfigLevelBridge {
  /// A service that keeps the query and the levels in line with `config`
  /// for as long as it runs: one check per configuration change, and one
  /// every `recheck` while a level is overridden (so that the configuration
  /// applies again once the operator's change is undone).
  public func service(following config: ConfigReader, recheck: Duration = .seconds(1)) -> some Service {
    ConfigLevelBridgeService(bridge: self, config: config, recheck: recheck)
  }
}

struct ConfigLevelBridgeService: Service {
  let bridge: ConfigLevelBridge
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
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
          try? await Task.sleep(for: recheck)
          if bridge.needsRecheck { bridge.apply(config.snapshot()) }
        }
      }
    }
  }
}
