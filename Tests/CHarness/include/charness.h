// System calls and hazards the test harness provokes on purpose.
#ifndef CHARNESS_H
#define CHARNESS_H

/// prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN): from now on the kernel
/// refuses to make memory writable and executable. 0 or -1 with errno.
int jl_cli_set_mdwe(void);

/// Executes an int3 instruction (a program's own breakpoint).
void jl_cli_int3(void);

/// Installs a SIGTRAP handler that counts calls (a foreign SIGTRAP user).
/// Returns 0 or errno.
int jl_cli_install_counting_sigtrap_handler(void);

/// Calls of that handler so far.
long jl_cli_counting_handler_calls(void);

#endif
