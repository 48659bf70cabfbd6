#define _GNU_SOURCE
#include "jumplabel_images.h"

#include <link.h>

struct walk {
  jl_note_segment_fn fn;
  void *context;
};

static int visit(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct walk *w = data;
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_NOTE)
      w->fn(info->dlpi_name, (uintptr_t)(info->dlpi_addr + ph->p_vaddr), (size_t)ph->p_memsz, w->context);
  }
  return 0;
}

void jl_for_each_note_segment(jl_note_segment_fn fn, void *context) {
  struct walk w = {fn, context};
  dl_iterate_phdr(visit, &w);
}
