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
    /// A greeted connection that neither sends nor takes a byte for this
    /// long is closed (the welcome tells clients, which send `ping` to
    /// keep a `--hold` lease or a quiet trace open). nil: never.
    public var idleTimeout: Duration? = .seconds(60)
    /// Replies queued for one connection beyond this many bytes stop the
    /// server from reading that connection's requests until it reads its
    /// replies (a trace stops draining its ring: its oldest events are
    /// overwritten and counted as dropped).
    public var outputLimit = 1 << 20
    /// The memory of all trace buffers of this server together, in bytes:
    /// a trace gets a smaller buffer than it asked for (said in its
    /// `traceStartedPart`) or, when not even ``minTraceBufferEvents`` fit,
    /// a clear error.
    public var traceMemoryLimit = 64 << 20
    /// Tests only: the socket file's mode (0600 otherwise), to reach the
    /// SO_PEERCRED check from another user.
    @_spi(Testing) public var _socketMode: mode_t = 0o600
    /// Tests only: skip the directory checks (with a world-traversable
    /// directory, for the same purpose).
    @_spi(Testing) public var _skipDirectoryChecks = false
    /// Tests only: defences turned off, so that a test can show the attack
    /// it stops succeeding (its negative control).
    @_spi(Testing) public var _disabledDefences: Set<ControlDefence> = []
    /// Tests only: the end of a `ctl debug --ttl/--hold` lease puts back
    /// only the statements' `p` flag, not their decorations (the old
    /// behaviour), so that a test can show its check failing.
    @_spi(Testing) public var _debugLeaseRestoresOnlyPrint = false

    public init() {}
  }

  /// Starts the server; returns its socket's path. Throws if the
  /// directory fails its checks or the socket cannot be made; throws
  /// `alreadyRunning` if it runs already.
  @discardableResult
  public static func start(_ options: Options = Options()) throws(ControlError) -> String {
    try ControlServer.start(options)
  }

  /// A trace is refused when fewer events than this fit in what is left
  /// of ``Options/traceMemoryLimit``.
  public static let minTraceBufferEvents = 256
  /// The largest trace buffer a client may ask for, in events.
  public static let maxTraceBufferEvents = 65_536
  /// Bytes of event payload a trace buffer's slot holds (longer payloads
  /// are cut and reported as truncated).
  public static let tracePayloadBytes = 1024

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

/// Tests only: the defences a test can turn off to show that its attack
/// succeeds without them (the negative controls of ControlSecurityTests).
@_spi(Testing) public enum ControlDefence: String, Sendable, Hashable, CaseIterable {
  /// Server: replies in parts (off: each reply in one message).
  case replyParts
  /// Server: refuse names with control characters or over the length bound.
  case nameCheck
  /// Server: escape the audit log's lines.
  case auditEscaping
  /// Server: stop reading a connection whose replies are not read.
  case outputLimit
  /// Server and client: only remove stale sockets of this pid namespace.
  case namespaceCheck
  /// Client: check directories, socket owners and the welcome.
  case peerChecks
  /// Client: clean up through a directory descriptor opened without
  /// following a symbolic link.
  case safeCleanup
}

/// Tests only: the defences of the client side that are off in this
/// process (the server takes its own from its options).
@_spi(Testing) public enum ControlTesting {
  private static let disabled = Mutex<Set<ControlDefence>>([])
  public static var disabledDefences: Set<ControlDefence> {
    get { disabled.withLock { $0 } }
    set { disabled.withLock { $0 = newValue } }
  }
  static func isOn(_ d: ControlDefence) -> Bool { !disabledDefences.contains(d) }
}
