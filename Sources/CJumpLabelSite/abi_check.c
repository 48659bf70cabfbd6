// The layouts other images and other runtime copies rely on. Compiled as
// this target's only source, so a change that breaks them fails the build.
#include "jumplabel_site.h"

_Static_assert(sizeof(jl_entry) == 32, "site table entries are 32 bytes");
_Static_assert(sizeof(jl_debug_site) == 48, "debug statement descriptors are 48 bytes (the asm says so)");
_Static_assert(sizeof(jl_runtime) == 56, "jl_runtime layout is ABI");
_Static_assert(__builtin_offsetof(jl_runtime, self) == 48, "self is the last field");
_Static_assert(sizeof(jl_elf_phdr) == 56, "ELF64 program header");
