public import Configuration
public import ServiceLifecycle

extension ConfigLevelBridge: ConfigFollowing {
  /// A service that keeps the query and the levels in line with `config`
  /// for as long as it runs: one check per configuration change, and one
  /// every `recheck` while a level is overridden (so that the configuration
  /// applies again once the operator's change is undone).
  public func service(following config: ConfigReader, recheck: Duration = .seconds(1)) -> some Service {
    ConfigFollowingService(bridge: self, config: config, recheck: recheck)
  }
}
