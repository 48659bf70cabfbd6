// The process-wide contract between images that have static-key sites and
// the copies of the JumpLabel runtime that may be loaded with them.
//
// Why this exists: SwiftPM links a package's targets statically into every
// product, so a process can hold several copies of the runtime (the
// executable, and each plugin built as a dynamic library). Left alone, each
// copy would read every image's tables and patch the same sites with its own
// idea of every key: two patchers on one instruction. Instead:
//
// - every runtime copy carries a "runtime note" (owner "JumpLabel", type
//   JL_RUNTIME_NOTE_TYPE) whose descriptor locates its `jl_runtime`;
// - the *primary* runtime is the first usable one in the loader's image
//   order (dl_iterate_phdr order: the executable, its libraries, then
//   dlopen'ed images in load order). Runtime images are never unloaded (they
//   hold Swift code, see README), so every copy computes the same primary
//   for the life of the process;
// - only the primary reads tables, keeps keys, and patches. Other copies
//   forward every call to it through the function pointers below.
//
// Everything here is `weak, hidden`: each image that includes this header
// gets its own copy, bound inside the image, so it works for images loaded
// with RTLD_LOCAL and for pure C libraries that do not link the runtime.
#ifndef CJUMPLABEL_RUNTIME_ABI_H
#define CJUMPLABEL_RUNTIME_ABI_H

#include <stddef.h>
#include <stdint.h>

#define JL_HIDDEN __attribute__((weak, visibility("hidden"), noinline, unused))

/// "JLRUNTIM"; changes never.
#define JL_RUNTIME_MAGIC 0x4d49544e55524c4aull
/// Bumped on any change to `jl_runtime` or to the request encoding.
#define JL_RUNTIME_ABI 3u  // 3: holders (hold, release, forced disable, forget, batch cost); the debugEmit request (dynamic debug)
/// ELF note type of a runtime note ("JR").
#define JL_RUNTIME_NOTE_TYPE 0x4a52u
/// ELF note type of a site-table note ("JL").
#define JL_SITES_NOTE_TYPE 0x4a4cu

/// `image_event` events, sent by the hooks each image with sites runs from
/// its .init_array (before its other constructors) and .fini_array (after
/// its other destructors, before it is unmapped).
#define JL_IMAGE_LOADED 1u
#define JL_IMAGE_UNLOADING 2u

/// `read` flags.
#define JL_READ_COUNT_HIT 1u      ///< count a fallback hit on the key
#define JL_READ_UNPINNED_NAME 2u  ///< the name lives in an image that may be unloaded
#define JL_READ_OPTIMIZED_SITE 4u ///< from optimised code that could not get a NOP site (`dso` says where)

/// One runtime copy, as other images see it.
typedef struct jl_runtime {
  uint64_t magic;  ///< JL_RUNTIME_MAGIC
  uint32_t abi;    ///< JL_RUNTIME_ABI
  uint32_t size;   ///< sizeof(jl_runtime)
  /// An image with sites was loaded / is about to be unloaded. `note` is
  /// the address of its site-table note. Called with the loader's lock held.
  void (*image_event)(uint32_t event, const void *note);
  /// The enable count of a key (> 0: enabled), for sites that could not be
  /// compiled as a NOP. `dflt` is the declared default; `dso` is the
  /// reading image's `__dso_handle` with JL_READ_OPTIMIZED_SITE, else null.
  int64_t (*read)(const void *name, int64_t len, int32_t dflt, uint32_t flags, const void *dso);
  /// Any other call, encoded (Sources/JumpLabel/Runtime/Wire.swift). The
  /// reply is owned by the caller and released with `free_reply`.
  void *(*call)(const void *request, size_t length, size_t *reply_length);
  void (*free_reply)(void *reply);
  /// Holds the struct's own address once the loader has relocated the image.
  /// A copy whose image is still being relocated by a concurrent dlopen is
  /// not usable yet, and is skipped. Last field: relocations are applied in
  /// address order, so the fields above are final when this one is.
  const struct jl_runtime *self;
} jl_runtime;

/// Emits a runtime note (owner "JumpLabel", type JL_RUNTIME_NOTE_TYPE)
/// whose descriptor is the self-relative offset of `symbol`, a hidden
/// runtime descriptor in the same image: no relocation needed. At file
/// scope, once per image.
#define JL_EMIT_RUNTIME_NOTE(symbol)               \
  __asm__(".pushsection .note.jumplabel.runtime, \"a\", @note\n" \
          ".balign 4\n"                             \
          ".long 10\n"                              \
          ".long 8\n"                               \
          ".long 0x4a52\n"                          \
          ".asciz \"JumpLabel\"\n"                  \
          ".balign 4\n"                             \
          ".quad " #symbol " - .\n"                 \
          ".popsection\n")

// ------------------------------------------------------------ image walk

/// The prefix of glibc's `struct dl_phdr_info` and ELF64 program header,
/// spelled out so that this header does not need <link.h> (which Swift's
/// Glibc module does not export).
typedef struct jl_elf_phdr {
  uint32_t p_type, p_flags;
  uint64_t p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align;
} jl_elf_phdr;
typedef struct jl_phdr_info {
  uintptr_t addr;
  const char *name;
  const jl_elf_phdr *phdr;
  uint16_t phnum;
} jl_phdr_info;

/// dl_iterate_phdr(3) under another name (same symbol).
extern int jl_dl_iterate_phdr(int (*callback)(jl_phdr_info *, size_t, void *), void *data) __asm__("dl_iterate_phdr");

/// Called for each JumpLabel note of each loaded image; return nonzero to stop.
typedef int (*jl_note_fn)(const jl_phdr_info *image, uint32_t type, const void *desc, uint32_t descsz, const void *note, void *context);

struct jl_note_walk {
  jl_note_fn fn;
  void *context;
};

JL_HIDDEN int jl_walk_image_notes(const jl_phdr_info *info, jl_note_fn fn, void *context) {
  for (uint16_t i = 0; i < info->phnum; i++) {
    const jl_elf_phdr *ph = &info->phdr[i];
    if (ph->p_type != 4 /* PT_NOTE */) continue;
    uintptr_t p = info->addr + ph->p_vaddr, end = p + ph->p_memsz;
    while (p + 12 <= end) {
      const uint32_t *h = (const uint32_t *)p;
      uintptr_t name = p + 12, desc = (name + h[0] + 3) & ~(uintptr_t)3;
      uintptr_t next = (desc + h[1] + 3) & ~(uintptr_t)3;
      if (next > end) break;
      if (h[0] == 10 && __builtin_memcmp((const void *)name, "JumpLabel", 10) == 0) {
        int stop = fn(info, h[2], (const void *)desc, h[1], (const void *)p, context);
        if (stop) return stop;
      }
      p = next;
    }
  }
  return 0;
}

JL_HIDDEN int jl_note_walk_visit(jl_phdr_info *info, size_t size, void *data) {
  (void)size;
  const struct jl_note_walk *w = (const struct jl_note_walk *)data;
  return jl_walk_image_notes(info, w->fn, w->context);
}

/// Calls `fn` for every JumpLabel note of every loaded image, in the
/// loader's order. Takes the loader's lock: never call it while holding the
/// runtime's registry or patch lock.
JL_HIDDEN void jl_walk_notes(jl_note_fn fn, void *context) {
  struct jl_note_walk w = {fn, context};
  jl_dl_iterate_phdr(jl_note_walk_visit, &w);
}

/// What a note says about a runtime copy: 1 and `*out` set if it is a
/// usable runtime of this ABI; -1 if it is one of this ABI that the loader
/// has not finished relocating (a dlopen in progress on another thread);
/// 0 if it is not a runtime of this ABI.
JL_HIDDEN int jl_runtime_of_note(uint32_t type, const void *desc, uint32_t descsz, const jl_runtime **out) {
  if (type != JL_RUNTIME_NOTE_TYPE || descsz != 8) return 0;
  const jl_runtime *rt = (const jl_runtime *)((uintptr_t)desc + (uintptr_t) * (const int64_t *)desc);
  // magic, abi and size need no relocation: readable as soon as mapped.
  if (rt->magic != JL_RUNTIME_MAGIC || rt->abi != JL_RUNTIME_ABI || rt->size < sizeof(jl_runtime)) return 0;
  if (__atomic_load_n(&rt->self, __ATOMIC_ACQUIRE) != rt) return -1;
  *out = rt;
  return 1;
}

JL_HIDDEN int jl_find_runtime_visit(const jl_phdr_info *image, uint32_t type, const void *desc, uint32_t descsz,
                                    const void *note, void *context) {
  (void)image;
  (void)note;
  const jl_runtime *rt = 0;
  switch (jl_runtime_of_note(type, desc, descsz, &rt)) {
  case 0: return 0;  // keep looking
  case 1: *(const jl_runtime **)context = rt; return 1;
  default: *(const jl_runtime **)context = 0; return 1;  // first copy not ready: no answer yet
  }
}

/// The process's primary runtime: the first runtime of this ABI in the
/// loader's order. Null if there is none, or if that first one is still
/// being relocated by a concurrent dlopen; then no copy can have started
/// (an earlier one would come first), every key is in its default state,
/// and the caller acts as if there were no runtime. Cached once found: the
/// primary never changes and is never unloaded.
JL_HIDDEN const jl_runtime *jl_primary_runtime(void) {
  static const jl_runtime *cached;
  const jl_runtime *rt = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
  if (rt) return rt;
  jl_walk_notes(jl_find_runtime_visit, &rt);
  if (rt) __atomic_store_n(&cached, rt, __ATOMIC_RELEASE);
  return rt;
}

/// The state word of the image whose site note is at `note`, or null.
JL_HIDDEN uint32_t *jl_image_state_word(const void *note) {
  const uint32_t *h = (const uint32_t *)note;
  if (h[0] != 10 || h[1] < 12 || h[2] != JL_SITES_NOTE_TYPE) return 0;
  const char *at = (const char *)note + 24 + 8;  // third descriptor word
  return (uint32_t *)(at + *(const int32_t *)at);
}

/// The hook every image with sites runs at load and unload (see the site
/// header's .init_array / .fini_array entries). It first records the event
/// in the image's state word: a walk that finds the word still 0 knows the
/// image's initialisation has not begun (it belongs to a dlopen in
/// progress), so it must not, say, dlopen it, which would run its
/// constructors early.
JL_HIDDEN void jl_image_hook(uint32_t event, const void *note) {
  uint32_t *state = jl_image_state_word(note);
  if (state) __atomic_store_n(state, event, __ATOMIC_RELEASE);
  const jl_runtime *rt = jl_primary_runtime();
  if (rt) rt->image_event(event, note);
}

/// The state of a key for a C site that is not a NOP (a C file built
/// without optimisation). Without a runtime in the process: the default.
JL_HIDDEN int jl_key_read(const char *name, long len, int dflt) {
  const jl_runtime *rt = jl_primary_runtime();
  if (rt == 0) return dflt;
  return rt->read(name, len, dflt, JL_READ_COUNT_HIT | JL_READ_UNPINNED_NAME, 0) > 0;
}

#endif
