#define _GNU_SOURCE
#include "cbench.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SYNC_CORE (1 << 5)

int bench_floor_once(int fd, uintptr_t addr) {
  uint8_t b = *(volatile const uint8_t *)addr;
  for (int i = 0; i < 3; i++) {
    if (pwrite(fd, &b, 1, (off_t)addr) != 1) return errno;
    if (syscall(SYS_membarrier, SYNC_CORE, 0, 0) != 0) return errno;
  }
  return 0;
}

int bench_three_syncs(void) {
  for (int i = 0; i < 3; i++)
    if (syscall(SYS_membarrier, SYNC_CORE, 0, 0) != 0) return errno;
  return 0;
}

static int protect(uintptr_t addr, size_t len, int prot) {
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t start = addr & ~(page - 1), end = (addr + len + page - 1) & ~(page - 1);
  return mprotect((void *)start, end - start, prot) == 0 ? 0 : errno;
}

int bench_rwx(uintptr_t addr, size_t len) { return protect(addr, len, PROT_READ | PROT_WRITE | PROT_EXEC); }

int bench_rx(uintptr_t addr, size_t len) { return protect(addr, len, PROT_READ | PROT_EXEC); }

void bench_rust_style_patch(uintptr_t addr, const uint8_t *rep) {
  if ((addr & 7) + 5 <= 8) {
    _Atomic uint64_t *word = (_Atomic uint64_t *)(addr & ~(uintptr_t)7);
    uint64_t old = atomic_load_explicit(word, memory_order_relaxed), next = old;
    memcpy((uint8_t *)&next + (addr & 7), rep, 5);
    atomic_store_explicit(word, next, memory_order_release);
  } else {
    volatile uint8_t *p = (volatile uint8_t *)addr;
    *(volatile uint16_t *)p = 0xFEEB;  // jmp .
    for (int i = 2; i < 5; i++) p[i] = rep[i];
    uint16_t head;
    memcpy(&head, rep, 2);
    *(volatile uint16_t *)p = head;
  }
  syscall(SYS_membarrier, SYNC_CORE, 0, 0);
}

#include <pthread.h>
#include <signal.h>

void jl_bench_block_sigtrap(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTRAP);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
}

#include <malloc.h>

size_t bench_heap_in_use(void) { return mallinfo2().uordblks; }
