import Synchronization

/// The flags of a statement, as the kernel's dynamic debug has them: `p`
/// prints (the statement's key is on); the others are decorations of the
/// printed line and patch nothing.
public struct DebugFlags: OptionSet, Sendable, Hashable, CustomStringConvertible {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  /// `p`: print.
  public static let print = DebugFlags(rawValue: 1)
  /// `t`: the thread id.
  public static let thread = DebugFlags(rawValue: 2)
  /// `m`: the module.
  public static let module = DebugFlags(rawValue: 4)
  /// `f`: the function.
  public static let function = DebugFlags(rawValue: 8)
  /// `s`: the source file.
  public static let source = DebugFlags(rawValue: 16)
  /// `l`: the line.
  public static let line = DebugFlags(rawValue: 32)

  /// The letters, in the kernel's order.
  static let letters: [(Character, DebugFlags)] = [("p", .print), ("t", .thread), ("m", .module), ("f", .function), ("s", .source), ("l", .line)]

  /// The letters set, or "_" for none (the control file's form).
  public var description: String {
    let s = String(Self.letters.filter { contains($0.1) }.map(\.0))
    return s.isEmpty ? "_" : s
  }

  /// Decorations only.
  var decorations: DebugFlags { subtracting(.print) }
}

/// The decorations of every statement, by key name. The `p` flag is not
/// kept here: it is the statement's key. A leaf lock: taken under the
/// registry lock (start-up queries) and never around anything else.
enum DebugFlagState {
  private static let decorations = Mutex<[String: DebugFlags]>([:])
  /// Logging call sites a query switched on (LiveLogLevels._prints).
  private static let explicit = Mutex<Set<String>>([])

  /// Records logging call sites a query switched on or off.
  static func noteExplicit(on: [String], off: [String]) {
    explicit.withLock { e in
      for n in on { e.insert(n) }
      for n in off { e.remove(n) }
    }
  }

  /// A query switched this logging call site on.
  static func isExplicit(_ name: String) -> Bool { explicit.withLock { $0.contains(name) } }

  /// The decorations of the statement whose key is `name`.
  static func flags(of name: String) -> DebugFlags { decorations.withLock { $0[name] ?? [] } }

  /// Sets the decorations of the statements whose keys are `names`.
  static func set(_ flags: [String: DebugFlags]) {
    decorations.withLock { d in
      for (name, f) in flags { d[name] = f.decorations.isEmpty ? nil : f.decorations }
    }
  }
}
