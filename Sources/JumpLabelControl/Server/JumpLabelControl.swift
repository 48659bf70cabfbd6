import CJumpLabelControl
import Glibc
import JumpLabel
import Synchronization

/// Live control of this process from outside: `jumplabel ctl`.
///
/// ```swift
/// try JumpLabelControl.start()   // or run the program with JUMPLABEL_CONTROL=1
/// ```
///
/// One thread ("jumplabel-ctl") listens on a Unix socket in a directory
/// only this user can enter (``SocketDirectory``), and sleeps in `poll`
/// when nobody talks to it. Every connection is checked with SO_PEERCRED:
/// the same user, or root; anyone else is refused and the refusal logged.
/// Every change made through the socket is written to the audit log.
/// No TCP, no abstract socket.
public enum JumpLabelControl {
  /// How the server runs.
  public struct Options: Sendable {
    /// The socket directory; default: the first of
    /// ``SocketDirectory/candidates(uid:xdgRuntimeDir:)``.
    public var directory: String?
    /// Where changes and refusals are logged.
    public var auditLog: AuditDestination = .standardError
    /// Connections served at once; more are refused ("busy").
    public var maxConnections = 64
    /// How long a client may take to send a whole message once it began
    /// one, and to say hello after connecting.
    public var requestTimeout: Duration = .seconds(5)
    /// Refuse every request that would change something.
    public var readOnly = false
    /// Tests only: the socket file's mode (0600 otherwise), to reach the
    /// SO_PEERCRED check from another user.
    public var _socketMode: mode_t = 0o600
    /// Tests only: skip the directory checks (with a world-traversable
    /// directory, for the same purpose).
    public var _skipDirectoryChecks = false

    public init() {}
  }

  /// Starts the server; returns its socket's path. Throws if the
  /// directory fails its checks or the socket cannot be made; throws
  /// `alreadyRunning` if it runs already.
  @discardableResult
  public static func start(_ options: Options = Options()) throws(ControlError) -> String {
    try ControlServer.start(options)
  }

  /// The socket's path while the server runs.
  public static var socketPath: String? { ControlServer.current?.path }

  /// Stops the server: closes every connection (reverting `--hold`
  /// changes), detaches traces, removes the socket.
  public static func stop() { ControlServer.stopCurrent() }
}

/// The autostart entry (JUMPLABEL_CONTROL=1), called once from C
/// (Sources/CJumpLabelControl/autostart.c) at start-up. It only creates
/// the thread; the socket is made on that thread, so start-up never waits.
@_cdecl("jl_control_autostart_entry")
func jl_control_autostart_entry() {
  ControlServer.spawn { () -> Void in
    do {
      try ControlServer.start(JumpLabelControl.Options(), onThisThread: true)
    } catch {
      let msg = "jumplabel-control: JUMPLABEL_CONTROL=1 but the server could not start: \(error)\n"
      _ = msg.withCString { write(2, $0, strlen($0)) }
    }
  }
}
