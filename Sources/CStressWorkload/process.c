#define _GNU_SOURCE
#include "cstress_workload.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

int jl_cli_die_with_parent(void) { return prctl(PR_SET_PDEATHSIG, SIGKILL); }

void jl_cli_block_sigtrap(void) {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTRAP);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
}
