import JumpLabel

/// Tracepoints of the whole process, by name: for control tools and sinks
/// that attach without knowing payload types.
public enum Tracepoints {
  /// How long a detach waits before it decrements the tracepoint's key
  /// (the kernel's deferred keys): a burst of attach and detach patches
  /// code at most once per delay. 100 ms.
  public static let detachDelay: Duration = .milliseconds(100)

  /// Fault injection for a negative control: detach does not wait for
  /// emits in flight. Not for production use.
  nonisolated(unsafe) public static var _skipGraceWaitForTests = false

  /// A tracepoint known to this process.
  public struct Info: Sendable, Hashable {
    /// Its name.
    public let name: String
    /// Whether its key is enabled (some probe attached, or enabled by hand).
    public let enabled: Bool
    /// Emit sites compiled as NOPs in loaded images.
    public let sites: Int
    /// Probes attached now.
    public let probes: Int
    /// The payload type, once an emit or an attach has told it.
    public let payloadType: String?
  }

  /// Every tracepoint: those whose sites are in the loaded images' tables
  /// (known before any of them ran) and those emitted or attached to.
  public static func list() -> [Info] {
    let keys = StaticKeys.list().filter(\.isTracepoint)
    var lists: [String: ProbeList] = [:]
    for l in ProbeRegistry.shared.lists { lists[l.name] = l }
    var names = Set(keys.map(\.name))
    names.formUnion(lists.keys)
    let byName = Dictionary(keys.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    return names.sorted().map { n in
      Info(name: n, enabled: byName[n]?.state ?? false, sites: byName[n]?.sites ?? 0,
           probes: lists[n]?.probeCount ?? 0, payloadType: lists[n]?.codec?.typeName)
    }
  }

  /// Attaches `sink` to the tracepoint named `name`, whatever its payload
  /// type (the sink sees erased events). Throws `unknownKey` if no loaded
  /// image has a site of it and nothing attached to it yet.
  public static func attach(_ sink: some TracepointSink, named name: String) throws(JumpLabelError) -> ProbeHandle {
    try ProbeRegistry.shared.list(named: name).attach(.sink(sink), key: nil, holder: nil)
  }

  /// Attaches `sink` as `holder` (say `.trace`, "pid 4242" for a control
  /// client): the tracepoint's key lists that holder, a disable names it
  /// when it refuses, and a forced disable marks the handle
  /// (``ProbeHandle/forcedOffReason``) so the caller can tell its client.
  /// Several sinks of one holder share one hold.
  public static func attach(_ sink: some TracepointSink, named name: String, as holder: StaticKeyHolder) throws(JumpLabelError) -> ProbeHandle {
    try ProbeRegistry.shared.list(named: name).attach(.sink(sink), key: nil, holder: holder)
  }
}
