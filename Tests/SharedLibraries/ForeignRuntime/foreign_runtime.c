// What another version of this package would bring into a process: a
// runtime note whose descriptor has the right magic and another ABI number.
// It cannot join this version's registry; the runtime must notice it and
// stop toggling rather than risk two patchers on one site.
#include "foreign_runtime.h"

#include <jumplabel_site.h>

__attribute__((used, visibility("hidden"))) const struct {
  uint64_t magic;
  uint32_t abi, size;
} jl_foreign_descriptor = {JL_RUNTIME_MAGIC, 999, 56};

JL_EMIT_RUNTIME_NOTE(jl_foreign_descriptor);

unsigned foreign_runtime_abi(void) { return jl_foreign_descriptor.abi; }

// A site, as a plugin built with the other version would have: its load
// hook is what announces the image (and so the foreign runtime) to ours.
int foreign_site(void) { return JL_BRANCH("foreign.key", 0, 0); }
