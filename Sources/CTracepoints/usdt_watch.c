// The USDT watcher: a thread that notices when a tracer (bpftrace, perf,
// SystemTap) attaches to a tracepoint's probe points, and switches the
// tracepoint on for as long as one is attached.
//
// How it notices: every probe point has a 2-byte semaphore in `.probes`
// (jumplabel_usdt.h). A tracer that attaches a uprobe with a reference
// counter makes the kernel increment it, in every process it attaches to,
// and decrement it when the tracer detaches. Nothing tells us when that
// happens, so the watcher reads the semaphores every 50 ms: a tracepoint is
// "traced" while the semaphore of any of its probe points, in any loaded
// image, is non-zero. Several probe points share a name; tools differ in
// which of their semaphores they increment (all of them, or only the
// first one's), and OR-ing covers both.
//
// When a name's traced state differs from the state last applied, the
// watcher calls the Swift side (jl_usdt_tracer_changed, Sources/Tracepoints/
// USDT/USDTWatcher.swift), which increments the tracepoint's key, or
// decrements it with the detach delay: the counting semantics make tracers,
// in-process probes and `jumplabel ctl trace` coexist. A call that fails
// (the engine refuses to patch, say) is retried a second later.
//
// Cost while idle: the wake-up, and a read of each probe point's semaphore
// from a cache of their addresses. The reads happen inside a
// dl_iterate_phdr callback, with the loader's lock held, and only while
// the loader's add and remove counters say that no image came or went
// since the cache was built: so a dlclose never pulls a semaphore away
// from under the read. When the counters moved, the cache is rebuilt from
// every image's program headers. While no loaded image has probe points, the thread
// sleeps until the next image with sites loads (jl_usdt_image_loaded).
//
// Start-up never blocks: the first image load hook only creates the thread
// (in a constructor, with the loader's lock held; the thread takes that
// lock itself only once the constructor has returned). JUMPLABEL_USDT=0
// keeps the watcher from starting. After fork() the child starts its own.
#define _GNU_SOURCE
#include "ctracepoints.h"
#include "jumplabel_usdt.h"

#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// The Swift side (hidden: this copy's own). Returns 1 if the key now
// reflects `traced`, 0 if it should be asked again later.
__attribute__((visibility("hidden"))) extern int32_t jl_usdt_tracer_changed(const void *name, int64_t len, int32_t traced);

#define TICK_NS 50000000ull
#define RETRY_NS 1000000000ull

static atomic_int wanted = -1;    // -1 not read, 0 disabled, 1 enabled
static atomic_int running;        // the thread exists
static _Atomic uint32_t loads;    // bumped per image load: wakes an idle watcher
static _Atomic uint64_t ticks, changes, failures, probe_points;
static _Atomic int64_t thread_cpu_ns;
static _Atomic pthread_t watcher_thread;

typedef struct name_state {
  char *name;
  size_t len;
  int traced;        // seen in this tick
  int applied;       // what the key reflects
  uint64_t retry_at; // after a failed change
} name_state;

// Touched by the watcher thread only.
static name_state *names;
static size_t nnames, names_cap;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static name_state *name_find(const unsigned char *name, size_t len, int create) {
  for (size_t i = 0; i < nnames; i++)
    if (names[i].len == len && memcmp(names[i].name, name, len) == 0) return &names[i];
  if (!create) return NULL;
  if (nnames == names_cap) {
    size_t cap = names_cap ? names_cap * 2 : 16;
    name_state *bigger = realloc(names, cap * sizeof *names);
    if (!bigger) return NULL;
    names = bigger;
    names_cap = cap;
  }
  char *copy = malloc(len ? len : 1);
  if (!copy) return NULL;
  memcpy(copy, name, len);
  names[nnames] = (name_state){.name = copy, .len = len};
  return &names[nnames++];
}

// The `jumplabel_usdt` table of an image, from its note; 0 if none.
static int image_table(struct dl_phdr_info *info, const jl_usdt_entry **start, const jl_usdt_entry **stop) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_NOTE) continue;
    const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
    const unsigned char *end = p + ph->p_memsz;
    while (p + 12 <= end) {
      const uint32_t *h = (const uint32_t *)p;
      uint32_t namesz = h[0], descsz = h[1], type = h[2];
      const unsigned char *nm = p + 12;
      const unsigned char *desc = nm + ((namesz + 3u) & ~3u);
      const unsigned char *next = desc + ((descsz + 3u) & ~3u);
      if (next > end) break;
      if (type == JL_USDT_NOTE_TYPE && namesz == 10 && memcmp(nm, "JumpLabel", 10) == 0 && descsz >= 8) {
        const int32_t *d = (const int32_t *)desc;
        *start = (const jl_usdt_entry *)((const char *)&d[0] + d[0]);
        *stop = (const jl_usdt_entry *)((const char *)&d[1] + d[1]);
        return 1;
      }
      p = next;
    }
  }
  return 0;
}

// The probe points of the loaded images, as of the last walk. Valid while
// the loader's add and remove counters have not moved: an image in the
// cache can be unloaded only after `dlpi_subs` moved. Watcher thread only.
typedef struct cached_point {
  const volatile uint16_t *semaphore;
  const unsigned char *name;
  size_t len;
} cached_point;
static cached_point *cache;
static size_t ncache, cache_cap;
static unsigned long long cache_adds, cache_subs;
static int cache_valid;

static void cache_add(const jl_usdt_entry *e) {
  if (ncache == cache_cap) {
    size_t cap = cache_cap ? cache_cap * 2 : 64;
    cached_point *bigger = realloc(cache, cap * sizeof *cache);
    if (!bigger) return;  // the point is missed until the next rebuild
    cache = bigger;
    cache_cap = cap;
  }
  cache[ncache++] = (cached_point){
      .semaphore = (const volatile uint16_t *)((const char *)&e->semaphore + e->semaphore),
      .name = (const unsigned char *)((const char *)&e->name + e->name),
      .len = (size_t)e->name_len,
  };
}

// Set when this tick read the semaphores (watcher thread only).
static int semaphores_read;

// Marks the names whose semaphores are non-zero. Loader's lock held.
static void read_semaphores(void) {
  semaphores_read = 1;
  for (size_t i = 0; i < ncache; i++) {
    if (*cache[i].semaphore == 0) continue;
    name_state *n = name_find(cache[i].name, cache[i].len, 1);
    if (n) n->traced = 1;
  }
}

// Per image, with the loader's lock held (so no image can be unmapped
// meanwhile). On the first image: if no image was added or removed since
// the cache was built, the cached semaphores are read and the walk stops
// there; otherwise the cache is rebuilt from every image.
static int scan_image(struct dl_phdr_info *info, size_t size, void *data) {
  int *first = data;
  if (*first) {
    *first = 0;
    int counters = size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs;
    if (counters && cache_valid && info->dlpi_adds == cache_adds && info->dlpi_subs == cache_subs) {
      read_semaphores();
      return 1;
    }
    ncache = 0;
    cache_valid = counters;
    if (counters) {
      cache_adds = info->dlpi_adds;
      cache_subs = info->dlpi_subs;
    }
  }
  const jl_usdt_entry *e, *stop;
  if (image_table(info, &e, &stop))
    for (; e < stop; e++) cache_add(e);
  return 0;
}

static void tick(void) {
  for (size_t i = 0; i < nnames; i++) names[i].traced = 0;
  int first = 1;
  // A rebuild reads the semaphores once the walk is complete; it still
  // holds the loader's lock only inside the callbacks, so the reads happen
  // in a second, cheap walk that finds the counters unchanged.
  semaphores_read = 0;
  if (dl_iterate_phdr(scan_image, &first) == 0) {
    first = 1;
    dl_iterate_phdr(scan_image, &first);
  }
  atomic_store_explicit(&probe_points, ncache, memory_order_relaxed);
  // An image came or went between the two walks: nothing was read, and
  // every traced flag is still 0. Applying that would detach every tracer
  // for one tick; the next tick reads them.
  if (!semaphores_read) return;
  uint64_t now = 0;
  for (size_t i = 0; i < nnames; i++) {
    name_state *n = &names[i];
    if (n->traced == n->applied) continue;
    if (!now) now = now_ns();
    if (now < n->retry_at) continue;
    if (jl_usdt_tracer_changed(n->name, (int64_t)n->len, n->traced)) {
      n->applied = n->traced;
      n->retry_at = 0;
      atomic_fetch_add_explicit(&changes, 1, memory_order_relaxed);
    } else {
      n->retry_at = now + RETRY_NS;
      atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
    }
  }
}

static void *watch(void *arg) {
  (void)arg;
  pthread_setname_np(pthread_self(), "jl-usdt-watch");
  // Let the kernel batch this thread's wake-ups with others' (1 ms).
  prctl(PR_SET_TIMERSLACK, 1000000UL, 0, 0, 0);
  clockid_t cpu;
  int have_cpu = pthread_getcpuclockid(pthread_self(), &cpu) == 0;
  for (;;) {
    uint32_t seen = atomic_load(&loads);
    tick();
    atomic_fetch_add_explicit(&ticks, 1, memory_order_relaxed);
    if (have_cpu) {
      struct timespec t;
      if (clock_gettime(cpu, &t) == 0)
        atomic_store_explicit(&thread_cpu_ns, (int64_t)t.tv_sec * 1000000000 + t.tv_nsec, memory_order_relaxed);
    }
    int applied = 0;
    for (size_t i = 0; i < nnames; i++) applied |= names[i].applied | names[i].traced;
    if (atomic_load_explicit(&probe_points, memory_order_relaxed) == 0 && !applied) {
      // Nothing to watch: sleep until an image with sites loads.
      syscall(SYS_futex, &loads, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
      continue;
    }
    struct timespec d = {.tv_sec = 0, .tv_nsec = (long)TICK_NS};
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &d, &d) == EINTR) {}
  }
  return NULL;
}

static void start(void) {
  if (atomic_exchange(&running, 1)) return;
  // Signals the application handles are not delivered here; the ones the
  // patch engine relies on stay open: a thread that blocks SIGTRAP or
  // SIGURG would count as a hazard and slow every toggle down.
  sigset_t all, old;
  sigfillset(&all);
  int keep[] = {SIGTRAP, SIGURG, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS};
  for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) sigdelset(&all, keep[i]);
  // SETMASK, not BLOCK: the creating thread may block SIGURG itself (a
  // Dispatch thread does), and the watcher must not inherit that.
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t t;
  if (pthread_create(&t, &attr, watch, NULL) == 0) {
    atomic_store(&watcher_thread, t);
  } else {
    atomic_store(&running, 0);
  }
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static int is_wanted(void) {
  int w = atomic_load(&wanted);
  if (w < 0) {
    const char *v = getenv("JUMPLABEL_USDT");
    w = !(v && strcmp(v, "0") == 0);
    atomic_store(&wanted, w);
  }
  return w;
}

// The child of a fork has no watcher thread: it gets its own. The names
// table is the parent's copy, with the states the parent had applied to
// the keys the child inherited, so the new watcher decrements what the
// parent's had incremented once the child's semaphores say so.
// JUMPLABEL_USDT_FORK_RESTART=0 (read in the parent, at start-up) leaves
// the child without one: the tests' negative control, which shows that
// without this restart a tracer attached to a child switches nothing on.
static int restart_in_child = 1;

static void after_fork_child(void) {
  atomic_store(&running, 0);
  if (atomic_load(&wanted) == 1 && restart_in_child) start();
}

__attribute__((constructor)) static void install_fork_handler(void) {
  const char *v = getenv("JUMPLABEL_USDT_FORK_RESTART");
  restart_in_child = !(v && strcmp(v, "0") == 0);
  pthread_atfork(0, 0, after_fork_child);
}

// Hidden (here and in ctracepoints.h): no image exports it, so the weak
// reference in runtime.c binds only to this image's own copy, or to 0.
__attribute__((visibility("hidden"))) void jl_usdt_image_loaded(void) {
  if (!is_wanted()) return;
  atomic_fetch_add(&loads, 1);
  syscall(SYS_futex, &loads, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  start();
}

void jl_usdt_watcher_status(jl_usdt_status *out) {
  out->running = atomic_load(&running);
  out->enabled = is_wanted();
  out->ticks = atomic_load_explicit(&ticks, memory_order_relaxed);
  out->changes = atomic_load_explicit(&changes, memory_order_relaxed);
  out->failures = atomic_load_explicit(&failures, memory_order_relaxed);
  out->probe_points = atomic_load_explicit(&probe_points, memory_order_relaxed);
  out->cpu_ns = atomic_load_explicit(&thread_cpu_ns, memory_order_relaxed);
}

// ------------------------------------------------------------- listing

typedef struct list_state {
  jl_usdt_point *out;
  size_t max, count;
} list_state;

static int list_image(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  list_state *s = data;
  const jl_usdt_entry *e, *stop;
  if (!image_table(info, &e, &stop)) return 0;
  for (; e < stop; e++, s->count++) {
    if (s->count >= s->max) continue;
    jl_usdt_point *p = &s->out[s->count];
    p->pc = (uintptr_t)((const char *)&e->pc + e->pc);
    p->semaphore = (uintptr_t)((const char *)&e->semaphore + e->semaphore);
    p->semaphore_value = *(const volatile uint16_t *)p->semaphore;
    p->name = (const char *)&e->name + e->name;
    p->name_len = (int64_t)e->name_len;
    p->image_base = info->dlpi_addr;
  }
  return 0;
}

size_t jl_usdt_list(jl_usdt_point *out, size_t max) {
  list_state s = {.out = out, .max = max};
  dl_iterate_phdr(list_image, &s);
  return s.count;
}
