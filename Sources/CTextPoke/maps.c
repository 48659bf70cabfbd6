// Protections of pages, from /proc/self/maps, for the write window: read
// in small chunks and parsed here, stopping as soon as every page asked
// for is found (the file is in address order, and code pages of the
// executable come first). Reading and parsing the whole file in Swift cost
// 100-200 µs per batch in a process with many mappings.
#define _GNU_SOURCE
#include "ctextpoke.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int tp_maps_protections(const uintptr_t *pages, size_t n, int *prots) {
  for (size_t i = 0; i < n; i++) prots[i] = -1;
  if (n == 0) return 0;
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[4096];
  size_t have = 0, next = 0;  // next: first page (sorted) not yet assigned
  int done = 0;
  while (!done) {
    ssize_t r = read(fd, buf + have, sizeof buf - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    have += (size_t)r;
    size_t start = 0;
    for (size_t i = 0; i < have && !done; i++) {
      if (buf[i] != '\n') continue;
      // "start-end perms ..."
      const char *p = buf + start, *end = buf + i;
      uintptr_t lo = 0, hi = 0;
      int d;
      while (p < end && (d = hexval(*p)) >= 0) { lo = lo << 4 | (uintptr_t)d; p++; }
      if (p < end && *p == '-') p++;
      while (p < end && (d = hexval(*p)) >= 0) { hi = hi << 4 | (uintptr_t)d; p++; }
      if (p < end && *p == ' ') p++;
      if (end - p >= 3) {
        int prot = (p[0] == 'r' ? PROT_READ : 0) | (p[1] == 'w' ? PROT_WRITE : 0) | (p[2] == 'x' ? PROT_EXEC : 0);
        while (next < n && pages[next] < lo) next++;  // in no mapping: stays -1
        for (size_t k = next; k < n && pages[k] < hi; k++) prots[k] = prot;
        while (next < n && pages[next] < hi) next++;
        if (next == n) done = 1;
      }
      start = i + 1;
    }
    // Keep a partial last line for the next read.
    if (start < have) {
      for (size_t k = start; k < have; k++) buf[k - start] = buf[k];
      have -= start;
    } else {
      have = 0;
    }
    if (have == sizeof buf) break;  // a line longer than the buffer: give up
  }
  close(fd);
  for (size_t i = 0; i < n; i++)
    if (prots[i] < 0) return -1;
  return 0;
}
