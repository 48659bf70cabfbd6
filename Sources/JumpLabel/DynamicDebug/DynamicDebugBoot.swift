import Glibc

/// `JUMPLABEL_DYNDBG`: a query applied to every statement when its key is
/// first declared, that is, when the image that holds it is indexed (at
/// start-up, or inside the `dlopen` of a library loaded later, before any
/// of its code runs) or when unoptimised code first runs it. The kernel's
/// `dyndbg=` boot parameter, and `module.dyndbg=` for later modules.
enum DynamicDebugBoot {
  /// The parsed variable; nil if unset. A syntax error is reported once on
  /// stderr and the variable ignored (a bad variable must not stop the
  /// program).
  static let query: DebugQuery? = {
    guard let raw = getenv("JUMPLABEL_DYNDBG") else { return nil }
    let text = String(cString: raw)
    do {
      return try DebugQuery(text)
    } catch {
      let line = "JumpLabel: JUMPLABEL_DYNDBG ignored: \(error)\n"
      _ = line.withCString { write(2, $0, strlen($0)) }
      return nil
    }
  }()

  /// The flags the start-up query gives the statement whose key is `name`,
  /// or nil if it is not a statement or nothing matches it. Called when the
  /// key's record is created (registry lock held): stores the decorations,
  /// and the caller sets the key's state from `.print` before any site is
  /// patched or read.
  static func flags(forNewKey name: String) -> DebugFlags? {
    guard name.hasPrefix(DebugStatement.keyPrefix), let query, let s = DebugStatement(keyName: name) else { return nil }
    var flags: DebugFlags = []
    var matched = false
    for c in query.commands where c.matches(s) {
      matched = true
      flags = c.apply(to: flags)
    }
    guard matched else { return nil }
    DebugFlagState.set([name: flags])
    return flags
  }
}
