// CJumpLabel: the branch site of a static key, as an `asm goto` that the
// Swift compiler inlines into Swift code.
//
// In an optimised build (`-O`, `-Osize`) with a literal key name, every call
// of __dtrace_jumplabel_site() becomes one 5-byte instruction in the caller -- a NOP or a
// `jmp rel32` -- plus one entry in the `jumplabel_sites` section that says
// where the instruction is, where the jump goes, and which key it belongs to.
// Otherwise it becomes `return JL_SITE_FALLBACK`, and the Swift caller reads
// the key's state from memory instead. Nothing in between: the guard below
// makes sure the asm is only emitted when all its operands are constants,
// because Swift 6.3.1 silently drops an `asm goto` whose "i" operand is not a
// link-time constant (the branch would then never be taken).
//
// Only the site, the table layout and the per-image note are here; the logic
// that reads and patches the tables is Swift (Sources/JumpLabel).
#ifndef CJUMPLABEL_SITE_H
#define CJUMPLABEL_SITE_H

#include <stdint.h>

#include "jumplabel_runtime_abi.h"

/// __dtrace_jumplabel_site() result: the key is disabled / enabled on this path.
#define JL_SITE_FALSE 0
#define JL_SITE_TRUE 1
/// __dtrace_jumplabel_site() result: no patchable site here (an
/// unoptimised build); read the key's state.
#define JL_SITE_FALLBACK 2
/// __dtrace_jumplabel_site() result: no patchable site although the code is
/// optimised: the name, layout or default was not a constant at this call
/// (a `static let` key used from another module, a key passed through a
/// variable). Read the key's state, and count it: `StaticKeys.problems()`
/// reports keys read this way.
#define JL_SITE_FALLBACK_OPTIMIZED 3

/// Flags of a table entry (`jl_entry.flags`).
#define JL_FLAG_LIKELY 1u   ///< the NOP path is the "enabled" path
#define JL_FLAG_DEFAULT 2u  ///< the key's declared default is true
#define JL_FLAG_TRACEPOINT 4u  ///< the key is a tracepoint's (Sources/Tracepoints)
/// The entry is a debug statement's (dynamic debug): its `name` points to a
/// `jl_debug_site` and `name_len` is sizeof(jl_debug_site); the runtime
/// makes the key's name from that descriptor (one key per statement).
#define JL_FLAG_DEBUG 8u

/// `attrs` of __dtrace_jumplabel_site(): bit 0 is the key's declared
/// default, bit 1 says the site is a tracepoint's.
#define JL_ATTR_DEFAULT 1
#define JL_ATTR_TRACEPOINT 2

/// One entry of the `jumplabel_sites` section, 32 bytes. The three
/// addresses are stored relative to the field that holds them, so the table
/// needs no dynamic relocations and reads the same wherever the image loads.
typedef struct jl_entry {
  int32_t code;      ///< the 5-byte instruction, relative to &code
  int32_t target;    ///< where its JMP goes, relative to &target
  int64_t name;      ///< the key's name (UTF-8, not NUL-terminated), relative to &name
  uint64_t name_len; ///< length of the name in bytes
  uint64_t flags;    ///< JL_FLAG_*
} jl_entry;

/// ELF note that every image with sites carries once (COMDAT), so that the
/// runtime can find each image's table from its program headers alone.
/// Owner "JumpLabel", type JL_SITES_NOTE_TYPE (jumplabel_runtime_abi.h), descriptor: three int32
/// offsets, each relative to itself: the start and the end of the image's
/// table, and the image's state word (0 until its load hook ran, then the
/// last event its hooks saw: JL_IMAGE_LOADED, JL_IMAGE_UNLOADING).

#if defined(__x86_64__) && defined(__OPTIMIZE__)
#define JL_HAVE_SITES 1
#else
#define JL_HAVE_SITES 0
#endif

/// The site's instruction, shared by key sites and debug statements: label
/// 1 at a 5-byte JMP to the operand `taken` (`jmp` true) or a 5-byte NOP,
/// label 2 after it. A site's first two bytes never straddle a cache line:
/// then the self-loop protocol (TextPoke) can replace them with one store
/// that instruction fetch sees whole. Only a site that would start at the
/// last byte of a 64-byte line needs it: one byte of padding (a 1-byte
/// NOP), for 1 site in 64.
#define JL_SITE_INSTRUCTION_ASM \
  ".p2align 6, 0x90, 1\n"       \
  "1:\n\t"                      \
  ".if %c[jmp]\n\t"             \
  ".byte 0xe9\n\t"              \
  ".long %l[taken] - 2f\n"      \
  "2:\n\t"                      \
  ".else\n\t"                   \
  ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\t" \
  ".endif\n\t"

/// The per-image part every site emits: the image's note, state word and
/// hooks. Once per object file (the .ifndef) and once per image (COMDAT).
/// The state word holds JL_IMAGE_*, written by the hooks. The load hook
/// runs before the image's other constructors (priority 101 sorts first),
/// the unload hook after its other destructors, just before unmapping.
#define JL_IMAGE_NOTE_ASM \
        ".ifndef .Ljumplabel_note_emitted\n\t" \
        ".set .Ljumplabel_note_emitted, 1\n\t" \
        ".hidden __start_jumplabel_sites\n\t" \
        ".hidden __stop_jumplabel_sites\n\t" \
        ".pushsection .note.jumplabel, \"aG\", @note, jumplabel_note, comdat\n\t" \
        ".balign 4\n" \
        ".Ljumplabel_note:\n\t" \
        ".long 10\n\t" \
        ".long 12\n\t" \
        ".long 0x4a4c\n\t" \
        ".asciz \"JumpLabel\"\n\t" \
        ".balign 4\n\t" \
        ".long __start_jumplabel_sites - .\n\t" \
        ".long __stop_jumplabel_sites - .\n\t" \
        ".long .Ljumplabel_state - .\n\t" \
        ".popsection\n\t" \
        ".pushsection .data.jumplabel_state, \"awG\", @progbits, jumplabel_note, comdat\n\t" \
        ".balign 4\n" \
        ".Ljumplabel_state:\n\t" \
        ".long 0\n\t" \
        ".popsection\n\t" \
        ".pushsection .text.jumplabel_hooks, \"axG\", @progbits, jumplabel_note, comdat\n" \
        ".Ljumplabel_on_load:\n\t" \
        "movl $1, %%edi\n\t" \
        "leaq .Ljumplabel_note(%%rip), %%rsi\n\t" \
        "jmp jl_image_hook\n" \
        ".Ljumplabel_on_unload:\n\t" \
        "movl $2, %%edi\n\t" \
        "leaq .Ljumplabel_note(%%rip), %%rsi\n\t" \
        "jmp jl_image_hook\n\t" \
        ".popsection\n\t" \
        ".pushsection .init_array.00101, \"awG\", @init_array, jumplabel_note, comdat\n\t" \
        ".balign 8\n\t" \
        ".quad .Ljumplabel_on_load\n\t" \
        ".popsection\n\t" \
        ".pushsection .fini_array.00101, \"awG\", @fini_array, jumplabel_note, comdat\n\t" \
        ".balign 8\n\t" \
        ".quad .Ljumplabel_on_unload\n\t" \
        ".popsection\n\t" \
        ".endif\n\t"

/// The branch site. `name`/`name_len` are the key's StaticString,
/// `likely` says which path is inline (1: the enabled path falls through),
/// `attrs` holds the key's declared default (JL_ATTR_DEFAULT) and whether the
/// site is a tracepoint's (JL_ATTR_TRACEPOINT). Returns JL_SITE_*.
///
/// Why the odd name: Swift's own function-merging pass (SwiftMergeFunctions)
/// runs before this function is inlined, and merges Swift functions that
/// differ only in constants by turning the constants into parameters. Two
/// closures `{ key.isEnabled(likely: true) }` and `{ ...likely: false }`
/// were merged that way here, and their sites silently became fallbacks.
/// The pass never merges a function that calls a function whose name starts
/// with `__dtrace` ("calls to dtrace probes must generate unique
/// patchpoints"), which is exactly our situation.
///
/// The initial instruction follows the kernel's rule: NOP iff the key's
/// state equals the layout's likely value. So a default-true key with the
/// unlikely layout, and a default-false key with the likely layout, start
/// as a JMP.
static inline __attribute__((always_inline)) int
__dtrace_jumplabel_site(const void *name, long name_len, int likely, int attrs) {
#if JL_HAVE_SITES
  if (__builtin_constant_p(name_len) && __builtin_constant_p(likely) &&
      __builtin_constant_p(attrs)) {
    (void)&jl_image_hook;  // makes the compiler emit this image's hook
    __asm__ goto(
        JL_SITE_INSTRUCTION_ASM
        ".pushsection jumplabel_sites, \"awR\", @progbits\n\t"
        ".balign 8\n\t"
        ".long 1b - .\n\t"
        ".long %l[taken] - .\n\t"
        ".quad %c[name] - .\n\t"
        ".quad %c[len]\n\t"
        ".quad %c[flags]\n\t"
        ".popsection\n\t"
        JL_IMAGE_NOTE_ASM
        :
        : [name] "i"(name), [len] "i"(name_len),
          [flags] "i"((likely ? JL_FLAG_LIKELY : 0u) | ((attrs & JL_ATTR_DEFAULT) ? JL_FLAG_DEFAULT : 0u) |
                      ((attrs & JL_ATTR_TRACEPOINT) ? JL_FLAG_TRACEPOINT : 0u)),
          [jmp] "i"((likely != 0) != ((attrs & JL_ATTR_DEFAULT) != 0))
        :
        : taken);
    return likely ? JL_SITE_TRUE : JL_SITE_FALSE;
  taken:
    return likely ? JL_SITE_FALSE : JL_SITE_TRUE;
  }
  (void)name;
  (void)name_len;
  (void)likely;
  (void)attrs;
  return JL_SITE_FALLBACK_OPTIMIZED;
#else
  (void)name;
  (void)name_len;
  (void)likely;
  (void)attrs;
  return JL_SITE_FALLBACK;
#endif
}

/// What a debug statement's table entry points to (JL_FLAG_DEBUG), 48
/// bytes: where the statement is, and its format. Offsets are relative to
/// the field that holds them, as in `jl_entry`.
typedef struct jl_debug_site {
  int64_t file;          ///< the `#fileID` literal ("Module/File.swift")
  uint32_t file_len;
  uint32_t line;
  int64_t function;      ///< the `#function` literal
  uint32_t function_len;
  uint32_t column;
  int64_t format;        ///< the statement's static format literal ("" if none)
  uint32_t format_len;
  uint32_t level;        ///< 0: a plain debug statement; 1 + a swift-log level otherwise
} jl_debug_site;

/// A debug statement's site: its own key, named by the runtime from the
/// descriptor (JumpLabel/DynamicDebug), the enabled path out of line.
/// `dflt` is the key's default: 0 for a debug statement, 1 for a logging
/// call site at info or above (swift-log's default level), which then
/// starts as a JMP. Emitted only when every operand is a constant (the literals'
/// addresses and lengths, the line, column and level); otherwise returns
/// JL_SITE_FALLBACK_OPTIMIZED (or JL_SITE_FALLBACK in unoptimised code) and
/// the caller reads the statement's key by name.
static inline __attribute__((always_inline)) int
__dtrace_jumplabel_debug_site(const void *file, long file_len, const void *function, long function_len,
                              const void *format, long format_len, long line, long column, long level, int dflt) {
#if JL_HAVE_SITES
  if (__builtin_constant_p(file_len) && __builtin_constant_p(function_len) && __builtin_constant_p(format_len) &&
      __builtin_constant_p(line) && __builtin_constant_p(column) && __builtin_constant_p(level) &&
      __builtin_constant_p(dflt)) {
    (void)&jl_image_hook;  // makes the compiler emit this image's hook
    __asm__ goto(
        JL_SITE_INSTRUCTION_ASM
        ".pushsection jumplabel_debug, \"awR\", @progbits\n\t"
        ".balign 8\n"
        "3:\n\t"
        ".quad %c[file] - .\n\t"
        ".long %c[flen]\n\t"
        ".long %c[line]\n\t"
        ".quad %c[func] - .\n\t"
        ".long %c[fnlen]\n\t"
        ".long %c[column]\n\t"
        ".quad %c[fmt] - .\n\t"
        ".long %c[fmtlen]\n\t"
        ".long %c[level]\n\t"
        ".popsection\n\t"
        ".pushsection jumplabel_sites, \"awR\", @progbits\n\t"
        ".balign 8\n\t"
        ".long 1b - .\n\t"
        ".long %l[taken] - .\n\t"
        ".quad 3b - .\n\t"
        ".quad 48\n\t"
        ".quad %c[flags]\n\t"
        ".popsection\n\t"
        JL_IMAGE_NOTE_ASM
        :
        : [file] "i"(file), [flen] "i"(file_len), [func] "i"(function), [fnlen] "i"(function_len),
          [fmt] "i"(format), [fmtlen] "i"(format_len), [line] "i"(line), [column] "i"(column),
          [level] "i"(level), [flags] "i"(JL_FLAG_DEBUG | (dflt ? JL_FLAG_DEFAULT : 0u)), [jmp] "i"(dflt ? 1 : 0)
        :
        : taken);
    return JL_SITE_FALSE;
  taken:
    return JL_SITE_TRUE;
  }
#endif
  (void)file;
  (void)file_len;
  (void)function;
  (void)function_len;
  (void)format;
  (void)format_len;
  (void)line;
  (void)column;
  (void)level;
  (void)dflt;
  return JL_HAVE_SITES ? JL_SITE_FALLBACK_OPTIMIZED : JL_SITE_FALLBACK;
}

/// Bounds of the table of the image this is compiled into. Weak: an image
/// without sites has no section, and then both are null.
extern const jl_entry __start_jumplabel_sites[] __attribute__((weak, visibility("hidden")));
extern const jl_entry __stop_jumplabel_sites[] __attribute__((weak, visibility("hidden")));

/// A branch for C code: `if (JL_BRANCH("app.verbose", 0, 0)) ...` with a
/// string literal, the layout (1: the enabled path is inline) and the
/// default. A NOP or JMP site when optimised; a read of the key otherwise.
#define JL_BRANCH(name, likely, dflt) \
  jl_branch_result(__dtrace_jumplabel_site((name), (long)sizeof(name) - 1, (likely), (dflt) ? JL_ATTR_DEFAULT : 0), \
                   (name), (long)sizeof(name) - 1, (dflt))

static inline __attribute__((always_inline)) int jl_branch_result(int site, const char *name, long len, int dflt) {
  return site >= JL_SITE_FALLBACK ? jl_key_read(name, len, dflt) : site == JL_SITE_TRUE;
}

/// 1 if this C module was compiled with sites enabled (an optimised x86-64
/// build). Swift code in a debug build always takes the fallback.
static inline int jl_sites_compiled(void) { return JL_HAVE_SITES; }

#endif
