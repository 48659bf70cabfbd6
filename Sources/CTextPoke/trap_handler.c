// The SIGTRAP handler of the TextPoke engine, and the batch it reads.
//
// Runs in signal context on any thread, at any time, possibly nested inside
// another handler. It therefore uses only lock-free C11 atomics, reads of
// memory that is never freed while it can be reached, and async-signal-safe
// system calls (sigaction, sigprocmask, raise, sched_yield).
//
// ## The seed's question: when may the batch be freed?
//
// In 2009 the kernel cleared `patch_fixup_from` after the last sync and
// relied on interrupts being off inside an int3 handler: the last cross-CPU
// call could not complete while a handler was still running. User space has
// nothing like that: a signal handler is ordinary code that can be preempted
// for as long as the scheduler likes, between any two of its instructions.
// A handler that has just loaded the batch pointer can run again after the
// patcher returned, freed the array and started the next batch.
//
// The answer here is a reference count, g_refs, that guards the batch:
//  - the patcher fills g_sites/g_nsites while g_refs == 0, then stores
//    g_refs = 1 (release): that one store publishes the batch;
//  - a handler takes a reference with an increment that refuses 0
//    (inc-not-zero) *before* it touches g_sites, and drops it when done;
//  - to retire, the patcher drops its own reference and spins until g_refs
//    is 0 again. Only then may the array be freed or reused.
// A handler that found g_refs == 0 never reads g_sites, and no handler can
// take a new reference once the count reached 0, because only the patcher
// moves it away from 0 (under the patch lock, in tp_batch_publish). So no
// handler ever reads an array that has been freed or refilled. The spin is
// usually empty: the last membarrier already waited for every running thread.
// The Promela model in Model/ checks this argument, including a variant
// without the wait, which it catches.
//
// ## Late ("stale") traps
//
// A thread can fetch the int3, be preempted before its handler looks at the
// batch, and find on resumption that the batch is gone and the first byte is
// the new instruction again. Such a thread must simply execute the site
// again: rewind the instruction pointer by one. To never do that to somebody
// else's int3, the rewind happens only when (a) the trap came from an int3
// (si_code == SI_KERNEL), (b) the address is one we have patched at some
// time (g_hist), and (c) the byte there is no longer 0xCC.
#define _GNU_SOURCE
#include "ctextpoke.h"

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

// ---------------------------------------------------------------- batch

static _Atomic(const tp_site *) g_sites;
static _Atomic size_t g_nsites;
static _Atomic unsigned long g_refs;
// Odd while a batch is being published, in flight or being retired.
static _Atomic unsigned long g_seq;

static _Atomic uint64_t g_emulated, g_stale, g_retried, g_foreign;

void tp_batch_publish(const tp_site *sites, size_t n) {
  atomic_fetch_add(&g_seq, 1);  // -> odd
  atomic_store_explicit(&g_sites, sites, memory_order_relaxed);
  atomic_store_explicit(&g_nsites, n, memory_order_relaxed);
  // Release: a handler whose inc-not-zero reads this 1 also reads the
  // array pointer, its length, and the array contents written before.
  atomic_store_explicit(&g_refs, 1, memory_order_release);
}

uint64_t tp_batch_retire(void) {
  uint64_t yields = 0;
  atomic_fetch_sub(&g_refs, 1);
  // Wait for every handler that took a reference. Acquire pairs with the
  // handlers' release decrement: their reads of the array happen before.
  while (atomic_load_explicit(&g_refs, memory_order_acquire) != 0) {
    sched_yield();
    yields++;
  }
  atomic_store_explicit(&g_sites, NULL, memory_order_relaxed);
  atomic_store_explicit(&g_nsites, 0, memory_order_relaxed);
  atomic_fetch_add(&g_seq, 1);  // -> even
  return yields;
}

static int batch_get(void) {
  unsigned long r = atomic_load_explicit(&g_refs, memory_order_relaxed);
  do {
    if (r == 0) return 0;
  } while (!atomic_compare_exchange_weak_explicit(
      &g_refs, &r, r + 1, memory_order_acquire, memory_order_relaxed));
  return 1;
}

static void batch_put(void) {
  atomic_fetch_sub_explicit(&g_refs, 1, memory_order_release);
}

// Binary search in the published batch. Caller holds a reference.
static const tp_site *batch_find(uintptr_t addr) {
  const tp_site *s = atomic_load_explicit(&g_sites, memory_order_relaxed);
  size_t lo = 0, hi = atomic_load_explicit(&g_nsites, memory_order_relaxed);
  if (s == NULL) return NULL;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s[mid].addr == addr) return &s[mid];
    if (s[mid].addr < addr) lo = mid + 1; else hi = mid;
  }
  return NULL;
}

// -------------------------------------------------------------- history

// Every address ever patched: open addressing, linear probing. Written
// only by the patch lock holder; read by handlers with acquire loads. 0
// means empty; TP_HIST_GONE marks an address forgotten because its image
// was unloaded (probing goes on past it, and an insertion may reuse it).
//
// The table grows without limit (there was a cap of 49,152 sites): when it
// is three quarters full, the patcher allocates one twice as large, copies
// the live addresses into it and publishes it with a release store. A
// handler may still be probing the old table: old tables are never freed
// (a geometric series: all of them together are smaller than the current
// one), so a handler never reads freed memory, and the old table still
// holds every address it held.
#define TP_HIST_GONE ((uintptr_t)1)
#define TP_HIST_FIRST_BITS 12

typedef struct hist_table {
  unsigned bits;
  size_t used;  // slots ever taken (live or gone); patch lock only
  struct hist_table *older;
  _Atomic uintptr_t slots[];
} hist_table;

static _Atomic(hist_table *) g_hist;

static size_t hist_slot(uintptr_t addr, unsigned bits) {
  return (size_t)((addr * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

static hist_table *hist_new(unsigned bits) {
  hist_table *t = calloc(1, sizeof(hist_table) + ((size_t)1 << bits) * sizeof(_Atomic uintptr_t));
  if (t) t->bits = bits;
  return t;
}

// Inserts into `t`, which has room. Patch lock held.
static void hist_insert(hist_table *t, uintptr_t addr) {
  size_t mask = ((size_t)1 << t->bits) - 1, reuse = mask + 1;
  for (size_t i = hist_slot(addr, t->bits);; i = (i + 1) & mask) {
    uintptr_t v = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
    if (v == addr) return;
    if (v == TP_HIST_GONE && reuse > mask) reuse = i;
    if (v == 0) {
      if (reuse > mask) {
        t->used++;
        reuse = i;
      }
      atomic_store_explicit(&t->slots[reuse], addr, memory_order_release);
      return;
    }
  }
}

int tp_history_add(uintptr_t addr) {
  if (addr <= TP_HIST_GONE) return -1;
  hist_table *t = atomic_load_explicit(&g_hist, memory_order_relaxed);
  if (t == NULL) {
    t = hist_new(TP_HIST_FIRST_BITS);
    if (t == NULL) return -1;
    atomic_store_explicit(&g_hist, t, memory_order_release);
  }
  if (tp_history_contains(addr)) return 0;
  size_t cap = (size_t)1 << t->bits;
  if (t->used + 1 > cap / 4 * 3) {
    hist_table *bigger = hist_new(t->bits + 1);
    if (bigger == NULL) return -1;
    for (size_t i = 0; i < cap; i++) {
      uintptr_t v = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
      if (v > TP_HIST_GONE) hist_insert(bigger, v);
    }
    bigger->older = t;
    // Release: a handler that loads the new table sees its contents.
    atomic_store_explicit(&g_hist, bigger, memory_order_release);
    t = bigger;
  }
  hist_insert(t, addr);
  return 0;
}

int tp_history_contains(uintptr_t addr) {
  hist_table *t = atomic_load_explicit(&g_hist, memory_order_acquire);
  if (t == NULL) return 0;
  size_t mask = ((size_t)1 << t->bits) - 1;
  for (size_t i = hist_slot(addr, t->bits);; i = (i + 1) & mask) {
    uintptr_t v = atomic_load_explicit(&t->slots[i], memory_order_acquire);
    if (v == addr) return 1;
    if (v == 0) return 0;
  }
}

size_t tp_history_forget(uintptr_t lo, uintptr_t hi) {
  hist_table *t = atomic_load_explicit(&g_hist, memory_order_relaxed);
  if (t == NULL) return 0;
  size_t n = 0, cap = (size_t)1 << t->bits;
  for (size_t i = 0; i < cap; i++) {
    uintptr_t v = atomic_load_explicit(&t->slots[i], memory_order_relaxed);
    if (v > TP_HIST_GONE && v >= lo && v < hi) {
      atomic_store_explicit(&t->slots[i], TP_HIST_GONE, memory_order_release);
      n++;
    }
  }
  return n;
}

size_t tp_history_capacity(void) {
  hist_table *t = atomic_load_explicit(&g_hist, memory_order_relaxed);
  return t ? (size_t)1 << t->bits : 0;
}

// -------------------------------------------------------------- chaining

// The dispositions we replaced, newest last. Slots are written once, before
// the sigaction() that makes them reachable, and never rewritten, so a
// handler never reads a slot that is being written.
#define TP_PREV_SLOTS 8
static struct sigaction g_prev[TP_PREV_SLOTS];
static _Atomic int g_prev_count;

static void tp_trap(int sig, siginfo_t *info, void *vctx);

int tp_handler_is_installed(void) {
  struct sigaction cur;
  if (sigaction(SIGTRAP, NULL, &cur) != 0) return 0;
  return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == tp_trap;
}

int tp_handler_ensure_installed(void) {
  struct sigaction cur, ours;
  if (sigaction(SIGTRAP, NULL, &cur) != 0) return errno;
  if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == tp_trap) return 0;
  int n = atomic_load(&g_prev_count);
  if (n >= TP_PREV_SLOTS) return EBUSY;
  g_prev[n] = cur;
  atomic_store(&g_prev_count, n + 1);  // before ours becomes reachable
  memset(&ours, 0, sizeof ours);
  ours.sa_sigaction = tp_trap;
  // SA_NODEFER: SIGTRAP stays unblocked while our handler runs. Otherwise
  // a thread inside the handler (a slow late trap) would look, to the
  // before-batch scan of /proc/self/task/*/status, like a thread that
  // blocks SIGTRAP. Foreign handlers still run with SIGTRAP blocked (chain).
  ours.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK | SA_NODEFER;
  // Every asynchronous signal is held off while the handler runs. A
  // handler holds a reference on the patcher's batch for a few
  // instructions, and the patcher waits for that reference (retire) while
  // holding its locks: a signal handler nested here that made a control
  // call would wait for those locks, and the patcher for it, forever. The
  // synchronous signals stay open (they cannot be held off anyway).
  sigfillset(&ours.sa_mask);
  sigdelset(&ours.sa_mask, SIGTRAP);
  sigdelset(&ours.sa_mask, SIGSEGV);
  sigdelset(&ours.sa_mask, SIGBUS);
  sigdelset(&ours.sa_mask, SIGILL);
  sigdelset(&ours.sa_mask, SIGFPE);
  sigdelset(&ours.sa_mask, SIGSYS);
  sigdelset(&ours.sa_mask, SIGABRT);
  if (sigaction(SIGTRAP, &ours, NULL) != 0) return errno;
  return 0;
}

// Hands a trap that is not ours to the disposition we replaced.
static void chain(int sig, siginfo_t *info, void *vctx) {
  atomic_fetch_add_explicit(&g_foreign, 1, memory_order_relaxed);
  int n = atomic_load(&g_prev_count);
  struct sigaction *prev = n > 0 ? &g_prev[n - 1] : NULL;
  if (prev == NULL || (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler == SIG_DFL)) {
    // Default action: restore it and re-raise, which kills the process as
    // the trap would have without us.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGTRAP, &dfl, NULL);
    raise(SIGTRAP);
    return;
  }
  if (!(prev->sa_flags & SA_SIGINFO) && prev->sa_handler == SIG_IGN) return;

  // Run it with the mask the kernel would have given it: the interrupted
  // code's mask, plus its sa_mask, plus SIGTRAP itself unless it asked for
  // SA_NODEFER (not ours, which holds off every asynchronous signal).
  sigset_t old, mask = prev->sa_mask;
  ucontext_t *uc = (ucontext_t *)vctx;
  if (uc != NULL) {
    for (int s = 1; s < NSIG; s++)
      if (sigismember(&uc->uc_sigmask, s) == 1) sigaddset(&mask, s);
  }
  if (!(prev->sa_flags & SA_NODEFER)) sigaddset(&mask, SIGTRAP);
  pthread_sigmask(SIG_SETMASK, &mask, &old);
  if (prev->sa_flags & SA_SIGINFO) prev->sa_sigaction(sig, info, vctx);
  else prev->sa_handler(sig);
  pthread_sigmask(SIG_SETMASK, &old, NULL);

  // A crash handler (Swift's among them) resets the disposition to the
  // default and returns, expecting the faulting instruction to fault again.
  // An int3 does not fault again: the instruction pointer is already past
  // it. Re-raise, so the default action still happens.
  if (info != NULL && info->si_code == SI_KERNEL) {
    struct sigaction cur;
    if (sigaction(SIGTRAP, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
        cur.sa_handler == SIG_DFL)
      raise(SIGTRAP);
  }
}

// --------------------------------------------------------------- handler

static void tp_trap(int sig, siginfo_t *info, void *vctx) {
  int saved_errno = errno;
  ucontext_t *uc = (ucontext_t *)vctx;
  if (info == NULL || uc == NULL || info->si_code != SI_KERNEL) {
    chain(sig, info, vctx);
    errno = saved_errno;
    return;
  }
  // After an int3 the instruction pointer is one past the 0xCC byte.
  uintptr_t at = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP] - 1;

  for (;;) {
    unsigned long seq_before = atomic_load(&g_seq);
    if (batch_get()) {
      const tp_site *s = batch_find(at);
      uintptr_t resume = s ? s->resume : 0;
      batch_put();
      if (s != NULL) {
        uc->uc_mcontext.gregs[REG_RIP] = (greg_t)resume;
        atomic_fetch_add_explicit(&g_emulated, 1, memory_order_relaxed);
        errno = saved_errno;
        return;
      }
    }
    if (!tp_history_contains(at)) break;  // never ours: somebody else's int3
    if (*(volatile const uint8_t *)at != 0xCC) {
      // A late trap: the patch that put the int3 here has finished.
      uc->uc_mcontext.gregs[REG_RIP] = (greg_t)at;
      atomic_fetch_add_explicit(&g_stale, 1, memory_order_relaxed);
      errno = saved_errno;
      return;
    }
    // 0xCC on one of our sites but not in the batch we saw: either a batch
    // was being published or retired while we looked (retry), or nobody is
    // patching and the 0xCC is somebody else's breakpoint (chain).
    unsigned long seq_after = atomic_load(&g_seq);
    if (seq_before == seq_after && (seq_after & 1) == 0) break;
    atomic_fetch_add_explicit(&g_retried, 1, memory_order_relaxed);
    sched_yield();
  }
  chain(sig, info, vctx);
  errno = saved_errno;
}

void tp_counters_read(tp_counters *out) {
  out->emulated = atomic_load_explicit(&g_emulated, memory_order_relaxed);
  out->stale = atomic_load_explicit(&g_stale, memory_order_relaxed);
  out->retried = atomic_load_explicit(&g_retried, memory_order_relaxed);
  out->foreign = atomic_load_explicit(&g_foreign, memory_order_relaxed);
}

long tp_membarrier(int cmd, unsigned int flags, int cpu_id) {
  return syscall(__NR_membarrier, cmd, flags, cpu_id);
}

long tp_gettid(void) { return syscall(__NR_gettid); }

int tp_dladdr(const void *addr, const char **image, const char **symbol, uintptr_t *symbol_addr) {
  Dl_info info;
  if (dladdr(addr, &info) == 0) return 0;
  *image = info.dli_fname;
  *symbol = info.dli_sname;
  *symbol_addr = (uintptr_t)info.dli_saddr;
  return 1;
}
