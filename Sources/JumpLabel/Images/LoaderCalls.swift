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

  /// The tables of a walk whose images are really loaded, each with
  /// whether it is now pinned (never unmapped). `dl_iterate_phdr` lists an
  /// image another thread is still loading, and that dlopen may yet fail
  /// and unmap it without running any hook; asking the loader again waits
  /// for it. Images that hold Swift code are pinned here.
  static func confirm(_ tables: [ImageTable]) -> [(table: ImageTable, pinned: Bool)] {
    mayCallLoader()
    return tables.compactMap { t in
      if t.image == "<main program>" { return (t, true) }
      return jl_confirm_loaded(t.image, t.holdsSwift ? 1 : 0) != 0 ? (t, t.holdsSwift) : nil
    }
  }

  /// Makes the image at `path` permanent (RTLD_NODELETE); false if it
  /// could not be.
  static func pin(_ path: String) -> Bool {
    mayCallLoader()
    return path == "<main program>" || jl_pin_image(path) != 0
  }
}
