#define _GNU_SOURCE
#include "charness.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/prctl.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

int jl_cli_set_mdwe(void) { return prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0); }

void jl_cli_int3(void) { __asm__ volatile("int3"); }

static _Atomic long g_calls;

static void counting(int sig, siginfo_t *info, void *ctx) {
  (void)sig; (void)info; (void)ctx;
  atomic_fetch_add(&g_calls, 1);
}

int jl_cli_install_counting_sigtrap_handler(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = counting;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  return sigaction(SIGTRAP, &sa, NULL) == 0 ? 0 : errno;
}

long jl_cli_counting_handler_calls(void) { return atomic_load(&g_calls); }
