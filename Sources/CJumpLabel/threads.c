// Thread helpers Swift's Glibc module does not expose.
#define _GNU_SOURCE
#include "jumplabel_images.h"

#include <sys/prctl.h>

void jl_set_thread_name(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }
