// The ring buffer sink's storage: a bounded array of fixed-size records
// that emitting threads write concurrently and one reader drains.
//
// Writers never wait: each claims the next index with one atomic add and
// writes the slot at index % capacity under a sequence word (a seqlock):
// odd while the record is being written, 2 * index + 2 once it is
// complete. When writers get more than `capacity` records ahead of the
// reader, they overwrite the oldest ones; the reader sees a slot whose
// sequence is not the one it expects and counts that record as dropped.
// Two writers a whole lap apart can race on one slot; the sequence check
// then rejects it as well. Nothing is ever written outside a slot.
#include "ctracepoints.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct tpx_ring {
  uint32_t capacity;  // a power of two
  uint32_t payload_capacity;
  size_t slot_size;
  _Atomic uint64_t head;   // next index to claim
  uint64_t tail;           // next index to read (the reader's)
  uint64_t dropped;        // the reader's count
  unsigned char *slots;
};

typedef struct slot {
  _Atomic uint64_t seq;
  tpx_ring_record header;
  unsigned char payload[];
} slot;

tpx_ring *tpx_ring_create(uint32_t capacity, uint32_t payload_capacity) {
  uint32_t c = 1;
  while (c < capacity && c < (1u << 24)) c <<= 1;
  tpx_ring *r = calloc(1, sizeof *r);
  if (!r) return 0;
  r->capacity = c;
  r->payload_capacity = payload_capacity;
  r->slot_size = (sizeof(slot) + payload_capacity + 63) & ~(size_t)63;
  r->slots = calloc(c, r->slot_size);
  if (!r->slots) {
    free(r);
    return 0;
  }
  return r;
}

void tpx_ring_destroy(tpx_ring *r) {
  if (!r) return;
  free(r->slots);
  free(r);
}

static slot *slot_at(tpx_ring *r, uint64_t i) { return (slot *)(r->slots + (i & (r->capacity - 1)) * r->slot_size); }

void tpx_ring_write(tpx_ring *r, const tpx_ring_record *header, const void *payload, uint32_t length) {
  uint64_t i = atomic_fetch_add_explicit(&r->head, 1, memory_order_relaxed);
  slot *s = slot_at(r, i);
  atomic_store_explicit(&s->seq, 2 * i + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);  // odd before the data
  uint32_t n = length < r->payload_capacity ? length : r->payload_capacity;
  s->header = *header;
  s->header.length = n;
  s->header.truncated = length > n;
  memcpy(s->payload, payload, n);
  atomic_store_explicit(&s->seq, 2 * i + 2, memory_order_release);  // data before even
}

uint32_t tpx_ring_read(tpx_ring *r, tpx_ring_record *headers, unsigned char *payloads, uint32_t max) {
  uint32_t got = 0;
  uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
  if (head - r->tail > r->capacity) {  // lapped: the oldest are gone
    r->dropped += head - r->tail - r->capacity;
    r->tail = head - r->capacity;
  }
  while (got < max && r->tail < head) {
    uint64_t i = r->tail;
    slot *s = slot_at(r, i);
    uint64_t want = 2 * i + 2;
    uint64_t s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (s1 == 2 * i + 1 || s1 < want - 1) break;  // still being written: next drain
    if (s1 != want) {  // overwritten by a later lap
      r->dropped++;
      r->tail++;
      continue;
    }
    tpx_ring_record h = s->header;
    uint32_t n = h.length <= r->payload_capacity ? h.length : r->payload_capacity;
    memcpy(payloads + (size_t)got * r->payload_capacity, s->payload, n);
    atomic_thread_fence(memory_order_acquire);  // the copy before the re-check
    uint64_t s2 = atomic_load_explicit(&s->seq, memory_order_relaxed);
    r->tail++;
    if (s2 != want) {
      r->dropped++;
      continue;
    }
    h.length = n;
    headers[got++] = h;
  }
  return got;
}

uint64_t tpx_ring_dropped(const tpx_ring *r) { return r->dropped; }

uint64_t tpx_ring_written(tpx_ring *r) { return atomic_load_explicit(&r->head, memory_order_relaxed); }

uint32_t tpx_ring_payload_capacity(const tpx_ring *r) { return r->payload_capacity; }
