import Glibc
import JumpLabel

/// The negative control: what a naive user-space patcher does. mprotect the
/// page writable (and still executable), copy the new bytes one at a time,
/// mprotect back. No int3, no core sync, no lock. Other threads can execute
/// a half-written instruction, or stale bytes after the copy. It exists only
/// in the stress tool, to prove that the stress test catches a broken
/// patcher.
package enum NaivePatcher {
  package static func set(_ key: StaticKey, _ enabled: Bool) throws {
    let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
    for site in try StaticKeys.sites(named: key.nameString) {
      let bytes = site.expectedBytes(enabled: enabled)
      let start = site.address & ~(page - 1)
      let len = Int((site.address + 5 - start + page - 1) / page * page)
      let p = UnsafeMutableRawPointer(bitPattern: start)!
      guard mprotect(p, len, PROT_READ | PROT_WRITE | PROT_EXEC) == 0 else { throw NaiveError.mprotect(errno) }
      let dst = UnsafeMutablePointer<UInt8>(bitPattern: site.address)!
      for i in 0..<5 { dst[i] = bytes[i] }
      guard mprotect(p, len, PROT_READ | PROT_EXEC) == 0 else { throw NaiveError.mprotect(errno) }
    }
  }

  package enum NaiveError: Error { case mprotect(Int32) }
}
