import JumpLabel
import Logging
import Synchronization
import Tracepoints

/// The checks whose per-call cost is measured, by the names the
/// `InstructionCounts` executable and Scripts/instruction-counts use.
public enum Variant: String, CaseIterable, Sendable {
  /// ``disabledKeySite()``
  case disabledKey = "disabled-key"
  /// ``enabledKeySite()``
  case enabledKey = "enabled-key"
  /// ``globalBoolCheck()``
  case globalBool = "global-bool"
  /// ``atomicRelaxedCheck()``
  case atomicRelaxed = "atomic-relaxed"
  /// ``swiftLogTrace(_:)``
  case swiftLogTrace = "swift-log-trace"
  /// ``optionalHookCall()``
  case optionalHook = "optional-hook"
  /// ``fallbackRead()``
  case fallbackRead = "fallback-read"
  /// ``emptyCall()``
  case emptyCall = "empty-call"
  /// ``tracepointRingEmit()``
  case tracepointRing = "tracepoint-ring"
  /// ``tracepointDisabledEmit()``
  case tracepointDisabled = "tracepoint-disabled"
  /// ``disabledDebugStatement()``
  case dyndbgDisabled = "dyndbg-disabled"
  /// ``liveDebugDisabled(_:)``
  case liveDebugDisabled = "live-debug-disabled"
  /// ``swiftLogDebug(_:)``
  case swiftLogDebug = "swift-log-debug"
  /// ``swiftLogInfoEnabled(_:)``
  case swiftLogInfoEnabled = "swift-log-info-enabled"
  /// ``liveInfoEnabled(_:)``
  case liveInfoEnabled = "live-info-enabled"
  /// ``framePlain()``
  case framePlain = "frame-plain"
  /// ``frameDyndbg()``
  case frameDyndbg = "frame-dyndbg"
  /// ``frameLiveTrace(_:)``
  case frameLiveTrace = "frame-live-trace"
  /// ``frameSwiftLogTrace(_:)``
  case frameSwiftLogTrace = "frame-swift-log-trace"

  /// One line on what the variant's function does per call.
  public var summary: String {
    switch self {
    case .disabledKey: "disabled static-key site (NOP)"
    case .enabledKey: "enabled static-key site (JMP + guarded call)"
    case .globalBool: "plain global Bool (load, test, branch)"
    case .atomicRelaxed: "Atomic<Bool>.load(.relaxed)"
    case .swiftLogTrace: "swift-log trace below level (.info)"
    case .optionalHook: "optional closure hook, nil"
    case .fallbackRead: "static key through opaque(): runtime fallback read"
    case .emptyCall: "empty non-inlined call (floor)"
    case .tracepointRing: "tracepoint emit into RingBufferSink"
    case .tracepointDisabled: "tracepoint emit, never attached (NOP)"
    case .dyndbgDisabled: "debug(...) statement, off (NOP)"
    case .liveDebugDisabled: "logger.live.debug below its live level (NOP)"
    case .swiftLogDebug: "swift-log debug below level (.info); compiled out with MaxLogLevelInfo"
    case .swiftLogInfoEnabled: "swift-log info, enabled, to a counting handler"
    case .liveInfoEnabled: "logger.live.info, enabled, to the same counting handler"
    case .framePlain: "decode one 16-byte frame, no logging"
    case .frameDyndbg: "decode one frame + debug(...) off"
    case .frameLiveTrace: "decode one frame + logger.live.trace with metadata, off"
    case .frameSwiftLogTrace: "decode one frame + swift-log trace with metadata, below level"
    }
  }
}

/// One-time preparation of the variants: keys to enable, sinks to attach.
public enum PerCallSetup {
  /// The ring buffer attached to ``Tracepoint/benchRing`` and its probe,
  /// kept for the life of the process.
  private static let attachedRing = Mutex<(RingBufferSink, ProbeHandle)?>(nil)

  /// Prepares `variant`: enables the enabled key, attaches the ring buffer
  /// sink (once; later calls change nothing), and makes one warm-up call so
  /// that first-call work (a fallback cache fill, lazy globals) happens
  /// before any measurement.
  public static func prepare(_ variant: Variant, logger: Logger) throws {
    switch variant {
    case .enabledKey:
      try StaticKey.benchEnabled.enable()
    case .tracepointRing:
      try attachedRing.withLock { state in
        if state == nil {
          // The default capacity (4,096 records of 128 bytes: 512 KiB, cache-sized); a
          // 64 Ki-record ring (8 MiB) makes every emit a cache miss to memory.
          let ring = try RingBufferSink(capacity: 4096, payloadCapacity: 64)
          state = (ring, try Tracepoint.benchRing.attach(ring))
        }
      }
    default:
      break
    }
    callOnce(variant, logger: logger)
  }

  /// Events the ring buffer has taken so far (0 before it is attached).
  public static var ringWritten: Int {
    attachedRing.withLock { $0?.0.written ?? 0 }
  }

  /// A logger at level `.info` with swift-log's default handler (a
  /// `StreamLogHandler` on standard output unless the process bootstrapped
  /// another one), so that `trace` is below its level.
  public static func makeLogger() -> Logger {
    var logger = Logger(label: "jumplabel.benchmarks")
    logger.logLevel = .info
    return logger
  }

  /// Calls `variant`'s function `n` times in a loop (SideBySide's
  /// measured loop). Each case is its own loop, so that the call in it is
  /// direct, as in InstructionCounts.
  @inline(never)
  public static func loop(_ variant: Variant, _ n: Int, logger: Logger) {
    switch variant {
    case .disabledKey: for _ in 0..<n { disabledKeySite() }
    case .enabledKey: for _ in 0..<n { enabledKeySite() }
    case .globalBool: for _ in 0..<n { globalBoolCheck() }
    case .atomicRelaxed: for _ in 0..<n { atomicRelaxedCheck() }
    case .swiftLogTrace: for _ in 0..<n { swiftLogTrace(logger) }
    case .optionalHook: for _ in 0..<n { optionalHookCall() }
    case .fallbackRead: for _ in 0..<n { fallbackRead() }
    case .emptyCall: for _ in 0..<n { emptyCall() }
    case .tracepointRing: for _ in 0..<n { tracepointRingEmit() }
    case .tracepointDisabled: for _ in 0..<n { tracepointDisabledEmit() }
    case .dyndbgDisabled: for _ in 0..<n { disabledDebugStatement() }
    case .liveDebugDisabled: for _ in 0..<n { liveDebugDisabled(logger) }
    case .swiftLogDebug: for _ in 0..<n { swiftLogDebug(logger) }
    case .swiftLogInfoEnabled: for _ in 0..<n { swiftLogInfoEnabled(countingLogger) }
    case .liveInfoEnabled: for _ in 0..<n { liveInfoEnabled(countingLogger) }
    case .framePlain: for _ in 0..<n { framePlain() }
    case .frameDyndbg: for _ in 0..<n { frameDyndbg() }
    case .frameLiveTrace: for _ in 0..<n { frameLiveTrace(logger) }
    case .frameSwiftLogTrace: for _ in 0..<n { frameSwiftLogTrace(logger) }
    }
  }

  /// Calls `variant`'s function once (outside of any measured loop).
  public static func callOnce(_ variant: Variant, logger: Logger) {
    switch variant {
    case .disabledKey: disabledKeySite()
    case .enabledKey: enabledKeySite()
    case .globalBool: globalBoolCheck()
    case .atomicRelaxed: atomicRelaxedCheck()
    case .swiftLogTrace: swiftLogTrace(logger)
    case .optionalHook: optionalHookCall()
    case .fallbackRead: fallbackRead()
    case .emptyCall: emptyCall()
    case .tracepointRing: tracepointRingEmit()
    case .tracepointDisabled: tracepointDisabledEmit()
    case .dyndbgDisabled: disabledDebugStatement()
    case .liveDebugDisabled: liveDebugDisabled(logger)
    case .swiftLogDebug: swiftLogDebug(logger)
    case .swiftLogInfoEnabled: swiftLogInfoEnabled(countingLogger)
    case .liveInfoEnabled: liveInfoEnabled(countingLogger)
    case .framePlain: framePlain()
    case .frameDyndbg: frameDyndbg()
    case .frameLiveTrace: frameLiveTrace(logger)
    case .frameSwiftLogTrace: frameSwiftLogTrace(logger)
    }
  }
}
