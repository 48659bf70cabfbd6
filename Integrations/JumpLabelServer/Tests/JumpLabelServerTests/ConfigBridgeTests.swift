import Configuration
import JumpLabel
import JumpLabelConfiguration
import Testing

/// The bridge's rules, in process, against a configuration the test edits
/// (`MutableInMemoryProvider`, as a reloading file would change). Each test
/// has keys of its own; the bridge only touches keys its configuration names.
@Suite("ConfigKeyBridge") struct ConfigBridgeTests {
  init() { _ = touchTestKeys() }

  /// A configuration and a reader over it.
  final class Config {
    let provider = MutableInMemoryProvider(initialValues: [:])
    var reader: ConfigReader { ConfigReader(provider: provider) }
    func set(_ key: String, _ value: Bool?) {
      provider.setValue(value.map { ConfigValue(.bool($0), isSecret: false) },
                        forKey: AbsoluteConfigKey(ConfigKey("jumplabel.keys.\(key)")))
    }
  }

  @Test func keysFollowTheConfigurationInOneBatchPerDirection() throws {
    let config = Config()
    let bridge = ConfigKeyBridge()
    config.set("svc-test.config.batch-a", true)
    config.set("svc-test.config.batch-b", true)
    var outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.enabled.sorted() == ["svc-test.config.batch-a", "svc-test.config.batch-b"])
    #expect(StaticKey.configBatchA.state && StaticKey.configBatchB.state)
    // A key the configuration never names is never touched.
    #expect(StaticKey.configUntouched.state)

    // One change that switches one key on and one off.
    config.set("svc-test.config.batch-a", false)
    config.set("svc-test.config.follow", true)
    outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.enabled == ["svc-test.config.follow"])
    #expect(outcome.disabled == ["svc-test.config.batch-a"])
    #expect(!StaticKey.configBatchA.state && StaticKey.configFollow.state)

    // Nothing changed: nothing switched.
    #expect(!bridge.apply(config.reader.snapshot()).changedAnything)

    // A value that goes away gives the key back its default (off).
    config.set("svc-test.config.batch-b", nil)
    config.set("svc-test.config.follow", nil)
    outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.disabled.sorted() == ["svc-test.config.batch-b", "svc-test.config.follow"])
    #expect(!StaticKey.configBatchB.state && !StaticKey.configFollow.state)
    #expect(bridge.appliedChanges == 3)
  }

  @Test func anOperatorsChangeStandsUntilItIsUndone() throws {
    let config = Config()
    let bridge = ConfigKeyBridge()
    let name = "svc-test.config.override"
    config.set(name, true)
    bridge.apply(config.reader.snapshot())
    #expect(StaticKey.configOverride.state)

    // The operator switches it off (what `ctl disable` does): the
    // configuration still says on, and leaves it off.
    try StaticKeys.set(names: [name], enabled: false)
    var outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.overridden == [name])
    #expect(!outcome.changedAnything)
    #expect(!StaticKey.configOverride.state)

    // A lease that ends (the control server's revert) puts it back on:
    // the configuration's state again, no longer overridden.
    try StaticKeys.set(names: [name], enabled: true)
    outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.overridden.isEmpty)

    // The configuration changed during an override: its value applies as
    // soon as the override ends.
    try StaticKeys.set(names: [name], enabled: false)  // override again
    config.set(name, false)
    #expect(bridge.apply(config.reader.snapshot()).overridden == [name])
    try StaticKeys.set(names: [name], enabled: true)  // the lease reverts
    outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.disabled == [name])
    #expect(!StaticKey.configOverride.state)
  }

  @Test func aKeyTheConfigurationDropsDuringAnOverrideIsTheOperators() throws {
    let config = Config()
    let bridge = ConfigKeyBridge()
    let name = "svc-test.config.dropped"
    config.set(name, true)
    bridge.apply(config.reader.snapshot())
    try StaticKeys.set(names: [name], enabled: false)  // the operator
    config.set(name, nil)  // the configuration forgets the key
    var outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.overridden.isEmpty && !outcome.changedAnything)
    // The operator's later enable is not undone: the key is theirs.
    try StaticKeys.set(names: [name], enabled: true)
    outcome = bridge.apply(config.reader.snapshot())
    #expect(!outcome.changedAnything && outcome.overridden.isEmpty)
    #expect(StaticKey.configDropped.state)
    try StaticKeys.set(names: [name], enabled: false)
  }

  @Test func aTracersIncrementDefersTheConfigurationsDisable() throws {
    let config = Config()
    let bridge = ConfigKeyBridge()
    let name = "svc-test.config.tracer"
    config.set(name, true)
    bridge.apply(config.reader.snapshot())
    try StaticKey.configTracer.increment()  // a tracer attaches
    config.set(name, false)
    var outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.refused.keys.sorted() == [name])
    #expect(StaticKey.configTracer.state)
    try StaticKey.configTracer.decrement()  // the tracer detaches
    outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.disabled == [name])
    #expect(!StaticKey.configTracer.state)
  }
}
