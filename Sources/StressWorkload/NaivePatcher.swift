import Glibc
import JumpLabel

/// The negative control: what a naive user-space patcher does. mprotect the
/// page writable (and still executable), copy the new bytes one at a time,
/// mprotect back. No int3, no core sync, no lock.
///
/// To make it fail for certain rather than by luck, it pauses between two
/// bytes (`pause` µs) while the workers run every site in a loop: each torn
/// instruction (a jump whose displacement is half the old NOP's bytes, a NOP
/// whose ModRM byte now comes from the jump) is executed thousands of
/// times. Whatever that does (a crash, a hang, a wrong branch) the stress
/// test must report FAIL. It exists only to prove that the test can fail.
package enum NaivePatcher {
  /// Microseconds between two bytes of one site.
  package static let pause: UInt32 = 200

  package static func set(_ key: StaticKey, _ enabled: Bool) throws {
    let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
    for site in try StaticKeys.sites(named: key.nameString) {
      let bytes = site.expectedBytes(enabled: enabled)
      let start = site.address & ~(page - 1)
      let len = Int((site.address + 5 - start + page - 1) / page * page)
      let p = UnsafeMutableRawPointer(bitPattern: start)!
      guard mprotect(p, len, PROT_READ | PROT_WRITE | PROT_EXEC) == 0 else { throw NaiveError.mprotect(errno) }
      let dst = UnsafeMutablePointer<UInt8>(bitPattern: site.address)!
      for i in 0..<5 {
        dst[i] = bytes[i]
        if i < 4 { usleep(pause) }
      }
      guard mprotect(p, len, PROT_READ | PROT_EXEC) == 0 else { throw NaiveError.mprotect(errno) }
    }
  }

  package enum NaiveError: Error { case mprotect(Int32) }
}
