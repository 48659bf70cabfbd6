// This copy of the runtime, as other images find it: a `jl_runtime`
// descriptor and a runtime note that points at it (see jumplabel_runtime_abi.h).
#define _GNU_SOURCE
#include "jumplabel_images.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>

// Swift entry points (Sources/JumpLabel/Runtime/RuntimeEntryPoints.swift).
// Declared hidden so that each copy's descriptor binds to its own Swift code
// even though another image may export the same names.
__attribute__((visibility("hidden"))) extern void jl_rt_image_event(uint32_t event, const void *note);
__attribute__((visibility("hidden"))) extern int64_t jl_rt_read(const void *name, int64_t len, int32_t dflt, uint32_t flags, const void *dso);
__attribute__((visibility("hidden"))) extern void *jl_rt_call(const void *request, size_t length, size_t *reply_length);

static atomic_int started;

// Defined by the control module when it is linked (a weak reference).
// Not hidden here (the definitions are, so no image exports them): GNU ld
// and gold resolve an undefined weak *hidden* reference in a shared object
// to the image's base, not 0, and the call below would jump into the ELF
// header of an image linked without the module.
__attribute__((weak)) extern void jl_control_image_loaded(void);
// Defined by the tracepoints module when it is linked: starts the USDT
// watcher (Sources/CTracepoints/usdt_watch.c). Weak, not hidden: as above.
__attribute__((weak)) extern void jl_usdt_image_loaded(void);
static _Atomic uintptr_t primary_cached;
static atomic_int fallback_ready;

uintptr_t jl_rt_primary_cached(void) { return atomic_load_explicit(&primary_cached, memory_order_acquire); }
void jl_rt_primary_store(uintptr_t value) { atomic_store_explicit(&primary_cached, value, memory_order_release); }
int jl_fallback_cache_ready(void) { return atomic_load_explicit(&fallback_ready, memory_order_acquire); }
void jl_fallback_cache_set_ready(void) { atomic_store_explicit(&fallback_ready, 1, memory_order_release); }

void jl_runtime_mark_started(void) { atomic_store(&started, 1); }

// Runs with the loader's lock held. Before the registry started no key has
// changed, so the new image's sites already hold their default
// instructions and the registry's first walk will find the image.
//
// Ordering: the registry sets `started` (seq_cst) before it walks the
// loaded images, and the loader adds an image to its list before running
// its constructors. So either this load sees `started` and registers the
// image itself, or the walk sees the image; duplicates are merged.
static void local_image_event(uint32_t event, const void *note) {
  // JUMPLABEL_CONTROL=1 is read here, at the first load hook (the control
  // module, if linked, starts its server; Sources/CJumpLabelControl).
  if (event == JL_IMAGE_LOADED && jl_control_image_loaded) jl_control_image_loaded();
  if (event == JL_IMAGE_LOADED && jl_usdt_image_loaded) jl_usdt_image_loaded();
  if (atomic_load(&started)) jl_rt_image_event(event, note);
}

static void free_reply(void *reply) { free(reply); }

__attribute__((visibility("hidden"), used)) const jl_runtime jl_runtime_self = {
    .magic = JL_RUNTIME_MAGIC,
    .abi = JL_RUNTIME_ABI,
    .size = sizeof(jl_runtime),
    .image_event = local_image_event,
    .read = jl_rt_read,
    .call = jl_rt_call,
    .free_reply = free_reply,
    .self = &jl_runtime_self,
};

const jl_runtime *jl_runtime_this(void) { return &jl_runtime_self; }

// The runtime note: owner "JumpLabel", type JL_RUNTIME_NOTE_TYPE, descriptor
// the self-relative offset of jl_runtime_self (no relocation needed).
JL_EMIT_RUNTIME_NOTE(jl_runtime_self);

// A runtime copy holds Swift code, which the Swift runtime cannot forget
// (Sources/JumpLabel/Documentation.docc/SharedLibraries.md), and other images may call through its
// descriptor at any time: it is pinned as soon as it is loaded.
__attribute__((constructor)) static void pin_this_image(void) {
  Dl_info info;
  if (dladdr(&jl_runtime_self, &info) && info.dli_fname) jl_pin_image(info.dli_fname);
}
