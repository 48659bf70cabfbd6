// System calls the command-line tool needs that Swift's Glibc module hides.
#ifndef CJUMPLABEL_CLI_H
#define CJUMPLABEL_CLI_H

/// prctl(PR_SET_PDEATHSIG, SIGKILL): the calling process is killed when its
/// parent exits, so a stress worker never outlives its supervisor.
/// Returns 0 or -1 with errno set.
int jl_cli_die_with_parent(void);

/// prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN): from now on the kernel
/// refuses to make memory writable and executable. 0 or -1 with errno.
int jl_cli_set_mdwe(void);

/// Executes an int3 instruction (a program's own breakpoint).
void jl_cli_int3(void);

/// Blocks SIGTRAP in the calling thread.
void jl_cli_block_sigtrap(void);

/// Installs a SIGTRAP handler that counts calls (a foreign SIGTRAP user).
/// Returns 0 or errno.
int jl_cli_install_counting_sigtrap_handler(void);

/// Calls of that handler so far.
long jl_cli_counting_handler_calls(void);

#endif
