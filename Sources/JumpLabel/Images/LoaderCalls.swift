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
    precondition(
      !OwnedLock.anyHeldByCurrentThread,
      "JumpLabel: \(function) would call the dynamic loader while holding the registry or patch lock (lock order violation)")
  }

  /// Makes the images in `paths` permanent (RTLD_NODELETE). Returns the
  /// paths that could not be pinned.
  static func pin(_ paths: [String]) -> [String] {
    mayCallLoader()
    return paths.filter { path in path == "<main program>" ? false : jl_pin_image(path) == 0 }
  }
}
