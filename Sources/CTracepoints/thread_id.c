// The calling thread's id for event records, without a system call per
// event: gettid() once per thread, cached in initial-exec TLS (one load,
// async-signal-safe). fork() gives the surviving thread a new id: a
// generation bumped in the child makes every cache stale.
#define _GNU_SOURCE
#include "ctracepoints.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic unsigned generation = 1;
static __thread unsigned cached_generation __attribute__((tls_model("initial-exec")));
static __thread int32_t cached_tid __attribute__((tls_model("initial-exec")));

static void bump_generation(void) { atomic_fetch_add(&generation, 1); }

__attribute__((constructor)) static void install_fork_handler(void) { pthread_atfork(0, 0, bump_generation); }

int32_t tpx_thread_id(void) {
  unsigned g = atomic_load_explicit(&generation, memory_order_relaxed);
  if (cached_generation != g) {
    cached_tid = (int32_t)syscall(SYS_gettid);
    cached_generation = g;
  }
  return cached_tid;
}

int64_t tpx_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
