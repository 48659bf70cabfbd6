import Glibc

/// What a test needs from the machine (a tool from Debian, root), and
/// what happens when it is missing.
///
/// By default a check whose tool is missing is skipped, and says so in
/// the test output ("skipped: gdb is not installed..."). With
/// `JUMPLABEL_REQUIRE_ALL_CHECKS=1` (set by Scripts/test when it runs as
/// root, and so in CI) nothing may be skipped: the test runs and fails,
/// naming what is missing.
public enum TestRequirements {
  /// True when every check must run.
  public static var strict: Bool {
    guard let v = getenv("JUMPLABEL_REQUIRE_ALL_CHECKS") else { return false }
    return String(cString: v) == "1"
  }

  /// The path of `tool` in /usr/bin, /bin, /usr/sbin or /sbin, or nil.
  public static func path(of tool: String) -> String? {
    for dir in ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"] {
      let p = "\(dir)/\(tool)"
      if access(p, X_OK) == 0 { return p }
    }
    return nil
  }

  /// Whether a test that needs `tool` should run: it is there, or nothing
  /// may be skipped.
  public static func shouldRun(needing tool: String) -> Bool { path(of: tool) != nil || strict }

  /// The skip message for a missing tool.
  public static func missing(_ tool: String, package: String? = nil, for what: String) -> String {
    "\(tool) is not installed (apt-get install \(package ?? tool), or run Scripts/test as root): \(what) was NOT checked"
  }

  /// True when running as root.
  public static var isRoot: Bool { geteuid() == 0 }
}
