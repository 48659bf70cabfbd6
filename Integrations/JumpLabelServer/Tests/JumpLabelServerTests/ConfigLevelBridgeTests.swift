import Configuration
import JumpLabel
import JumpLabelConfiguration
import Testing

/// The level bridge's precedence rule, in process: an operator's level
/// (`LiveLogLevels.set`, what `ctl log` calls) stands while it lasts. Each
/// test uses a module name of its own, named to the bridge (levels of
/// modules without call sites switch nothing, but are kept and reported).
@Suite("ConfigLevelBridge") struct ConfigLevelBridgeTests {
  final class Config {
    let provider = MutableInMemoryProvider(initialValues: [:])
    var reader: ConfigReader { ConfigReader(provider: provider) }
    func set(_ key: String, _ value: String?) {
      provider.setValue(value.map { ConfigValue(.string($0), isSecret: false) }, forKey: AbsoluteConfigKey(ConfigKey(key)))
    }
  }

  @Test func anOperatorsLevelStandsUntilItIsBack() throws {
    let m = "SvcTestLevelsOverride"
    let config = Config()
    let bridge = ConfigLevelBridge(modules: [m])
    config.set("jumplabel.log.modules.\(m)", "debug")
    var outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.levels["module \(m)"] == "debug")
    #expect(LiveLogLevels.levels().modules[m] == 2)

    // The operator sets trace; the configuration then asks for warning.
    try LiveLogLevels.set(rank: 1, module: m)
    config.set("jumplabel.log.modules.\(m)", "warning")
    outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.overridden == ["module \(m)"])
    #expect(LiveLogLevels.levels().modules[m] == 1, "the operator's level was overwritten")

    // The operator puts it back where the configuration left it: the
    // configuration's current value applies.
    try LiveLogLevels.set(rank: 2, module: m)
    outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.overridden.isEmpty)
    #expect(LiveLogLevels.levels().modules[m] == 5)

    // A bad value changes nothing; removal gives the level back (unset).
    config.set("jumplabel.log.modules.\(m)", "loud")
    outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.refused.keys.contains("jumplabel.log.modules.\(m)"))
    #expect(LiveLogLevels.levels().modules[m] == 5)
    config.set("jumplabel.log.modules.\(m)", nil)
    outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.levels["module \(m)"] == "unset")
    #expect(LiveLogLevels.levels().modules[m] == nil)
  }

  @Test func aBadQueryChangesNothing() {
    let config = Config()
    let bridge = ConfigLevelBridge()
    config.set("jumplabel.dyndbg", "frobnicate Cache +p")
    let outcome = bridge.apply(config.reader.snapshot())
    #expect(outcome.query == nil)
    #expect(outcome.refused.keys.contains("jumplabel.dyndbg"))
  }
}
