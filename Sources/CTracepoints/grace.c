// The grace period of the tracepoint probe lists: user-space RCU with
// counters, in the style of the kernel's SRCU.
//
// Emitters (readers) take no lock. A writer (attach, detach) builds a new
// immutable probe list and publishes it with one pointer store; a detach
// then waits for a grace period (tpx_grace_wait) before it returns and
// releases the old list. After that no emitter can still be calling a
// probe that the new list no longer has.
//
// Readers: load the epoch, add 1 to their stripe's counter for the
// epoch's parity (a seq_cst read-modify-write), load the list, call the
// probes, subtract 1. Sixteen stripes, each on its own cache line, so that
// threads on different CPUs rarely share a counter.
//
// Writer: after its pointer store, flip the epoch and wait until the
// counters of the parity that was current are all zero; then flip and wait
// once more. Why that is enough: a reader whose increment the writer's
// check did not see comes after that check in the single total order of
// seq_cst operations, so after the writer's pointer store: its load finds
// the new list. A reader that loaded the epoch before the previous flip
// and counts in the other parity is waited for by the second flip. (One
// flip is not enough: such a late reader could hold the list published
// between two writers, counted where the first wait no longer looks.)
//
// A thread's own sections are excluded from the wait (its per-thread
// counts, below), or a probe that detaches itself would wait for itself.
#define _GNU_SOURCE
#include "ctracepoints.h"

#include <sched.h>
#include <stdatomic.h>

#define STRIPES 16

struct stripe {
  _Atomic long count[2];
  char pad[64 - 2 * sizeof(long)];
} __attribute__((aligned(64)));

static struct stripe stripes[STRIPES];
static _Atomic unsigned long epoch;
static _Atomic unsigned next_stripe;

// Per thread: its stripe (0 until assigned, then index + 1) and how many
// of its own sections are open in each parity.
static __thread unsigned my_stripe __attribute__((tls_model("initial-exec")));
static __thread long my_open[2] __attribute__((tls_model("initial-exec")));

static unsigned stripe_of_this_thread(void) {
  unsigned s = my_stripe;
  if (s == 0) {
    s = atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) % STRIPES + 1;
    my_stripe = s;
  }
  return s - 1;
}

unsigned tpx_grace_enter(void) {
  unsigned s = stripe_of_this_thread();
  unsigned p = (unsigned)(atomic_load_explicit(&epoch, memory_order_relaxed) & 1);
  // Counted before the list is loaded (seq_cst, which also orders the
  // caller's later load of the list after it).
  atomic_fetch_add_explicit(&stripes[s].count[p], 1, memory_order_seq_cst);
  my_open[p]++;
  return s << 1 | p;
}

void tpx_grace_exit(unsigned token) {
  unsigned s = token >> 1, p = token & 1;
  my_open[p]--;
  // Release: the section's reads of the old list happen before.
  atomic_fetch_sub_explicit(&stripes[s].count[p], 1, memory_order_release);
}

static uint64_t wait_parity(unsigned p) {
  uint64_t yields = 0;
  unsigned mine = my_stripe ? my_stripe - 1 : STRIPES;
  for (unsigned s = 0; s < STRIPES; s++) {
    long own = s == mine ? my_open[p] : 0;
    while (atomic_load_explicit(&stripes[s].count[p], memory_order_seq_cst) != own) {
      sched_yield();
      yields++;
    }
  }
  return yields;
}

uint64_t tpx_grace_wait(void) {
  uint64_t yields = 0;
  for (int round = 0; round < 2; round++) {
    unsigned long e = atomic_fetch_add_explicit(&epoch, 1, memory_order_seq_cst);
    yields += wait_parity((unsigned)(e & 1));
  }
  return yields;
}
