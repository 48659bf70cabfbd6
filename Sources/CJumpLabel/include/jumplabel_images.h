// The runtime's C side: its descriptor for other images, and the few loader
// calls Swift cannot make directly. The logic is Swift (Sources/JumpLabel).
#ifndef CJUMPLABEL_IMAGES_H
#define CJUMPLABEL_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "jumplabel_runtime_abi.h"

// Hidden: every image that links a copy of the runtime binds to its own
// copy of these (jl_runtime_this above all: a library loaded RTLD_GLOBAL
// must not lend its descriptor to the next copy).
#pragma GCC visibility push(hidden)

/// This copy's descriptor (hidden: every copy has its own).
const jl_runtime *jl_runtime_this(void);

/// What this copy knows about the process's primary runtime, lock-free:
/// 0 not resolved yet, 1 this copy is the primary, otherwise the primary's
/// descriptor. Set once (`jl_rt_primary_store`) and never changed.
uintptr_t jl_rt_primary_cached(void);
void jl_rt_primary_store(uintptr_t value);

/// 1 once the fallback cache exists (its one-time initialiser has
/// returned), so that a read that must not wait (a signal handler that
/// interrupted the runtime) may use it; 0 before.
int jl_fallback_cache_ready(void);
void jl_fallback_cache_set_ready(void);

/// Lets the load/unload hooks reach the Swift registry. Until this is
/// called no key has changed, so a newly loaded image already holds the
/// right instructions and the hooks have nothing to do.
void jl_runtime_mark_started(void);

/// 1 if the ELF file at `path` holds Swift code or is registered with the
/// Swift runtime: non-empty Swift metadata sections, or an import of
/// swift_addNewDSOImage. 0 if not, -1 if the file cannot be read. Such
/// images are pinned: see Sources/JumpLabel/Documentation.docc/SharedLibraries.md. Reads the file: call
/// it outside dl_iterate_phdr callbacks.
int jl_file_holds_swift(const char *path);

/// 1 if the image links libswiftCore (read from its PT_DYNAMIC in memory):
/// the fallback when its file cannot be read.
int jl_links_swift_core(const jl_phdr_info *image);

/// Describes the loaded image whose segments contain `address`: its path
/// ("" for the executable) and whether it links libswiftCore. Returns 0 if
/// no image contains it. Takes the loader's lock.
int jl_image_containing(const void *address, const char **path, int *links_swift_core);

/// Returns once no other thread is inside dlopen or dlclose (immediately if
/// this thread is). Takes the loader's lock; changes nothing.
void jl_wait_for_loader(void);

/// How many images the loader has loaded so far (dlpi_adds). Takes the
/// loader's lock briefly.
uint64_t jl_loader_adds(void);

/// dlopen(RTLD_NOLOAD) and dlclose: only for the `dlopenWalkedImages` fault.
void jl_probe_dlopen(const char *path);

/// Makes a loaded image permanent (dlopen RTLD_NOLOAD | RTLD_NODELETE).
/// Returns 1 on success. Takes the loader's lock.
int jl_pin_image(const char *path);

/// Names the calling thread (at most 15 bytes show), for ps and gdb.
void jl_set_thread_name(const char *name);

#pragma GCC visibility pop

#endif
