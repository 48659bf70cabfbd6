/// Putting statements back: what a query changed, undone (the end of a
/// `jumplabel ctl debug --ttl/--hold` lease).
extension DynamicDebug {
  /// The flags of one statement before a query and after it. For a
  /// statement that several commands of one query changed: before the
  /// first and after the last.
  public struct FlagChange: Sendable, Hashable, CustomStringConvertible {
    /// The flags before the query.
    public var before: DebugFlags
    /// The flags the query left.
    public var after: DebugFlags

    public init(before: DebugFlags, after: DebugFlags) {
      self.before = before
      self.after = after
    }

    /// `=_ -> =pt`.
    public var description: String { "=\(before) -> =\(after)" }
  }

  /// What ``restore(_:)`` did, by key name (each list in name order).
  public struct Restoration: Sendable, Hashable, CustomStringConvertible {
    /// Statements put back to their flags before the query, `p` and
    /// decorations.
    public var restored: [String] = []
    /// Statements whose flags are no longer those the query left (someone
    /// changed them since): left alone.
    public var changedSince: [String] = []
    /// Statements no loaded image declares any more (their library was
    /// unloaded), or names that are not a statement's key: nothing to do.
    public var gone: [String] = []
    /// Statements the restore switched on / off.
    public var enabled = 0, disabled = 0

    public init() {}

    public var description: String {
      "restored \(restored.count) (\(enabled) on, \(disabled) off), \(changedSince.count) changed since, \(gone.count) gone"
    }
  }

  /// Puts back the flags a query changed (its ``Result/flagChanges``):
  /// every statement whose flags are still those the query left gets back
  /// the flags it had before, `p` and decorations; a statement changed
  /// again since (by anyone) is left alone, and listed as such.
  ///
  /// The `p` changes are one batch each way (off first, then on), as
  /// ``apply(_:)-(String)`` switches them; the decorations follow once both
  /// batches are done. All or nothing: if a batch is refused (a
  /// statement's key held by someone else, a problem), the statements the
  /// off batch switched are switched back on, nothing changed, and the
  /// error is thrown.
  @discardableResult
  public static func restore(_ changes: [String: FlagChange]) throws(DynamicDebugError) -> Restoration {
    var result = Restoration()
    let now = Dictionary(statements().map { ($0.keyName, $0.flags) }, uniquingKeysWith: { a, _ in a })
    var on: [String] = [], off: [String] = [], decorations: [String: DebugFlags] = [:]
    for (name, change) in changes.sorted(by: { $0.key < $1.key }) where change.before != change.after {
      guard let flags = now[name] else { result.gone.append(name); continue }
      guard flags == change.after else { result.changedSince.append(name); continue }
      result.restored.append(name)
      if change.before.contains(.print) && !flags.contains(.print) { on.append(name) }
      if !change.before.contains(.print) && flags.contains(.print) { off.append(name) }
      if change.before.decorations != flags.decorations { decorations[name] = change.before }
    }
    do {
      if !off.isEmpty { try StaticKeys.set(names: off, enabled: false) }
    } catch {
      throw .control(error)
    }
    do {
      if !on.isEmpty { try StaticKeys.set(names: on, enabled: true) }
    } catch {
      // All or nothing: what the off batch switched goes back on first.
      if !off.isEmpty { _ = try? StaticKeys.set(names: off, enabled: true) }
      throw .control(error)
    }
    DebugFlagState.set(decorations)
    DebugFlagState.noteExplicit(on: on.filter(isLoggingSite), off: off.filter(isLoggingSite))
    result.enabled = on.count
    result.disabled = off.count
    return result
  }
}
