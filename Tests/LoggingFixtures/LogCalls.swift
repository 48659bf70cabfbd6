#if Logging
import JumpLabelLogging
import Logging

// Live logging call sites in an optimised module (real NOP sites). The
// tests know these lines: keep them, or update LoggingTests.

/// Logs at three levels per call.
public enum LogFixture {
  @inline(never)
  public static func work(_ logger: Logger, _ i: Int) {
    logger.live.trace("trace \(i)")
    logger.live.debug("debug \(i)", metadata: ["i": "\(i)"])
    logger.live.info("info \(i)", source: "custom-source")
  }
}
#endif
