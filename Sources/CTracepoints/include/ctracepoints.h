// CTracepoints: the parts of the tracepoint runtime that must be C.
//
// - the grace period that lets `detach()` promise that a probe is never
//   called after it returns, while emitting threads take no lock
//   (grace.c);
// - the calling thread's kernel thread id, cached per thread, for event
//   records (thread_id.c);
// - the ring buffer sink's storage (ring.c);
// - the USDT watcher, which switches a tracepoint on while a tracer is
//   attached to its probe points (usdt_watch.c; the probe points
//   themselves are in jumplabel_usdt.h).
//
// Everything is hidden: each image that links a copy has its own.
#ifndef CTRACEPOINTS_H
#define CTRACEPOINTS_H

#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

/// Enters a read-side section (an emit): until the matching
/// `tpx_grace_exit(token)`, a writer's `tpx_grace_wait()` waits for it.
/// Lock-free: one atomic add on a counter shared by a sixteenth of the
/// threads. Async-signal-safe; sections nest.
unsigned tpx_grace_enter(void);

/// Leaves the section entered with `token`.
void tpx_grace_exit(unsigned token);

/// Waits until every read-side section that began before the call has
/// ended, except those of the calling thread (a probe that detaches
/// itself, or a detach in a signal handler that interrupted an emit). The
/// caller publishes its change first; writers are serialised by the caller.
/// Returns the number of times it had to yield.
uint64_t tpx_grace_wait(void);

/// The calling thread's kernel thread id (gettid), cached per thread and
/// renewed in a forked child.
int32_t tpx_thread_id(void);

/// CLOCK_REALTIME in nanoseconds since the epoch.
int64_t tpx_now_ns(void);

/// One record of the ring buffer sink (ring.c), without its payload.
typedef struct tpx_ring_record {
  int64_t timestamp;    ///< ns since the epoch
  uintptr_t list;       ///< the tracepoint (its immortal probe list)
  uintptr_t codec;      ///< the payload type (its immortal codec)
  int32_t thread_id;
  uint32_t kind;        ///< 0: the payload's own bytes; 1: its JSON
  uint32_t length;      ///< payload bytes stored
  uint32_t truncated;   ///< 1 if the payload was longer than a slot
} tpx_ring_record;

typedef struct tpx_ring tpx_ring;

/// A ring of at least `capacity` records (rounded up to a power of two) of
/// up to `payload_capacity` payload bytes each; null if out of memory.
tpx_ring *tpx_ring_create(uint32_t capacity, uint32_t payload_capacity);
void tpx_ring_destroy(tpx_ring *r);
/// Writes one record (any thread, never waits, never allocates).
void tpx_ring_write(tpx_ring *r, const tpx_ring_record *header, const void *payload, uint32_t length);
/// Reads up to `max` records, oldest first, into `headers` and `payloads`
/// (`max` slots of `payload_capacity` bytes). One reader at a time.
uint32_t tpx_ring_read(tpx_ring *r, tpx_ring_record *headers, unsigned char *payloads, uint32_t max);
/// Records lost to overwriting, as the reader has found so far.
uint64_t tpx_ring_dropped(const tpx_ring *r);
/// Records ever written.
uint64_t tpx_ring_written(tpx_ring *r);
uint32_t tpx_ring_payload_capacity(const tpx_ring *r);

/// The USDT watcher's counters (usdt_watch.c).
typedef struct jl_usdt_status {
  int32_t running;        ///< the thread exists
  int32_t enabled;        ///< JUMPLABEL_USDT is not 0
  uint64_t ticks;         ///< polls so far
  uint64_t changes;       ///< keys incremented or decremented for tracers
  uint64_t failures;      ///< changes refused (retried a second later)
  uint64_t probe_points;  ///< probe points in the images seen by the last poll
  int64_t cpu_ns;         ///< the watcher thread's CPU time at its last poll
} jl_usdt_status;

/// Reads the watcher's counters.
void jl_usdt_watcher_status(jl_usdt_status *out);

/// Called by the primary runtime's load hook for every image with sites
/// (a weak reference in Sources/CJumpLabel/runtime.c): starts the watcher
/// once, and wakes it if it sleeps for want of probe points. Hidden: no
/// image exports it.
__attribute__((visibility("hidden"))) void jl_usdt_image_loaded(void);

/// One probe point of a loaded image, as `jl_usdt_list` reports it.
typedef struct jl_usdt_point {
  uintptr_t pc;              ///< the probe's NOP
  uintptr_t semaphore;       ///< its semaphore
  uint16_t semaphore_value;  ///< the semaphore when listed
  const void *name;          ///< the tracepoint's name (not NUL-terminated)
  int64_t name_len;
  uintptr_t image_base;      ///< the image's load bias
} jl_usdt_point;

/// Writes up to `max` probe points of every loaded image into `out`;
/// returns how many there are (call again with a larger buffer if more).
size_t jl_usdt_list(jl_usdt_point *out, size_t max);

#pragma GCC visibility pop

#endif
