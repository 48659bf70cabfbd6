// Valgrind: the program runs on a JIT (valgrind's translations of its
// code), not on the CPU directly. A write to the text changes memory but not
// the translation that threads keep executing, so without help every toggle
// is a silent no-op (seen: `valgrind --tool=none`), and an int3 written
// through /proc/self/mem reaches threads only by chance (seen with
// --smc-check=all: crashes at the site).
//
// Valgrind offers "client requests": a magic instruction sequence that is a
// no-op on a real CPU (four rotations of %rdi by 3+13+61+51 = 128 bits, then
// xchg %rbx,%rbx) and that valgrind's JIT recognises. %rax points at the
// request and its arguments, %rdx holds the default result, and valgrind
// puts its answer in %rdx. The request numbers are part of valgrind's
// public client-request ABI.
//
// Under valgrind only one thread runs guest code at a time, and threads are
// switched only between superblocks (or in system calls). So the engine
// writes each whole instruction with stores in one straight-line block
// (tp_store_exact), which no other thread can observe half done, and then
// asks valgrind to discard every translation of those bytes: the next
// execution translates the new instruction.
#include "ctextpoke.h"

#include <string.h>

#define TP_VG_RUNNING_ON_VALGRIND 0x1001u
#define TP_VG_DISCARD_TRANSLATIONS 0x1002u

static uintptr_t client_request(uintptr_t deflt, uintptr_t request, uintptr_t a1, uintptr_t a2) {
  volatile uintptr_t args[6] = {request, a1, a2, 0, 0, 0};
  uintptr_t result = deflt;
  __asm__ volatile(
      "rolq $3, %%rdi\n\t"
      "rolq $13, %%rdi\n\t"
      "rolq $61, %%rdi\n\t"
      "rolq $51, %%rdi\n\t"
      "xchgq %%rbx, %%rbx"
      : "+d"(result)
      : "a"(&args[0])
      : "cc", "memory");
  return result;
}

int tp_valgrind_running(void) { return client_request(0, TP_VG_RUNNING_ON_VALGRIND, 0, 0) != 0; }

void tp_valgrind_discard(uintptr_t addr, size_t len) {
  (void)client_request(0, TP_VG_DISCARD_TRANSLATIONS, addr, len);
}

// Every store below is unconditional once the length is known: the bytes
// are written by one straight-line block (two possibly overlapping stores
// that each stay inside [dst, dst + len)).
void tp_store_exact(uintptr_t dst, const uint8_t *src, size_t len) {
  volatile uint8_t *d = (volatile uint8_t *)dst;
  if (len >= 8) {
    uint64_t a, b;
    memcpy(&a, src, 8);
    memcpy(&b, src + len - 8, 8);
    *(volatile uint64_t *)d = a;
    *(volatile uint64_t *)(d + len - 8) = b;
  } else if (len >= 4) {
    uint32_t a, b;
    memcpy(&a, src, 4);
    memcpy(&b, src + len - 4, 4);
    *(volatile uint32_t *)d = a;
    *(volatile uint32_t *)(d + len - 4) = b;
  } else if (len >= 2) {
    uint16_t a, b;
    memcpy(&a, src, 2);
    memcpy(&b, src + len - 2, 2);
    *(volatile uint16_t *)d = a;
    *(volatile uint16_t *)(d + len - 2) = b;
  } else if (len == 1) {
    *d = src[0];
  }
}
