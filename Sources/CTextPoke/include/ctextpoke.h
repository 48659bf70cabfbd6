// CTextPoke: the parts of the TextPoke engine that must be C.
//
// - the SIGTRAP handler, which runs in signal context and must be
//   async-signal-safe (no locks, no allocation, only atomics and syscalls);
// - the batch that the handler reads while a patch is in flight, and its
//   reference count (the answer to the 2009 review's question, see
//   trap_handler.c);
// - the set of every address ever patched, so that a late trap can be told
//   apart from somebody else's int3;
// - a thin wrapper over the membarrier(2) system call, which glibc does not
//   wrap and which Swift cannot reach through the variadic syscall(2).
//
// Everything else (ordering of the phases, verification, the writer, the
// lock) lives in Swift, in Sources/TextPoke.
#ifndef CTEXTPOKE_H
#define CTEXTPOKE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Everything here is hidden: each image that links a copy of the engine
// binds to its own copy, whatever the dynamic linker's lookup scope (a
// library loaded RTLD_GLOBAL would otherwise lend its copy to the next).
#pragma GCC visibility push(hidden)

/// One site of a published batch: a thread that traps on the int3 at `addr`
/// continues at `resume` (the emulated effect of the new instruction, the
/// caller's fixup address, or `addr` itself to retry).
typedef struct tp_site {
  uintptr_t addr;
  uintptr_t resume;
} tp_site;

/// Counters kept by the handler (relaxed atomics; read them for reports).
typedef struct tp_counters {
  uint64_t emulated;  ///< traps on a site of the published batch
  uint64_t stale;     ///< late traps: site already restored, thread restarted
  uint64_t retried;   ///< handler waited for a batch that was being published
  uint64_t foreign;   ///< traps that were not ours, handed to the previous handler
} tp_counters;

/// Installs the SIGTRAP handler if it is not the current disposition.
/// The disposition it replaces becomes the one foreign traps are chained to.
/// Returns 0, or an errno value. Not async-signal-safe; call under the patch lock.
int tp_handler_ensure_installed(void);

/// 1 if the current SIGTRAP disposition is ours.
int tp_handler_is_installed(void);

/// Publishes `n` sites sorted by ascending `addr` for the handler.
/// Precondition: no batch is published (tp_batch_retire returned).
/// The array must stay valid and unmodified until tp_batch_retire returns.
void tp_batch_publish(const tp_site *sites, size_t n);

/// Drops the patcher's reference and waits until no handler still reads the
/// batch. After it returns the caller may free or reuse the array.
/// Returns the number of times it had to yield while waiting.
uint64_t tp_batch_retire(void);

/// Records `addr` as a patch site, forever (the set grows as needed).
/// Returns 0, or -1 if memory ran out.
/// Single writer (the patch lock holder); the handler reads it lock-free.
int tp_history_add(uintptr_t addr);

/// 1 if `addr` was recorded with tp_history_add and not forgotten since.
int tp_history_contains(uintptr_t addr);

/// Forgets the recorded sites in [lo, hi), whose image is being unloaded:
/// no thread can trap there any more, and the addresses may be reused by
/// another image. Patch lock holder only. Returns how many were forgotten.
size_t tp_history_forget(uintptr_t lo, uintptr_t hi);

/// Slots of the current history table (it grows when 3/4 full).
size_t tp_history_capacity(void);

/// Copies the handler's counters.
void tp_counters_read(tp_counters *out);

/// One whole-instruction write for the parked protocol.
typedef struct tp_write {
  uintptr_t addr;
  uint8_t bytes[15];
  uint8_t len;
} tp_write;

/// Installs the rendezvous (SIGURG) handler once. Returns 0 or errno.
int tp_rendezvous_install(void);

/// Signals every other thread and waits until each has run the handler
/// (hold = 0: each serialised; hold = 1: each is now parked). Returns 0,
/// -1 with errno set, or the thread id of a thread that did not arrive in
/// `timeout_ms` (it blocks SIGURG, or is stopped). After a non-zero return,
/// call tp_rendezvous_end() to release the threads that did arrive.
/// Allocates nothing and takes no lock. Patch lock held.
long tp_rendezvous_begin(int hold, int timeout_ms);

/// Releases parked threads (each serialises before it returns to its
/// code). Does not wait for them to leave the handler.
void tp_rendezvous_end(void);

/// 1 if thread `tid` is inside the rendezvous handler of the last
/// rendezvous (released or not, it has not finished the handler yet): its
/// signal mask is the handler's, which blocks SIGURG, until it returns.
int tp_rendezvous_is_inside(long tid);

/// 1 if thread `tid` answered the last rendezvous: it is inside the
/// handler, or it finished it and may still be a sigreturn away from its
/// code, with the handler's mask (SIGURG blocked) until the kernel
/// restores its own. A thread preempted right there can stay so for a
/// whole time slice or more.
int tp_rendezvous_answered(long tid);

/// Tests only: each parked thread, after it finished the handler, stays in
/// it (the handler's mask, SIGURG blocked) until the next rendezvous
/// begins, 2 s at most (0: not).
void tp_rendezvous_hold_exit_for_tests(int on);

/// pwrite(2) of each write through `fd` (/proc/self/mem). 0 or errno.
/// No allocation: usable while other threads are parked.
int tp_rendezvous_pwrite_all(int fd, const tp_write *writes, size_t n);

/// Per-thread marks (thread_marks.c): the calling thread is inside the
/// engine, holds (or is about to take) one of the runtime's locks, or is
/// inside a client of the engine (JumpLabel). One word per image.
#define TP_MARK_ENGINE 1u
#define TP_MARK_LOCK(slot) (2u << (slot))  // slots 0...3
#define TP_MARK_LOCKS 0x1eu
#define TP_MARK_CLIENT 0x100u

/// The calling thread's marks.
unsigned tp_marks_get(void);
/// Adds `bits` to the calling thread's marks; returns the marks before.
unsigned tp_marks_add(unsigned bits);
/// Removes `bits` from the calling thread's marks.
void tp_marks_remove(unsigned bits);
/// Fault injection for a negative control: from now on every mark reads as
/// clear, so re-entered entry points go ahead (and may wait for themselves).
void tp_marks_ignore_for_tests(void);

/// 1 if the process runs under valgrind (a client request; valgrind.c).
int tp_valgrind_running(void);
/// Asks valgrind to drop its translations of [addr, addr + len).
void tp_valgrind_discard(uintptr_t addr, size_t len);
/// Writes `len` (1...15) bytes at `dst` with stores in one straight-line
/// block. The page must be writable.
void tp_store_exact(uintptr_t dst, const uint8_t *src, size_t len);

/// The PROT_* bits of the mapping of each page in `pages` (sorted, page
/// aligned), into `prots`. 0, or -1 if a page is in no mapping or the maps
/// file cannot be read.
int tp_maps_protections(const uintptr_t *pages, size_t n, int *prots);

/// membarrier(2). Returns the syscall result, or -1 with errno set.
long tp_membarrier(int cmd, unsigned int flags, int cpu_id);

/// dladdr(3), which Swift's Glibc module does not expose. Returns 0 if the
/// address is in no loaded image. Takes the loader's lock: never call it
/// with the registry or patch lock held.
int tp_dladdr(const void *addr, const char **image, const char **symbol, uintptr_t *symbol_addr);

/// The calling thread's kernel thread id.
long tp_gettid(void);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
