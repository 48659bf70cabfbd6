// JUMPLABEL_DYNDBG and JUMPLABEL_LOG at start-up: debug statements and
// logging call sites must follow them before main runs, so the registry
// indexes the loaded images from a constructor when either is set (the
// kernel applies dyndbg= at boot). A constructor, not the priority-101
// load hook: Swift code may only run once the image's Swift metadata is
// registered (swiftrt.o's constructor, which is linked first). Images
// loaded later are indexed by their load hooks, the variables applied then.
#include <stdlib.h>

// Swift (Sources/JumpLabel/DynamicDebug/DynamicDebugBoot.swift).
__attribute__((visibility("hidden"))) extern void jl_rt_dyndbg_boot(void);

__attribute__((constructor)) static void dyndbg_boot(void) {
  if (getenv("JUMPLABEL_DYNDBG") || getenv("JUMPLABEL_LOG")) jl_rt_dyndbg_boot();
}
