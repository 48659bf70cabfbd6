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
#include <stddef.h>
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

// The record's words are read by the reader while a writer a lap ahead
// may be writing them: a seqlock's data race by design. To keep that
// well-defined under C11 (and quiet under ThreadSanitizer), every access
// to a slot's header and payload is a relaxed atomic access of one
// 64-bit word (__atomic builtins on plain words: the slot's layout stays
// plain C). The sequence word orders them (see the fences below); a torn
// record is never used, because the reader re-checks the sequence after
// its copy and drops the record if it moved.
_Static_assert(sizeof(tpx_ring_record) % 8 == 0, "the header is copied in 64-bit words");
_Static_assert(offsetof(slot, header) % 8 == 0 && offsetof(slot, payload) % 8 == 0, "slot words are aligned");

static void store_words(uint64_t *dst, const void *src, size_t bytes) {
  const unsigned char *s = src;
  size_t whole = bytes / 8;
  for (size_t k = 0; k < whole; k++) {
    uint64_t w;
    memcpy(&w, s + 8 * k, 8);  // the source is private to this writer
    __atomic_store_n(&dst[k], w, __ATOMIC_RELAXED);
  }
  if (bytes % 8) {
    uint64_t w = 0;
    memcpy(&w, s + 8 * whole, bytes % 8);  // never reads past the source
    __atomic_store_n(&dst[whole], w, __ATOMIC_RELAXED);
  }
}

static void load_words(void *dst, const uint64_t *src, size_t bytes) {
  unsigned char *d = dst;
  size_t whole = bytes / 8;
  for (size_t k = 0; k < whole; k++) {
    uint64_t w = __atomic_load_n(&src[k], __ATOMIC_RELAXED);
    memcpy(d + 8 * k, &w, 8);  // the destination is private to the reader
  }
  if (bytes % 8) {
    uint64_t w = __atomic_load_n(&src[whole], __ATOMIC_RELAXED);
    memcpy(d + 8 * whole, &w, bytes % 8);  // never writes past the destination
  }
}

void tpx_ring_write(tpx_ring *r, const tpx_ring_record *header, const void *payload, uint32_t length) {
  uint64_t i = atomic_fetch_add_explicit(&r->head, 1, memory_order_relaxed);
  slot *s = slot_at(r, i);
  // Odd first; the release fence orders that store before every data
  // store below (a reader that sees any of our data and then re-reads
  // the sequence sees odd or later, never the even value it expects).
  atomic_store_explicit(&s->seq, 2 * i + 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_release);
  uint32_t n = length < r->payload_capacity ? length : r->payload_capacity;
  tpx_ring_record h = *header;
  h.length = n;
  h.truncated = length > n;
  store_words((uint64_t *)(void *)&s->header, &h, sizeof h);
  store_words((uint64_t *)(void *)s->payload, payload, n);
  // Even last, with release: every data store above happens before a
  // reader's acquire load that sees it.
  atomic_store_explicit(&s->seq, 2 * i + 2, memory_order_release);
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
    // Acquire: the record's words written before this even value are
    // visible to the loads below.
    uint64_t s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (s1 == 2 * i + 1 || s1 < want - 1) break;  // still being written: next drain
    if (s1 != want) {  // overwritten by a later lap
      r->dropped++;
      r->tail++;
      continue;
    }
    tpx_ring_record h;
    load_words(&h, (const uint64_t *)(const void *)&s->header, sizeof h);
    // The length may be torn by a writer of a later lap: clamp it before
    // it sizes a copy; the re-check below then drops the record.
    uint32_t n = h.length <= r->payload_capacity ? h.length : r->payload_capacity;
    load_words(payloads + (size_t)got * r->payload_capacity, (const uint64_t *)(const void *)s->payload, n);
    // Acquire fence: the loads above happen before the re-read of the
    // sequence (if a later writer's odd store is visible to any of them,
    // the re-read sees that store or a later one).
    atomic_thread_fence(memory_order_acquire);
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
