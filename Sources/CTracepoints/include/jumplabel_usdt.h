// The USDT probe point of a tracepoint: a 1-byte NOP that bpftrace, perf
// and SystemTap find through a standard `.note.stapsdt` entry, inlined
// into Swift code on the tracepoint's enabled path.
//
// A standard probe (sys/sdt.h) spells its provider and name as string
// literals inside the asm. Ours come from a Swift `StaticString`, which
// the asm can only see as an address. So the note's strings are built
// from constants instead: after Swift has inlined the emit site, the
// optimiser folds the loads of the literal's bytes into 64-bit words,
// which reach the asm as "i" operands and are written out byte by byte
// with `.byte`. The guard below emits the asm only when every word, the
// length and every argument size really are constants; otherwise the
// function returns 0 and the caller records that the probe is missing
// (Swift 6.3.1 silently drops an asm whose "i" operand is not constant).
//
// Per probe point this emits:
//  - the note (owner "stapsdt", type 3): the NOP's address, the address
//    of `_.stapsdt.base` (tools use it to detect prelinking), the
//    semaphore's address, then "provider\0name\0args\0";
//  - a 2-byte semaphore in `.probes`, shared by the name's probe points
//    in the image, which the kernel increments while a uprobe with a
//    reference counter (a tracer) is attached to one of them. The emit
//    site reads it (jl_usdt_semaphore) and computes the arguments only if
//    it is non-zero, as a sys/sdt.h probe does;
//  - an entry in `jumplabel_usdt` (24 bytes, self-relative: no dynamic
//    relocation) that gives the watcher (usdt_watch.c) the probe point,
//    the semaphore and the tracepoint's name;
//  - once per image, a note of our own (owner "JumpLabel", type
//    JL_USDT_NOTE_TYPE) that points at the image's `jumplabel_usdt`
//    table, so that the watcher finds it from the program headers alone,
//    and at `_.stapsdt.base`: the only reference to that section from
//    allocated data, without which `--gc-sections` drops it (tools then
//    read a base of 0).
//
// Name mapping: the provider is the tracepoint's name up to its first
// '.', the probe name the rest, with '.' and '-' mapped to '_'
// ("http.request.start" -> http:request_start). A name without a '.', or
// with a '.' first or last, or with a character other than letters,
// digits, '_', '.' and '-', or of 96 bytes or more, gets no probe point.
//
// Argument specs are written by the compiler: each argument is a 64-bit
// register operand, printed into the note as "SIZE@%reg" with the size of
// the Swift type (-8 for Int, 8 for UInt and pointers, -4 for Int32...).
#ifndef JUMPLABEL_USDT_H
#define JUMPLABEL_USDT_H

#include <stdint.h>

/// Type of the per-image note that points at the `jumplabel_usdt` table.
#define JL_USDT_NOTE_TYPE 0x4a55u

/// One entry of the `jumplabel_usdt` section, 24 bytes.
typedef struct jl_usdt_entry {
  int32_t pc;         ///< the probe's NOP, relative to &pc
  int32_t semaphore;  ///< its uint16 semaphore, relative to &semaphore
  int64_t name;       ///< the tracepoint's name, relative to &name
  uint64_t name_len;  ///< its length in bytes
} jl_usdt_entry;

#if defined(__x86_64__) && defined(__OPTIMIZE__)
#define JL_HAVE_USDT 1
#else
#define JL_HAVE_USDT 0
#endif

#define JL_USDT_WORDS 12
#define JL_USDT_MAX_NAME (JL_USDT_WORDS * 8 - 1)

// The name's bytes are read with straight-line code, one expression per
// byte position (the JL_USDT_R96 lists below), not with loops: the
// optimiser folds loads from a constant string at constant offsets early,
// but a loop would have to be unrolled first, and in Swift's pipeline the
// `__builtin_constant_p` guard is decided before that happens.

/// 1 if `c` may appear in a tracepoint name that is a probe name.
static inline __attribute__((always_inline)) int jl_usdt_valid(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/// A name byte as the probe's strings spell it.
static inline __attribute__((always_inline)) uint64_t jl_usdt_map(unsigned char c) {
  return (c == '.' || c == '-') ? '_' : c;
}

#define JL_USDT_R8(M, b) M((b) + 0) M((b) + 1) M((b) + 2) M((b) + 3) M((b) + 4) M((b) + 5) M((b) + 6) M((b) + 7)
#define JL_USDT_R96(M) \
  JL_USDT_R8(M, 0) JL_USDT_R8(M, 8) JL_USDT_R8(M, 16) JL_USDT_R8(M, 24) JL_USDT_R8(M, 32) JL_USDT_R8(M, 40) \
  JL_USDT_R8(M, 48) JL_USDT_R8(M, 56) JL_USDT_R8(M, 64) JL_USDT_R8(M, 72) JL_USDT_R8(M, 80) JL_USDT_R8(M, 88)
// The first '.' (a chain of conditionals ending in -1).
#define JL_USDT_DOT(j) ((j) < len && n[(j)] == '.') ? (long)(j) :
// Every byte is allowed.
#define JL_USDT_OK(j) &&((j) >= len || jl_usdt_valid(n[(j)]))
// Byte j of "provider\0name\0".
#define JL_USDT_BYTE(j) ((j) < len && (j) != dot ? jl_usdt_map(n[(j)]) : 0)
#define JL_USDT_WORD(k)                                                                                 \
  (JL_USDT_BYTE(8 * (k)) | JL_USDT_BYTE(8 * (k) + 1) << 8 | JL_USDT_BYTE(8 * (k) + 2) << 16 |           \
   JL_USDT_BYTE(8 * (k) + 3) << 24 | JL_USDT_BYTE(8 * (k) + 4) << 32 | JL_USDT_BYTE(8 * (k) + 5) << 40 | \
   JL_USDT_BYTE(8 * (k) + 6) << 48 | JL_USDT_BYTE(8 * (k) + 7) << 56)

// Byte k of word w, if it is inside the strings ([total] bytes).
#define JL_USDT_B(w, k) ".if " #w "*8+" #k " < %c[total]\n.byte (%c[w" #w "] >> (" #k "*8)) & 0xff\n.endif\n"
#define JL_USDT_W(w) \
  JL_USDT_B(w, 0) JL_USDT_B(w, 1) JL_USDT_B(w, 2) JL_USDT_B(w, 3) JL_USDT_B(w, 4) JL_USDT_B(w, 5) JL_USDT_B(w, 6) JL_USDT_B(w, 7)
#define JL_USDT_STRINGS \
  JL_USDT_W(0) JL_USDT_W(1) JL_USDT_W(2) JL_USDT_W(3) JL_USDT_W(4) JL_USDT_W(5) \
  JL_USDT_W(6) JL_USDT_W(7) JL_USDT_W(8) JL_USDT_W(9) JL_USDT_W(10) JL_USDT_W(11)

// The semaphore of every probe point of one name in one image: a symbol
// whose name spells the probe's name in decimal words (every byte of a
// valid name is ASCII, so every word prints as a positive number), defined
// once per object file (the .ifndef) and once per image (COMDAT), in
// `.probes`, where perf looks for semaphores. So all probe points of a
// name share one semaphore, whichever of them a tool increments.
#define JL_USDT_SEMA "jl_usdt_sema_%c[w0]_%c[w1]_%c[w2]_%c[w3]_%c[w4]_%c[w5]_%c[w6]_%c[w7]_%c[w8]_%c[w9]_%c[w10]_%c[w11]"
#define JL_USDT_SEMA_DEFINE                                                       \
  ".ifndef " JL_USDT_SEMA "\n"                                                    \
  ".pushsection .probes,\"awG\",@progbits," JL_USDT_SEMA ",comdat\n"             \
  ".balign 2\n"                                                                   \
  ".weak " JL_USDT_SEMA "\n"                                                      \
  ".hidden " JL_USDT_SEMA "\n"                                                    \
  JL_USDT_SEMA ": .2byte 0\n"                                                     \
  ".size " JL_USDT_SEMA ", 2\n"                                                   \
  ".popsection\n"                                                                 \
  ".endif\n"

// The probe point: the asm around the argument specs `ARGS` (a string
// with %c[sN]@%[aN]).
#define JL_USDT_ASM(ARGS)                                               \
  JL_USDT_SEMA_DEFINE                                                   \
  "990: nop\n"                                                          \
  ".pushsection .note.stapsdt,\"?\",\"note\"\n"                         \
  ".balign 4\n"                                                         \
  ".4byte 992f-991f, 994f-993f, 3\n"                                    \
  "991: .asciz \"stapsdt\"\n"                                           \
  "992: .balign 4\n"                                                    \
  "993: .8byte 990b\n"                                                  \
  ".8byte _.stapsdt.base\n"                                             \
  ".8byte " JL_USDT_SEMA "\n"                                           \
  JL_USDT_STRINGS                                                       \
  ".asciz \"" ARGS "\"\n"                                               \
  "994: .balign 4\n"                                                    \
  ".popsection\n"                                                       \
  ".pushsection jumplabel_usdt,\"awR\",@progbits\n"                     \
  ".balign 8\n"                                                         \
  ".long 990b - .\n"                                                    \
  ".long " JL_USDT_SEMA " - .\n"                                        \
  ".quad %c[name] - .\n"                                                \
  ".quad %c[len]\n"                                                     \
  ".popsection\n"                                                       \
  /* Once per object file and, through COMDAT, once per image. */       \
  ".ifndef _.stapsdt.base\n"                                            \
  ".pushsection .stapsdt.base,\"aG\",@progbits,.stapsdt.base,comdat\n"  \
  ".weak _.stapsdt.base\n"                                              \
  ".hidden _.stapsdt.base\n"                                            \
  "_.stapsdt.base: .space 1\n"                                          \
  ".size _.stapsdt.base, 1\n"                                           \
  ".popsection\n"                                                       \
  ".endif\n"                                                            \
  ".ifndef .Ljumplabel_usdt_note_emitted\n"                             \
  ".set .Ljumplabel_usdt_note_emitted, 1\n"                             \
  ".hidden __start_jumplabel_usdt\n"                                    \
  ".hidden __stop_jumplabel_usdt\n"                                     \
  ".pushsection .note.jumplabel_usdt,\"aG\",@note,jumplabel_usdt_note,comdat\n" \
  ".balign 4\n"                                                         \
  ".long 10\n"                                                          \
  ".long 12\n"                                                          \
  ".long 0x4a55\n"                                                      \
  ".asciz \"JumpLabel\"\n"                                              \
  ".balign 4\n"                                                         \
  ".long __start_jumplabel_usdt - .\n"                                  \
  ".long __stop_jumplabel_usdt - .\n"                                   \
  /* Also keeps .stapsdt.base from the linker's garbage collection. */  \
  ".long _.stapsdt.base - .\n"                                          \
  ".popsection\n"                                                       \
  ".endif\n"

#define JL_USDT_WORD_OPERANDS                                                                 \
  [w0] "i"(w[0]), [w1] "i"(w[1]), [w2] "i"(w[2]), [w3] "i"(w[3]), [w4] "i"(w[4]), [w5] "i"(w[5]), \
  [w6] "i"(w[6]), [w7] "i"(w[7]), [w8] "i"(w[8]), [w9] "i"(w[9]), [w10] "i"(w[10]), [w11] "i"(w[11])

// The words, and whether the compiler folded all of them (and the sizes
// in `sizes_constant`) to constants. `len` is checked first: no byte past
// the name is ever read.
#define JL_USDT_PREPARE(sizes_constant)                                                           \
  const unsigned char *n = (const unsigned char *)name;                                          \
  int short_enough = len <= JL_USDT_MAX_NAME;                                                    \
  long dot = short_enough ? (JL_USDT_R96(JL_USDT_DOT) - 1) : -1;                                 \
  int valid = short_enough JL_USDT_R96(JL_USDT_OK);                                              \
  uint64_t w[JL_USDT_WORDS] = {JL_USDT_WORD(0), JL_USDT_WORD(1), JL_USDT_WORD(2),  JL_USDT_WORD(3), \
                               JL_USDT_WORD(4), JL_USDT_WORD(5), JL_USDT_WORD(6),  JL_USDT_WORD(7), \
                               JL_USDT_WORD(8), JL_USDT_WORD(9), JL_USDT_WORD(10), JL_USDT_WORD(11)}; \
  int folded = __builtin_constant_p(len) && __builtin_constant_p(dot) && __builtin_constant_p(valid) && \
               (sizes_constant) && __builtin_constant_p(w[0]) && __builtin_constant_p(w[1]) &&     \
               __builtin_constant_p(w[2]) && __builtin_constant_p(w[3]) && __builtin_constant_p(w[4]) && \
               __builtin_constant_p(w[5]) && __builtin_constant_p(w[6]) && __builtin_constant_p(w[7]) && \
               __builtin_constant_p(w[8]) && __builtin_constant_p(w[9]) && __builtin_constant_p(w[10]) && \
               __builtin_constant_p(w[11]);                                                      \
  int usable = short_enough && valid && dot > 0 && dot < len - 1

#define JL_USDT_COMMON_OPERANDS [total] "i"(len + 1), [name] "i"(name), [len] "i"(len), JL_USDT_WORD_OPERANDS

#define JL_C(x) __builtin_constant_p(x)

/// The semaphore shared by the probe points named `name` in this image:
/// non-zero while a tracer is attached to one of them. Read it before
/// computing a probe's arguments. Returns -1 in a build without probe
/// points, -2 if the probe point cannot be compiled here (see the top of
/// this file).
static inline __attribute__((always_inline)) int jl_usdt_semaphore(const void *name, long len) {
#if JL_HAVE_USDT
  JL_USDT_PREPARE(1);
  if (folded && usable) {
    uint32_t v;
    __asm__ volatile(JL_USDT_SEMA_DEFINE "movzwl " JL_USDT_SEMA "(%%rip), %k[v]\n" : [v] "=r"(v) : JL_USDT_WORD_OPERANDS);
    if (v > 0xffffu) __builtin_unreachable();  // a movzwl: lets the caller drop its -2 check
    return (int)v;
  }
  return -2;
#else
  (void)name; (void)len;
  return -1;
#endif
}

/// Probe points with 0 to 6 arguments. `name`/`len` are the tracepoint's
/// name literal; each argument is a value `aN` (an integer, or a pointer
/// to a NUL-terminated string, as 64 bits) with its size `sN` in the
/// USDT convention (negative: signed). Returns 1 if the probe point was
/// compiled, 0 if it could not be (see the top of this file); -1 in a
/// build without probe points (unoptimised, or not x86-64).
static inline __attribute__((always_inline)) int jl_usdt_probe0(const void *name, long len) {
#if JL_HAVE_USDT
  JL_USDT_PREPARE(1);
  if (folded && usable) {
    __asm__ volatile(JL_USDT_ASM("") ::JL_USDT_COMMON_OPERANDS);
    return 1;
  }
  return 0;
#else
  (void)name; (void)len;
  return -1;
#endif
}

static inline __attribute__((always_inline)) int jl_usdt_probe1(const void *name, long len, long s0, uint64_t a0) {
#if JL_HAVE_USDT
  JL_USDT_PREPARE(JL_C(s0));
  if (folded && usable) {
    __asm__ volatile(JL_USDT_ASM("%c[s0]@%[a0]") ::[a0] "r"(a0), [s0] "i"(s0), JL_USDT_COMMON_OPERANDS);
    return 1;
  }
  return 0;
#else
  (void)name; (void)len; (void)s0; (void)a0;
  return -1;
#endif
}

static inline __attribute__((always_inline)) int jl_usdt_probe2(const void *name, long len, long s0, uint64_t a0, long s1, uint64_t a1) {
#if JL_HAVE_USDT
  JL_USDT_PREPARE(JL_C(s0) && JL_C(s1));
  if (folded && usable) {
    __asm__ volatile(JL_USDT_ASM("%c[s0]@%[a0] %c[s1]@%[a1]") ::[a0] "r"(a0), [a1] "r"(a1), [s0] "i"(s0), [s1] "i"(s1),
                     JL_USDT_COMMON_OPERANDS);
    return 1;
  }
  return 0;
#else
  (void)name; (void)len; (void)s0; (void)a0; (void)s1; (void)a1;
  return -1;
#endif
}

static inline __attribute__((always_inline)) int jl_usdt_probe3(const void *name, long len, long s0, uint64_t a0, long s1, uint64_t a1,
                                                                long s2, uint64_t a2) {
#if JL_HAVE_USDT
  JL_USDT_PREPARE(JL_C(s0) && JL_C(s1) && JL_C(s2));
  if (folded && usable) {
    __asm__ volatile(JL_USDT_ASM("%c[s0]@%[a0] %c[s1]@%[a1] %c[s2]@%[a2]") ::[a0] "r"(a0), [a1] "r"(a1), [a2] "r"(a2),
                     [s0] "i"(s0), [s1] "i"(s1), [s2] "i"(s2), JL_USDT_COMMON_OPERANDS);
    return 1;
  }
  return 0;
#else
  (void)name; (void)len; (void)s0; (void)a0; (void)s1; (void)a1; (void)s2; (void)a2;
  return -1;
#endif
}

static inline __attribute__((always_inline)) int jl_usdt_probe4(const void *name, long len, long s0, uint64_t a0, long s1, uint64_t a1,
                                                                long s2, uint64_t a2, long s3, uint64_t a3) {
#if JL_HAVE_USDT
  JL_USDT_PREPARE(JL_C(s0) && JL_C(s1) && JL_C(s2) && JL_C(s3));
  if (folded && usable) {
    __asm__ volatile(JL_USDT_ASM("%c[s0]@%[a0] %c[s1]@%[a1] %c[s2]@%[a2] %c[s3]@%[a3]") ::[a0] "r"(a0), [a1] "r"(a1),
                     [a2] "r"(a2), [a3] "r"(a3), [s0] "i"(s0), [s1] "i"(s1), [s2] "i"(s2), [s3] "i"(s3), JL_USDT_COMMON_OPERANDS);
    return 1;
  }
  return 0;
#else
  (void)name; (void)len; (void)s0; (void)a0; (void)s1; (void)a1; (void)s2; (void)a2; (void)s3; (void)a3;
  return -1;
#endif
}

static inline __attribute__((always_inline)) int jl_usdt_probe5(const void *name, long len, long s0, uint64_t a0, long s1, uint64_t a1,
                                                                long s2, uint64_t a2, long s3, uint64_t a3, long s4, uint64_t a4) {
#if JL_HAVE_USDT
  JL_USDT_PREPARE(JL_C(s0) && JL_C(s1) && JL_C(s2) && JL_C(s3) && JL_C(s4));
  if (folded && usable) {
    __asm__ volatile(JL_USDT_ASM("%c[s0]@%[a0] %c[s1]@%[a1] %c[s2]@%[a2] %c[s3]@%[a3] %c[s4]@%[a4]") ::[a0] "r"(a0),
                     [a1] "r"(a1), [a2] "r"(a2), [a3] "r"(a3), [a4] "r"(a4), [s0] "i"(s0), [s1] "i"(s1), [s2] "i"(s2),
                     [s3] "i"(s3), [s4] "i"(s4), JL_USDT_COMMON_OPERANDS);
    return 1;
  }
  return 0;
#else
  (void)name; (void)len; (void)s0; (void)a0; (void)s1; (void)a1; (void)s2; (void)a2; (void)s3; (void)a3; (void)s4; (void)a4;
  return -1;
#endif
}

static inline __attribute__((always_inline)) int jl_usdt_probe6(const void *name, long len, long s0, uint64_t a0, long s1, uint64_t a1,
                                                                long s2, uint64_t a2, long s3, uint64_t a3, long s4, uint64_t a4,
                                                                long s5, uint64_t a5) {
#if JL_HAVE_USDT
  JL_USDT_PREPARE(JL_C(s0) && JL_C(s1) && JL_C(s2) && JL_C(s3) && JL_C(s4) && JL_C(s5));
  if (folded && usable) {
    __asm__ volatile(JL_USDT_ASM("%c[s0]@%[a0] %c[s1]@%[a1] %c[s2]@%[a2] %c[s3]@%[a3] %c[s4]@%[a4] %c[s5]@%[a5]") ::[a0] "r"(a0),
                     [a1] "r"(a1), [a2] "r"(a2), [a3] "r"(a3), [a4] "r"(a4), [a5] "r"(a5), [s0] "i"(s0), [s1] "i"(s1),
                     [s2] "i"(s2), [s3] "i"(s3), [s4] "i"(s4), [s5] "i"(s5), JL_USDT_COMMON_OPERANDS);
    return 1;
  }
  return 0;
#else
  (void)name; (void)len; (void)s0; (void)a0; (void)s1; (void)a1; (void)s2; (void)a2; (void)s3; (void)a3; (void)s4; (void)a4;
  (void)s5; (void)a5;
  return -1;
#endif
}

#undef JL_C

#endif
