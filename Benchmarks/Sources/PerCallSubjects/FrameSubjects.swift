// The dense-logging workload of #19 (swift-log #377's situation): a decoder
// of small frames with a trace statement per frame. One call decodes one
// frame; the variants differ only in the statement.
import JumpLabel
import JumpLabelLogging
import Logging

/// 64 frames of 16 bytes: a 2-byte type, a 2-byte length, 12 bytes of
/// payload. Decoding one reads them all and folds a checksum.
public let frames: [UInt8] = (0..<(64 * 16)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
nonisolated(unsafe) var frameIndex = 0
/// The checksums so far (kept, so that the decode is not optimised away).
nonisolated(unsafe) public var frameChecksum = 0

@inline(__always)
func decodeFrame() -> (type: Int, length: Int, sum: Int) {
  let base = (frameIndex & 63) &* 16
  frameIndex &+= 1
  return frames.withUnsafeBufferPointer { f in
    let type = Int(f[base]) << 8 | Int(f[base + 1])
    let length = Int(f[base + 2]) << 8 | Int(f[base + 3])
    var sum = 0
    for i in 4..<16 { sum = sum &* 31 &+ Int(f[base + i]) }
    return (type, length, sum)
  }
}

/// 16. A frame, no logging.
@inline(never)
public func framePlain() {
  let f = decodeFrame()
  frameChecksum &+= f.sum
}

/// 17. A frame with a `debug(...)` statement that is off.
@inline(never)
public func frameDyndbg() {
  let f = decodeFrame()
  debug("frame type \(f.type) length \(f.length)")
  frameChecksum &+= f.sum
}

/// 18. A frame with `logger.live.trace` below its live level.
@inline(never)
public func frameLiveTrace(_ logger: Logger) {
  let f = decodeFrame()
  logger.live.trace("frame", metadata: ["type": "\(f.type)", "length": "\(f.length)"])
  frameChecksum &+= f.sum
}

/// 19. A frame with swift-log's `trace` below the level (compiled out
/// with swift-log's trait MaxLogLevelDebug or higher).
@inline(never)
public func frameSwiftLogTrace(_ logger: Logger) {
  let f = decodeFrame()
  logger.trace("frame", metadata: ["type": "\(f.type)", "length": "\(f.length)"])
  frameChecksum &+= f.sum
}
