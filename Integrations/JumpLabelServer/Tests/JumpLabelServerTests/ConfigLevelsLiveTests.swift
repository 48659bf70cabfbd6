import Foundation
import Testing

/// The configuration file switches a module's log level and a dynamic-debug
/// query in the real sample process (release: the call sites are NOPs), and
/// the sample's `log.live.debug("served item N")` and
/// `debug("lookup", "item N ...")` print exactly while they are on.
///
/// Absence is shown without timing: the stderr pipe is in order (one writer, swift-log's stream), so once a
/// later request's line has arrived, an earlier request's line would have
/// arrived before it. Each "off" request is therefore followed by a change
/// that makes a later request print, and only then is the earlier one
/// checked.
@Suite("Log levels and debug queries follow the configuration", .serialized) struct ConfigLevelsLiveTests {
  static let module = "\"log\": {\"modules\": {\"JumpLabelSample\": \"debug\"}}"
  static let query = "\"dyndbg\": \"format lookup +p\""

  @Test func moduleLevelAndQueryFollowTheFileLive() throws {
    let dir = try Paths.scratch()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let config = dir + "/config.json"
    try write(config, [])
    let sample = try Sample.start(config: config)
    defer { sample.child.stop() }
    let out = { sample.child.stderr }  // the sample logs on stderr

    // Before any change (negative control, checked after the barrier below).
    try get(sample, 7001)

    // The module's level goes to debug: the live call site prints.
    try write(config, [Self.module])
    #expect(try printed(sample, "served item", from: 7100), "no live debug line after the module level changed: \(out())")
    #expect(!out().contains("served item 7001"), "the live debug line printed before the change")
    #expect(!out().contains("lookup item"), "the debug statement printed without a query: \(out())")

    // The level is removed: back to info (the configuration's notice says
    // when), and the query goes on.
    try write(config, [])
    #expect(eventually { out().contains("JumpLabelSample=unset") }, "the level was not removed: \(out())")
    try get(sample, 7002)
    try write(config, [Self.query])
    #expect(try printed(sample, "lookup item", from: 7200), "no debug statement line after the query: \(out())")
    #expect(!out().contains("served item 7002"), "the live debug line printed after its level was removed")

    // The query is removed: its statement goes off (undone), and the level
    // comes back as the barrier.
    try write(config, [])
    #expect(eventually { out().contains("dyndbg query removed") }, "the query was not removed: \(out())")
    try get(sample, 7003)
    try write(config, [Self.module])
    #expect(try printed(sample, "served item", from: 7300), "no live debug line after the level came back: \(out())")
    #expect(!out().contains("lookup item 7003"), "the debug statement printed after its query was removed")
  }

  /// Writes the configuration with `parts` inside `"jumplabel"`.
  func write(_ path: String, _ parts: [String]) throws {
    let keys = "\"keys\": {\"sample.items.diagnostics\": false}"
    try "{\"jumplabel\": {\((parts + [keys]).joined(separator: ", "))}}\n".write(toFile: path, atomically: true, encoding: .utf8)
  }

  /// One request for `/items/id`, which must succeed.
  func get(_ sample: Sample, _ id: Int) throws {
    let r = try Child.run("/usr/bin/curl", ["-sf", "http://127.0.0.1:\(sample.port)/items/\(id)"], timeout: .seconds(30))
    guard r.status == 0 else { throw SampleError("curl /items/\(id): \(r.stderr)") }
  }

  /// Requests items `from`, `from + 1`, ... until `"\(prefix) <id>"` of
  /// one of them appears on stderr (the sample's log) (the configuration is polled, so the
  /// first requests may come before the change); false after a generous
  /// hang guard.
  func printed(_ sample: Sample, _ prefix: String, from: Int) throws -> Bool {
    var id = from
    return try eventually(timeout: .seconds(120)) {
      try get(sample, id)
      let seen = (from...id).contains { sample.child.stderr.contains("\(prefix) \($0)") }
      id += 1
      return seen
    }
  }
}
