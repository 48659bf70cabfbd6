// Per-thread marks: what the calling thread is in the middle of.
//
// A signal handler runs on top of whatever its thread was doing. If that
// thread was inside the runtime (holding one of its locks, or initialising
// one of its lazily created globals, whose one-time initialiser cannot be
// re-entered), a control call from the handler would wait for itself
// forever. So every entry point marks the thread *before* it touches a lock
// or a lazy global, and clears the mark after it has released everything;
// an entry point that finds its mark already set refuses with an error
// instead of waiting. Because the mark is set first and cleared last, there
// is no window in which the thread holds something the mark does not show
// (the window the field report found in the old lock: owner recorded after
// the mutex was taken, cleared before it was released).
//
// The word is thread-local with the initial-exec model: reading it is one
// load relative to the thread pointer, which is async-signal-safe and never
// allocates, even in an image loaded with dlopen (the general-dynamic model
// may call __tls_get_addr, which can allocate on first use in a thread).
// It is hidden, so every image that links a copy of the engine has its own
// word, like its own locks.
//
// Only the owning thread writes its word; a signal handler that runs in
// the middle of a read-modify-write restores what it changed before it
// returns, so a plain RMW on the thread's own word is enough. The functions
// are out of line: to the compiler each call is opaque, so no access to a
// lock or a global is moved across it.
#include "ctextpoke.h"

static __thread unsigned tp_marks __attribute__((tls_model("initial-exec")));
static int tp_marks_ignored;  // fault injection only: entry points never refuse

unsigned tp_marks_get(void) { return tp_marks_ignored ? 0 : tp_marks; }

unsigned tp_marks_add(unsigned bits) {
  unsigned old = tp_marks;
  tp_marks = old | bits;
  return tp_marks_ignored ? 0 : old;
}

void tp_marks_ignore_for_tests(void) { tp_marks_ignored = 1; }

void tp_marks_remove(unsigned bits) { tp_marks &= ~bits; }
