import CJumpLabel
import CJumpLabelSite
import Glibc
import TextPoke

// The C entry points of this copy's `jl_runtime` descriptor (runtime.c),
// through which other images and other runtime copies reach the primary.
// Each marks the thread before it touches a lock or a lazy global
// (ThreadMarks): the same rule as the Swift entry points.

/// A load or unload hook of an image with sites (loader's lock held). Not
/// a place a signal handler can reach (it runs inside dlopen/dlclose), but
/// a handler can interrupt it, so the thread is marked while it runs; it
/// nests inside an entry point of this runtime only through a fault
/// injection (a walk that dlopens), and then it runs as usual.
@_cdecl("jl_rt_image_event")
func jl_rt_image_event(_ event: UInt32, _ note: UnsafeRawPointer?) {
  guard let note else { return }
  let nested = ThreadMarks.add(ThreadMarks.client)
  defer { if !nested { ThreadMarks.leave(ThreadMarks.client) } }
  ProcessRuntime.settle()
  // Only the primary is ever asked; a copy that is not would pass it on.
  if let primary = ProcessRuntime.primary { return primary.pointee.image_event(event, note) }
  switch event {
  case JL_IMAGE_LOADED: KeyRegistry.shared.imageLoaded(note: note)
  case JL_IMAGE_UNLOADING: KeyRegistry.shared.imageUnloading(note: note)
  default: break
  }
}

/// A fallback read from another image: the key's count, with the
/// transient "enable in progress" (-1) reported as enabled. Re-entered on
/// a thread inside this runtime, it answers lock-free from the cache or
/// with the default, like `StaticKey._fallbackIsEnabled()`.
@_cdecl("jl_rt_read")
func jl_rt_read(_ name: UnsafeRawPointer?, _ length: Int64, _ dflt: Int32, _ flags: UInt32, _ dso: UnsafeRawPointer?) -> Int64 {
  guard let name, length >= 0 else { return dflt != 0 ? 1 : 0 }
  guard ThreadMarks.enter(ThreadMarks.client) else { return dflt != 0 ? 1 : 0 }
  defer { ThreadMarks.leave(ThreadMarks.client) }
  ProcessRuntime.settle()
  if let primary = ProcessRuntime.primary { return primary.pointee.read(name, length, dflt, flags, dso) }
  let record = FallbackCache.sharedReady.record(
    pointer: UInt(bitPattern: name), length: Int(length), defaultValue: dflt != 0,
    verifyName: flags & JL_READ_UNPINNED_NAME != 0)
  if flags & JL_READ_COUNT_HIT != 0 { record.fallbackHits.wrappingAdd(1, ordering: .relaxed) }
  if flags & JL_READ_OPTIMIZED_SITE != 0 { record.noteOptimizedFallback(from: UInt(bitPattern: dso)) }
  let count = record.count.load(ordering: .acquiring)
  return Int64(count < 0 ? 1 : count)
}

/// Any other call from another runtime copy: decode, perform, encode. The
/// reply is malloc'ed; the caller frees it through `free_reply`.
@_cdecl("jl_rt_call")
func jl_rt_call(_ request: UnsafeRawPointer?, _ length: Int, _ replyLength: UnsafeMutablePointer<Int>?) -> UnsafeMutableRawPointer? {
  var r = WireReader(Array(UnsafeRawBufferPointer(start: request, count: length)))
  var w = WireWriter()
  let decoded = RuntimeRequest.decode(&r)
  if ThreadMarks.enter(ThreadMarks.client) {
    defer { ThreadMarks.leave(ThreadMarks.client) }
    ProcessRuntime.settle()
    if let primary = ProcessRuntime.primary { return primary.pointee.call(request, length, replyLength) }
    decoded.performLocally().encode(&w)
  } else {
    RuntimeReply.failed(.reentrantControl(key: decoded.keyName)).encode(&w)
  }
  guard let out = malloc(max(w.bytes.count, 1)) else { return nil }
  w.bytes.withUnsafeBytes { if let base = $0.baseAddress { _ = memcpy(out, base, $0.count) } }
  replyLength?.pointee = w.bytes.count
  return out
}
