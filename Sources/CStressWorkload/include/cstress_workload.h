// System calls the stress workload needs that Swift's Glibc module hides.
#ifndef CSTRESS_WORKLOAD_H
#define CSTRESS_WORKLOAD_H

/// prctl(PR_SET_PDEATHSIG, SIGKILL): the calling process is killed when its
/// parent exits, so a stress worker never outlives its supervisor.
/// Returns 0 or -1 with errno set.
int jl_cli_die_with_parent(void);

/// Blocks SIGTRAP in the calling thread.
void jl_cli_block_sigtrap(void);

#endif
