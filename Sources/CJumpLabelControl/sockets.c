#define _GNU_SOURCE
#include "cjumplabel_control.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static int fill_address(struct sockaddr_un *a, const char *path) {
  size_t n = strlen(path);
  // A leading NUL would make it an abstract socket: never.
  if (n == 0 || n >= sizeof a->sun_path) return -ENAMETOOLONG;
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  memcpy(a->sun_path, path, n + 1);
  return 0;
}

int jlc_listen(const char *path, int backlog) {
  struct sockaddr_un a;
  int e = fill_address(&a, path);
  if (e) return e;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -errno;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, backlog) != 0) {
    e = -errno;
    close(fd);
    return e;
  }
  return fd;
}

int jlc_accept(int listen_fd) {
  int fd = accept4(listen_fd, 0, 0, SOCK_CLOEXEC | SOCK_NONBLOCK);
  return fd < 0 ? -errno : fd;
}

int jlc_peer(int fd, int *pid, unsigned *uid, unsigned *gid) {
  struct ucred c;
  socklen_t n = sizeof c;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &n) != 0) return -errno;
  *pid = c.pid;
  *uid = c.uid;
  *gid = c.gid;
  return 0;
}

int jlc_connect(const char *path) {
  struct sockaddr_un a;
  int e = fill_address(&a, path);
  if (e) return e;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    e = -errno;
    close(fd);
    return e;
  }
  return fd;
}

int jlc_eventfd(void) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return fd < 0 ? -errno : fd;
}

int jlc_set_receive_timeout(int fd, int milliseconds) {
  struct timeval tv = {milliseconds / 1000, (milliseconds % 1000) * 1000};
  return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 ? 0 : -errno;
}

#include <malloc.h>

void jlc_trim_heap(void) { malloc_trim(0); }

#include <sys/prctl.h>

void jl_control_name_thread(void) { prctl(PR_SET_NAME, "jumplabel-ctl", 0, 0, 0); }
