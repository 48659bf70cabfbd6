import CTextPoke
import Glibc

/// How the engine writes into the text of this process.
public enum CodeWriterKind: String, Sendable, CustomStringConvertible {
  /// `pwrite` to `/proc/self/mem` at the code address. Page protections
  /// never change; the kernel writes through its own mapping.
  case procSelfMem = "/proc/self/mem"
  /// `mprotect` the page to its original protection plus write, copy, and
  /// restore the original protection. Never removes execute permission.
  case mprotectWindow = "mprotect window"

  public var description: String { rawValue }
}

/// The writer in use. All methods are called under the patch lock.
struct CodeWriter {
  private(set) var kind: CodeWriterKind
  private var fd: Int32

  /// Chooses a writer by trying it on `probe`: writes back the byte that is
  /// already there, which changes nothing whether it succeeds or not.
  static func open(probe: UInt, allowProcSelfMem: Bool = true) throws(TextPokeError) -> CodeWriter {
    var reasons: [String] = []
    let fd = allowProcSelfMem ? Glibc.open("/proc/self/mem", O_RDWR | O_CLOEXEC) : -1
    if !allowProcSelfMem {
      reasons.append("/proc/self/mem disabled by fault injection")
    } else if fd >= 0 {
      var w = CodeWriter(kind: .procSelfMem, fd: fd)
      let current = UnsafePointer<UInt8>(bitPattern: probe)!.pointee
      if w.write([current], at: probe) == 0 { return w }
      reasons.append("/proc/self/mem write refused (\(String(cString: strerror(errno))))")
      close(fd)
    } else if allowProcSelfMem {
      reasons.append("/proc/self/mem cannot be opened (\(String(cString: strerror(errno))))")
    }
    var w = CodeWriter(kind: .mprotectWindow, fd: -1)
    let current = UnsafePointer<UInt8>(bitPattern: probe)!.pointee
    let e = w.write([current], at: probe)
    if e == 0 { return w }
    reasons.append("mprotect window refused (\(String(cString: strerror(e))))")
    throw .writerUnavailable(reason: reasons.joined(separator: "; "))
  }

  /// The mprotect window writer, without probing (the caller checks the
  /// result of each write).
  static var window: CodeWriter { CodeWriter(kind: .mprotectWindow, fd: -1) }

  /// The /proc/self/mem descriptor, if that is the writer.
  var procSelfMemFD: Int32? { kind == .procSelfMem ? fd : nil }

  /// Writes `bytes` at `address`. Returns 0 or an errno value. On failure
  /// the protection of every page is what it was before the call.
  mutating func write(_ bytes: [UInt8], at address: UInt) -> Int32 {
    bytes.withUnsafeBytes { write($0, at: address) }
  }

  /// Writes `bytes` at `address` (no allocation through /proc/self/mem).
  mutating func write(_ bytes: UnsafeRawBufferPointer, at address: UInt) -> Int32 {
    switch kind {
    case .procSelfMem:
      let n = pwrite(fd, bytes.baseAddress, bytes.count, off_t(Int64(bitPattern: UInt64(address))))
      if n == bytes.count { return 0 }
      return n < 0 ? errno : EIO
    case .mprotectWindow:
      return mprotectWrite(Array(bytes), at: address)
    }
  }

  /// Closes an inherited /proc/self/mem descriptor in a forked child: it
  /// still refers to the parent's memory, so a write through it would patch
  /// the parent. The child opens its own at its next batch.
  func closeInForkedChild() {
    if fd >= 0 { close(fd) }
  }

  private func mprotectWrite(_ bytes: [UInt8], at address: UInt) -> Int32 {
    var err: Int32 = 0
    guard var window = WriteWindow.open([(address, bytes.count)], error: &err) else { return err }
    window.store(bytes, at: address)
    window.close()
    return 0
  }
}
