#define _GNU_SOURCE
#include "jumplabel_images.h"

#include <dlfcn.h>
#include <elf.h>
#include <stddef.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// 1 if the ELF file at `path` holds Swift code or is registered with the
// Swift runtime, 0 if not, -1 if the file cannot be read. Section headers are
// not mapped, so this reads them from the file. Two signs:
// - a non-empty Swift metadata section (swift5_typeref, swift5_fieldmd, ...);
// - an import of swift_addNewDSOImage: the image was linked with swiftrt.o,
//   whose constructor hands the Swift runtime a pointer into the image that
//   is never taken back, so unmapping the image leaves the runtime a
//   dangling pointer. SwiftPM links swiftrt.o into C-only libraries too
//   (unless they are linked with -nostartfiles).
int jl_file_holds_swift(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int result = -1;
  ElfW(Ehdr) eh;
  ElfW(Shdr) *sh = NULL;
  char *names = NULL, *dynstr = NULL;
  if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_shentsize != sizeof(ElfW(Shdr)) || eh.e_shnum == 0 || eh.e_shstrndx >= eh.e_shnum)
    goto out;
  size_t shsize = (size_t)eh.e_shnum * sizeof(ElfW(Shdr));
  if ((sh = malloc(shsize)) == NULL || pread(fd, sh, shsize, (off_t)eh.e_shoff) != (ssize_t)shsize) goto out;
  const ElfW(Shdr) *strs = &sh[eh.e_shstrndx];
  if (strs->sh_size > (1u << 20) || (names = malloc(strs->sh_size + 1)) == NULL ||
      pread(fd, names, strs->sh_size, (off_t)strs->sh_offset) != (ssize_t)strs->sh_size)
    goto out;
  names[strs->sh_size] = 0;
  result = 0;
  for (unsigned i = 0; i < eh.e_shnum && result == 0; i++) {
    if (sh[i].sh_name >= strs->sh_size || sh[i].sh_size == 0) continue;
    const char *n = names + sh[i].sh_name;
    if (strcmp(n, "swift5_typeref") == 0 || strcmp(n, "swift5_fieldmd") == 0 ||
        strcmp(n, "swift5_type_metadata") == 0 || strcmp(n, "swift5_protocol_conformances") == 0) {
      result = 1;
    } else if (strcmp(n, ".dynstr") == 0 && dynstr == NULL && sh[i].sh_size < (64u << 20)) {
      static const char needle[] = "swift_addNewDSOImage";
      if ((dynstr = malloc(sh[i].sh_size)) == NULL ||
          pread(fd, dynstr, sh[i].sh_size, (off_t)sh[i].sh_offset) != (ssize_t)sh[i].sh_size) {
        result = -1;
        break;
      }
      if (memmem(dynstr, sh[i].sh_size, needle, sizeof needle) != NULL) result = 1;  // with its NUL
    }
  }
out:
  free(dynstr);
  free(names);
  free(sh);
  close(fd);
  return result;
}

int jl_links_swift_core(const jl_phdr_info *image) {
  const ElfW(Dyn) *dyn = NULL;
  for (uint16_t i = 0; i < image->phnum; i++)
    if (image->phdr[i].p_type == PT_DYNAMIC) dyn = (const ElfW(Dyn) *)(image->addr + image->phdr[i].p_vaddr);
  if (dyn == NULL) return 0;
  uintptr_t strtab = 0;
  for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++)
    if (d->d_tag == DT_STRTAB) strtab = d->d_un.d_ptr;
  if (strtab == 0) return 0;
  // glibc relocates DT_STRTAB in place on x86-64; be robust if it did not.
  if (strtab < image->addr) strtab += image->addr;
  for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++)
    if (d->d_tag == DT_NEEDED && strstr((const char *)(strtab + d->d_un.d_val), "libswiftCore") != NULL) return 1;
  return 0;
}

struct containing {
  uintptr_t address;
  const char *path;
  int links_swift_core;
  int found;
};

static int find_containing(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct containing *c = data;
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && c->address >= start && c->address - start < ph->p_memsz) {
      c->path = info->dlpi_name ? info->dlpi_name : "";
      c->links_swift_core = jl_links_swift_core((const jl_phdr_info *)info);
      c->found = 1;
      return 1;
    }
  }
  return 0;
}

int jl_image_containing(const void *address, const char **path, int *links_swift_core) {
  struct containing c = {(uintptr_t)address, NULL, 0, 0};
  dl_iterate_phdr(find_containing, &c);
  if (!c.found) return 0;
  *path = c.path;
  *links_swift_core = c.links_swift_core;
  return 1;
}

void jl_wait_for_loader(void) {
  // dladdr takes the loader's lock (recursively: at once if this thread
  // holds it), so it returns only when no other thread is inside dlopen or
  // dlclose. It changes no reference count and runs no constructor.
  Dl_info info;
  (void)dladdr((const void *)&jl_wait_for_loader, &info);
}

static int read_adds(struct dl_phdr_info *info, size_t size, void *data) {
  if (size >= offsetof(struct dl_phdr_info, dlpi_adds) + sizeof info->dlpi_adds)
    *(unsigned long long *)data = info->dlpi_adds;
  return 1;  // the counter is the same in every entry: stop at the first
}

uint64_t jl_loader_adds(void) {
  unsigned long long adds = 0;
  dl_iterate_phdr(read_adds, &adds);
  return adds;
}

void jl_probe_dlopen(const char *path) {
  void *h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
  if (h) dlclose(h);
}

int jl_pin_image(const char *path) {
  if (path == NULL || path[0] == 0) return 1;  // the executable is never unloaded
  // The handle is deliberately never closed: the image stays for good.
  return dlopen(path, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
}
