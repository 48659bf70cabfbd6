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

  /// The flags the start-up query (and, for a logging call site, the live
  /// levels) give the statement whose key is `name`, or nil if it is not a
  /// statement or nothing decides it. Called when the
  /// key's record is created (registry lock held): stores the decorations,
  /// and the caller sets the key's state from `.print` before any site is
  /// patched or read.
  static func flags(forNewKey name: String) -> DebugFlags? {
    guard name.hasPrefix(DebugStatement.keyPrefix), let s = DebugStatement(keyName: name) else { return nil }
    var flags: DebugFlags = []
    var decided = false
    // A logging call site starts as its live level says (LiveLogLevels),
    // then the start-up query may change it, as for any statement.
    if let on = LiveLogLevels.startsOn(s) {
      decided = true
      if on { flags.insert(.print) }
    }
    for c in query?.commands ?? [] where c.matches(s) {
      decided = true
      flags = c.apply(to: flags)
    }
    guard decided else { return nil }
    DebugFlagState.set([name: flags])
    return flags
  }
}

/// Called from a constructor when `JUMPLABEL_DYNDBG` or `JUMPLABEL_LOG` is
/// set (CJumpLabel/dyndbg_boot.c): indexes the loaded images now, in the
/// primary, so that the variables apply before main. In another runtime
/// copy this only asks the primary, which has indexed already.
@_cdecl("jl_rt_dyndbg_boot")
func jl_rt_dyndbg_boot() {
  _ = StaticKeys.images()
}
