import CTextPoke
import Glibc

/// "Synchronise all cores" in user space:
/// `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE)`.
///
/// When the call returns, every thread of this process that was running on
/// another CPU has taken an interrupt and executed a core-serialising
/// instruction before returning to user space, and every thread that was
/// not running will serialise when it is next scheduled. So no thread can
/// still execute instruction bytes it fetched before the call. This is the
/// user-space analogue of the kernel's `on_each_cpu(sync_core)` (the seed's
/// `sync_core_all()`), and like it, it is also a full memory barrier on
/// every thread of the process.
///
/// Linux before 5.10 did not reliably serialise the calling thread or remote
/// cores with this command (fixes e45cdc71d1fa, 758c9373d841); on such
/// kernels the guarantee is weaker than stated here.
enum CoreSync {
  static let query: Int32 = 0
  static let privateExpeditedSyncCore: Int32 = 1 << 5
  static let registerPrivateExpeditedSyncCore: Int32 = 1 << 6

  /// Registers the process once. Membarrier registration is inherited by
  /// fork() and cleared by exec(). Must be called under the patch lock.
  static func register() throws(TextPokeError) {
    let supported = tp_membarrier(query, 0, 0)
    if supported < 0 {
      throw .coreSyncUnavailable(reason: "membarrier(QUERY) failed: \(String(cString: strerror(errno)))")
    }
    let needed = Int(privateExpeditedSyncCore | registerPrivateExpeditedSyncCore)
    if supported & needed != needed {
      throw .coreSyncUnavailable(reason: "the kernel does not offer MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE (query mask 0x\(String(supported, radix: 16)))")
    }
    if tp_membarrier(registerPrivateExpeditedSyncCore, 0, 0) != 0 {
      throw .coreSyncUnavailable(reason: "membarrier(REGISTER_PRIVATE_EXPEDITED_SYNC_CORE) failed: \(String(cString: strerror(errno)))")
    }
  }

  /// One "sync all cores". Only fails if the registration was lost.
  static func syncAllCores() throws(TextPokeError) {
    if tp_membarrier(privateExpeditedSyncCore, 0, 0) != 0 {
      throw .coreSyncUnavailable(reason: "membarrier(PRIVATE_EXPEDITED_SYNC_CORE) failed: \(String(cString: strerror(errno)))")
    }
  }
}
