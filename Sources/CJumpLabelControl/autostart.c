// JUMPLABEL_CONTROL=1: the control server starts by itself, in a program
// that never calls the library (its only contact may be its NOP sites).
//
// Two things must have happened, in an order the loader decides: the
// environment was read (by the load hook of the first image with sites,
// through the primary runtime: jl_control_wanted below is called from
// runtime.c; or by this file's own constructor, whichever runs first), and
// the Swift server registered its starter (the Swift side's constructor,
// below). Whichever comes second starts it, once. Starting only creates a
// thread: start-up never blocks on the socket.
#define _GNU_SOURCE
#include "cjumplabel_control.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static void (*_Atomic starter)(void);
static atomic_int requested = -1;  // -1 not read yet, 0 no, 1 yes
static atomic_int started;

static void start_once(void) {
  void (*s)(void) = atomic_load(&starter);
  if (s && atomic_load(&requested) == 1 && atomic_exchange(&started, 1) == 0) s();
}

int jlc_autostart_requested(void) {
  int r = atomic_load(&requested);
  if (r < 0) {
    const char *v = getenv("JUMPLABEL_CONTROL");
    r = v && strcmp(v, "1") == 0;
    int expected = -1;
    atomic_compare_exchange_strong(&requested, &expected, r);
    r = atomic_load(&requested);
  }
  return r;
}

void jlc_autostart_register(void (*start)(void)) {
  atomic_store(&starter, start);
  jlc_autostart_requested();
  start_once();
}

// Called by the primary runtime from the load hook of every image with
// sites (runtime.c; a weak reference, so that a program without this
// module links): the first call reads the environment. Hidden: each image
// binds its runtime copy's reference to its own copy, and none exports it
// (a weak default reference would bind to another image's export).
__attribute__((visibility("hidden"))) void jl_control_image_loaded(void) {
  jlc_autostart_requested();
  start_once();
}

// The Swift side's starter (Sources/JumpLabelControl/Server/Autostart.swift),
// registered as soon as this image is initialised.
extern void jl_control_autostart_entry(void);
__attribute__((constructor)) static void register_starter(void) { jlc_autostart_register(jl_control_autostart_entry); }
