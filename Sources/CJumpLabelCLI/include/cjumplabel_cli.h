// System calls the command-line tool needs that Swift's Glibc module hides.
#ifndef CJUMPLABEL_CLI_H
#define CJUMPLABEL_CLI_H

/// prctl(PR_SET_PDEATHSIG, SIGKILL): the calling process is killed when its
/// parent exits, so a stress worker never outlives its supervisor.
/// Returns 0 or -1 with errno set.
int jl_cli_die_with_parent(void);

#endif
