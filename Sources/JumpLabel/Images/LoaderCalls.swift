import CJumpLabel
import TextPoke

/// The runtime's calls into the dynamic loader, and the check that enforces
/// the lock order (KeyRegistry.swift): the loader's lock is outermost, so no
/// loader call may be made while the registry or patch lock is held.
enum LoaderCalls {
  /// Traps if the calling thread holds the registry or the patch lock. A
  /// loader call there could deadlock against a `dlopen` whose load hook is
  /// waiting for that lock; crashing with this message is better than a
  /// hang nobody can explain.
  static func mayCallLoader(_ function: StaticString = #function) {
    // fatalError, not precondition: its message survives -O.
    if OwnedLock.anyHeldByCurrentThread {
      fatalError("JumpLabel: \(function) would call the dynamic loader while holding the registry or patch lock (lock order violation)")
    }
  }

  /// Returns once no other thread is inside dlopen or dlclose.
  static func waitForLoader() {
    mayCallLoader()
    jl_wait_for_loader()
  }

  /// True if the image holds Swift code or is registered with the Swift
  /// runtime, so that it must never be unloaded. Reads its file.
  static func holdsSwift(_ t: ImageTable) -> Bool {
    if t.image == SiteTable.mainProgram { return true }
    switch jl_file_holds_swift(t.image) {
    case 0: return false
    case 1: return true
    default: return t.linksSwiftCore  // unreadable file: conservative
    }
  }

  /// Makes the image at `path` permanent (RTLD_NODELETE); false if it
  /// could not be.
  static func pin(_ path: String) -> Bool {
    mayCallLoader()
    return path == SiteTable.mainProgram || jl_pin_image(path) != 0
  }
}
