// C side of `jumplabel bench`: the physical floor of a toggle, and a
// patcher built the way the Rust `static-key` crate builds its own, to be
// measured side by side with the engine. Benchmark use only.
#ifndef CBENCH_H
#define CBENCH_H

#include <stddef.h>
#include <stdint.h>

/// The floor of one int3 + three-sync toggle of one site: three one-byte
/// pwrite()s to /proc/self/mem (`fd`) at `addr` (writing back the byte that
/// is there) and three membarrier(PRIVATE_EXPEDITED_SYNC_CORE) calls,
/// back to back. 0, or an errno value.
int bench_floor_once(int fd, uintptr_t addr);

/// Only the three membarrier calls. 0 or errno.
int bench_three_syncs(void);

/// Makes the pages of [addr, addr + len) readable, writable and executable
/// for good, as the `static-key` crate does (W^X given up). 0 or errno.
int bench_rwx(uintptr_t addr, size_t len);

/// Puts them back to read + execute. 0 or errno.
int bench_rx(uintptr_t addr, size_t len);

/// The crate's toggle of one 5-byte site on an RWX page: one atomic 8-byte
/// store when the site fits in an aligned 8-byte word, else a `jmp .`
/// self-loop over the first two bytes, the tail, then the new first two
/// bytes; then one membarrier(SYNC_CORE).
void bench_rust_style_patch(uintptr_t addr, const uint8_t *replacement);

/// Bytes of heap in use (mallinfo2().uordblks).
size_t bench_heap_in_use(void);

/// Blocks SIGTRAP in the calling thread (the hazard of the parked protocol).
void jl_bench_block_sigtrap(void);

#endif
