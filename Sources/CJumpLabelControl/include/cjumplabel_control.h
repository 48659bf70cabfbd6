// Socket calls of the control channel that Swift's Glibc module makes
// awkward (sockaddr_un, SO_PEERCRED's struct ucred, accept4, eventfd).
#ifndef CJUMPLABEL_CONTROL_H
#define CJUMPLABEL_CONTROL_H

#pragma GCC visibility push(hidden)

/// A listening Unix stream socket bound at `path` (close-on-exec,
/// non-blocking). Returns the descriptor, or -errno. Never an abstract
/// socket: `path` must be a filesystem path of at most 107 bytes.
int jlc_listen(const char *path, int backlog);

/// accept4() with SOCK_CLOEXEC | SOCK_NONBLOCK. Returns the descriptor or -errno.
int jlc_accept(int listen_fd);

/// The peer's credentials as the kernel recorded them at connect()
/// (SO_PEERCRED). Returns 0 or -errno.
int jlc_peer(int fd, int *pid, unsigned *uid, unsigned *gid);

/// A connected Unix stream socket to `path` (close-on-exec, blocking).
/// Returns the descriptor, or -errno.
int jlc_connect(const char *path);

/// An eventfd (close-on-exec, non-blocking) to wake a poll loop.
int jlc_eventfd(void);

/// Sets a receive timeout on `fd`. 0 or -errno.
int jlc_set_receive_timeout(int fd, int milliseconds);

/// Returns freed heap memory to the system (glibc's malloc_trim(0)).
void jlc_trim_heap(void);

/// Names the calling thread "jumplabel-ctl".
void jl_control_name_thread(void);

/// Called once the server is wanted at start-up (JUMPLABEL_CONTROL=1),
/// and once the Swift side has registered its starter, in whichever order
/// they come; the starter runs once, when both have happened.
void jlc_autostart_register(void (*start)(void));

/// Whether JUMPLABEL_CONTROL=1 asked for a server (read once).
int jlc_autostart_requested(void);

#pragma GCC visibility pop

#endif
