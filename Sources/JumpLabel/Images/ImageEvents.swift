import CJumpLabel

/// What the registry does when an image with sites is loaded or unloaded
/// after it started. Both run from the image's hooks (jumplabel_site.h),
/// inside `dlopen` / `dlclose`, with the loader's lock held: outermost in
/// the lock order, so they may take the registry and patch locks.
extension KeyRegistry {
  /// The image whose site note is at `note` was just loaded; its other
  /// constructors have not run yet, and `dlopen` has not returned, so none
  /// of its code has run a site. Index it and make its sites follow the
  /// current key states now.
  func imageLoaded(note: UnsafeRawPointer) {
    if KeyRegistry.hasFault(.ignoreLoads) { return }
    ensureLoaded()  // the first walk may already have found this image
    // Loader work first, with none of our locks held.
    guard let t = SiteTable.readImage(note: note) else { return }
    rescanForeign()
    // The image is initialising (this is its first constructor), its
    // dependencies are initialised: pinning it runs no constructor.
    let pinned = LoaderCalls.holdsSwift(t) && LoaderCalls.pin(t.image)
    _ = lock.withLockUnlessReentrant { index(t, pinned: pinned) }
  }

  /// The image whose site note is at `note` is about to be unmapped (its
  /// other destructors have run). Forget its sites.
  func imageUnloading(note: UnsafeRawPointer) {
    if KeyRegistry.hasFault(.ignoreUnloads) { return }
    let h = note.assumingMemoryBound(to: UInt32.self)
    guard let (start, _) = SiteTable.tableBounds(type: h[2], desc: note + 24, descsz: h[1]) else { return }
    _ = lock.withLockUnlessReentrant { unindex(table: start) }
  }
}
