public import Configuration
public import ServiceLifecycle

extension ConfigKeyBridge: ConfigFollowing {
  /// A service that keeps the keys in line with `config` for as long as it
  /// runs: one check per configuration change (a `ReloadingFileProvider`
  /// reports one per poll that saw the file change), and one every
  /// `recheck` while a key is overridden or refused, so that the
  /// configuration applies again when a lease ends or a tracer detaches.
  ///
  /// Add it to the application's services next to the reloading provider.
  public func service(following config: ConfigReader, recheck: Duration = .seconds(1)) -> some Service {
    ConfigFollowingService(bridge: self, config: config, recheck: recheck)
  }

  /// True while a key is overridden or was refused at the last check.
  var needsRecheck: Bool { state.withLock { !$0.overridden.isEmpty || !$0.refused.isEmpty } }
}
