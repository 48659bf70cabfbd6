// Thread rendezvous: make every other thread of the process run a signal
// handler, for the two cases where the int3 + membarrier protocol cannot
// be used.
//
//  - "sync" (hold = 0): each thread executes a serialising instruction
//    (cpuid) in the handler and acknowledges. When every thread has
//    acknowledged, none can still execute instruction bytes it fetched
//    before the rendezvous began. This replaces membarrier(SYNC_CORE) where
//    that is unavailable (old kernels, seccomp).
//  - "park" (hold = 1): each thread acknowledges and then waits in the
//    handler until released. While every other thread is parked, the
//    patcher writes whole instructions with no int3 at all, then releases
//    them; each serialises before returning to its code. Used while a
//    debugger is attached (it would stop on our int3s) or while some thread
//    blocks SIGTRAP (the kernel would kill the process on our int3).
//
// The signal is SIGURG: ignored by default, passed silently by gdb's
// default settings, and not used by Swift's runtime (which takes SIGPROF,
// SIGUSR1 and SIGUSR2 to suspend threads). Our signals carry a magic value
// (rt_tgsigqueueinfo, SI_QUEUE), so a SIGURG from anybody else goes to the
// previous disposition.
//
// Nothing on the patcher's side between the first signal and the release
// allocates or takes a lock: a parked thread may hold the malloc lock.
// Thread ids come from getdents64 on /proc/self/task into static storage.
#define _GNU_SOURCE
#include "ctextpoke.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TP_RV_SIGNAL SIGURG
#define TP_RV_MAGIC 0x5450525600000000ull  // "TPRV" << 32
#define TP_RV_MAX 4096

static _Atomic uint32_t g_gen;       // current rendezvous
static _Atomic uint32_t g_released;  // last generation released
static _Atomic int g_hold;
static struct sigaction g_rv_prev;
static _Atomic int g_rv_installed;

// The threads signalled in this generation, and where each is. A slot's
// word is (generation << 8 | state), so that a handler of an earlier
// generation, still finishing (the patcher does not wait for released
// threads to leave: with more busy threads than CPUs that took a whole
// scheduler time slice), can never change a slot of the current one:
// every transition is a compare-and-swap that names its generation.
// Written by the patcher (one at a time: the patch lock) and by handlers.
#define SLOT_SIGNALLED 0u
#define SLOT_INSIDE 1u  // arrived: in the handler (parked, or serialising)
#define SLOT_LEFT 2u    // finished the handler (a sigreturn away from its code)
#define SLOT_GONE 3u    // exited before arriving: nothing to wait for
static _Atomic long g_tids[TP_RV_MAX];
static _Atomic uint64_t g_slot[TP_RV_MAX];
static _Atomic int g_count;
/// Fault injection (tests only, tp_rendezvous_hold_exit_for_tests): a
/// parked thread that finished the handler stays in it, with the handler's
/// mask, until the next rendezvous begins.
static _Atomic int g_hold_exit;

static uint64_t slot_word(uint32_t gen, unsigned state) { return (uint64_t)gen << 8 | state; }

static int slot_move(int i, uint32_t gen, unsigned from, unsigned to) {
  uint64_t expected = slot_word(gen, from);
  return atomic_compare_exchange_strong(&g_slot[i], &expected, slot_word(gen, to));
}

static int slot_done(int i, uint32_t gen) {
  uint64_t w = atomic_load(&g_slot[i]);
  return (uint32_t)(w >> 8) == gen && (w & 0xFF) != SLOT_SIGNALLED;
}

static inline void serialize(void) {
  unsigned a = 0, b, c = 0, d;
  __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d) : : "memory");
}

static void rv_handler(int sig, siginfo_t *info, void *ctx) {
  int saved = errno;
  uint64_t v = info ? (uint64_t)(uintptr_t)info->si_value.sival_ptr : 0;
  if (info == NULL || info->si_code != SI_QUEUE || (v & 0xFFFFFFFF00000000ull) != TP_RV_MAGIC) {
    // Not ours: the previous disposition. SIGURG's default is to ignore.
    if (g_rv_prev.sa_flags & SA_SIGINFO) g_rv_prev.sa_sigaction(sig, info, ctx);
    else if (g_rv_prev.sa_handler != SIG_DFL && g_rv_prev.sa_handler != SIG_IGN) g_rv_prev.sa_handler(sig);
    errno = saved;
    return;
  }
  uint32_t gen = (uint32_t)v;
  if (gen != atomic_load(&g_gen)) {  // a signal of a rendezvous that gave up
    errno = saved;
    return;
  }
  long me = syscall(SYS_gettid);
  int n = atomic_load(&g_count), mine = -1;
  for (int i = 0; i < n; i++) {
    if (atomic_load(&g_tids[i]) == me && slot_move(i, gen, SLOT_SIGNALLED, SLOT_INSIDE)) {
      mine = i;
      break;
    }
  }
  int parked = atomic_load(&g_hold);
  if (parked) {
    // Parked threads sleep (a futex on g_released), they do not spin: a
    // spinning parked thread would hold its CPU, and with more busy threads
    // than CPUs the patcher, or a thread still to be parked, would wait for
    // the scheduler's next time slice (8 ms per toggle were measured).
    for (;;) {
      uint32_t r = atomic_load(&g_released);
      if ((int32_t)(r - gen) >= 0) break;
      syscall(SYS_futex, &g_released, FUTEX_WAIT_PRIVATE, r, NULL, NULL, 0);
    }
  }
  // Whatever was patched while we were away, the bytes we fetch next are
  // fetched after this.
  serialize();
  if (mine >= 0) slot_move(mine, gen, SLOT_INSIDE, SLOT_LEFT);
  if (parked && mine >= 0 && atomic_load_explicit(&g_hold_exit, memory_order_relaxed)) {
    // The fault: stay between the end of the handler and the sigreturn,
    // as a thread preempted right there behind busy threads does, until
    // the next rendezvous begins, so every scan of the next batch sees us
    // so: the window of the false refusal of #17, made to happen at every
    // batch whatever the load. 200 waits of at most 10 ms: a bound for
    // the last batch of a run, or one refused, which no rendezvous follows.
    for (int i = 0; i < 200 && atomic_load(&g_gen) == gen; i++) {
      struct timespec ts = { .tv_sec = 0, .tv_nsec = 10000000L };
      syscall(SYS_futex, &g_gen, FUTEX_WAIT_PRIVATE, gen, &ts, NULL, 0);
    }
  }
  errno = saved;
}

void tp_rendezvous_hold_exit_for_tests(int on) {
  atomic_store_explicit(&g_hold_exit, on != 0, memory_order_relaxed);
}

int tp_rendezvous_install(void) {
  if (atomic_load(&g_rv_installed)) return 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = rv_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  // Nothing asynchronous runs on top of a parked thread (it might execute a
  // site being written). SIGTRAP and the synchronous faults stay open: a
  // late int3 trap must still be handled, and the before-batch scan of
  // blocked signals must not see a parked thread as blocking SIGTRAP.
  sigfillset(&sa.sa_mask);
  sigdelset(&sa.sa_mask, SIGTRAP);
  sigdelset(&sa.sa_mask, SIGSEGV);
  sigdelset(&sa.sa_mask, SIGBUS);
  sigdelset(&sa.sa_mask, SIGILL);
  sigdelset(&sa.sa_mask, SIGFPE);
  if (sigaction(TP_RV_SIGNAL, NULL, &g_rv_prev) != 0) return errno;
  if (sigaction(TP_RV_SIGNAL, &sa, NULL) != 0) return errno;
  atomic_store(&g_rv_installed, 1);
  return 0;
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int known(long tid) {
  int n = atomic_load(&g_count);
  for (int i = 0; i < n; i++)
    if (atomic_load(&g_tids[i]) == tid) return 1;
  return 0;
}

// Parses a decimal name; -1 if it is not one.
static long parse_tid(const char *s) {
  long v = 0;
  if (*s == 0) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (*s - '0');
  }
  return v;
}

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

// Signals every thread of /proc/self/task not signalled yet. Returns the
// number newly signalled, or -1 (errno) if the table is full.
static int signal_new_threads(uint32_t gen, long self) {
  int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  static char buf[8192];  // patch lock held: one user at a time
  int added = 0;
  pid_t pid = getpid();
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
      off += d->d_reclen;
      long tid = parse_tid(d->d_name);
      if (tid <= 0 || tid == self || known(tid)) continue;
      int i = atomic_load(&g_count);
      if (i >= TP_RV_MAX) {
        close(fd);
        errno = E2BIG;
        return -1;
      }
      atomic_store(&g_tids[i], tid);
      atomic_store(&g_slot[i], slot_word(gen, SLOT_SIGNALLED));
      atomic_store(&g_count, i + 1);
      siginfo_t si;
      memset(&si, 0, sizeof si);
      si.si_signo = TP_RV_SIGNAL;
      si.si_code = SI_QUEUE;
      si.si_pid = pid;
      si.si_uid = getuid();
      si.si_value.sival_ptr = (void *)(uintptr_t)(TP_RV_MAGIC | gen);
      if (syscall(SYS_rt_tgsigqueueinfo, pid, tid, TP_RV_SIGNAL, &si) != 0) {
        slot_move(i, gen, SLOT_SIGNALLED, SLOT_GONE);  // gone already: nothing to wait for
      } else {
        added++;
      }
    }
  }
  close(fd);
  return added;
}

// 1 if /proc/self/task/<tid> still exists.
static int thread_exists(long tid) {
  char path[64] = "/proc/self/task/";
  char digits[24];
  int k = 0;
  do { digits[k++] = (char)('0' + tid % 10); tid /= 10; } while (tid > 0);
  size_t p = strlen(path);
  while (k > 0) path[p++] = digits[--k];
  path[p] = 0;
  return access(path, F_OK) == 0;
}

// Waits until every signalled thread arrived or exited. 0, or the tid of a
// thread that did not arrive within the timeout.
static long wait_arrivals(uint32_t gen, long deadline) {
  for (;;) {
    long missing = 0;
    int n = atomic_load(&g_count);
    for (int i = 0; i < n; i++) {
      if (slot_done(i, gen)) continue;
      long tid = atomic_load(&g_tids[i]);
      if (!thread_exists(tid)) {
        slot_move(i, gen, SLOT_SIGNALLED, SLOT_GONE);
        continue;
      }
      missing = tid;
    }
    if (missing == 0) return 0;
    if (now_ms() > deadline) return missing;
    sched_yield();
  }
}

long tp_rendezvous_begin(int hold, int timeout_ms) {
  long self = syscall(SYS_gettid);
  uint32_t gen = atomic_load(&g_gen) + 1;
  atomic_store(&g_count, 0);
  atomic_store(&g_hold, hold);
  atomic_store(&g_gen, gen);
  if (atomic_load_explicit(&g_hold_exit, memory_order_relaxed))  // the fault's held threads
    syscall(SYS_futex, &g_gen, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
  long deadline = now_ms() + timeout_ms;
  for (;;) {
    int added = signal_new_threads(gen, self);
    if (added < 0) return -1;
    long missing = wait_arrivals(gen, deadline);
    if (missing != 0) return missing;
    // Parked threads cannot create threads; but one may have been created
    // before its creator parked. Look again until nothing new appears.
    if (!hold || added == 0) break;
  }
  if (!hold) serialize();  // and the patcher itself
  return 0;
}

/// Whether every thread that arrived in rendezvous `gen` finished its
/// handler (none is still SLOT_INSIDE).
static int all_left(uint32_t gen) {
  int n = atomic_load(&g_count);
  for (int i = 0; i < n; i++) {
    uint64_t w = atomic_load(&g_slot[i]);
    if ((uint32_t)(w >> 8) == gen && (w & 0xFF) == SLOT_INSIDE) return 0;
  }
  return 1;
}

void tp_rendezvous_end(void) {
  uint32_t gen = atomic_load(&g_gen);
  atomic_store(&g_released, gen);
  syscall(SYS_futex, &g_released, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
  if (atomic_load(&g_hold) && atomic_load_explicit(&g_hold_exit, memory_order_relaxed)) {
    // The fault (tests only): every released thread reaches the end of the
    // handler, where it is held, before the patcher goes on, so the next
    // scan finds each one there, not still waking up (2 s at most).
    long deadline = now_ms() + 2000;
    while (!all_left(gen) && now_ms() < deadline) {
      struct timespec ts = { .tv_sec = 0, .tv_nsec = 100000L };
      nanosleep(&ts, NULL);
    }
  }
  serialize();
  // Not waiting for the released threads to leave the handler: each
  // serialises before it returns to its code, so none can execute a byte
  // fetched before the release; and the generation tags keep a late one
  // from touching the next rendezvous. Late signals of this generation
  // (sync or park) find it released and return at once.
  atomic_store(&g_hold, 0);
}

int tp_rendezvous_is_inside(long tid) {
  uint32_t gen = atomic_load(&g_gen);
  int n = atomic_load(&g_count);
  for (int i = 0; i < n; i++) {
    if (atomic_load(&g_tids[i]) != tid) continue;
    uint64_t w = atomic_load(&g_slot[i]);
    return (uint32_t)(w >> 8) == gen && (w & 0xFF) == SLOT_INSIDE;
  }
  return 0;
}

int tp_rendezvous_answered(long tid) {
  uint32_t gen = atomic_load(&g_gen);
  int n = atomic_load(&g_count);
  for (int i = 0; i < n; i++) {
    if (atomic_load(&g_tids[i]) != tid) continue;
    uint64_t w = atomic_load(&g_slot[i]);
    unsigned state = (unsigned)(w & 0xFF);
    return (uint32_t)(w >> 8) == gen && (state == SLOT_INSIDE || state == SLOT_LEFT);
  }
  return 0;
}

int tp_rendezvous_pwrite_all(int fd, const tp_write *writes, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const tp_write *w = &writes[i];
    ssize_t r = pwrite(fd, w->bytes, w->len, (off_t)w->addr);
    if (r != (ssize_t)w->len) return r < 0 ? errno : EIO;
  }
  return 0;
}
