// Walks the loaded images for Swift, which cannot see <link.h>.
// The note and table parsing itself is Swift (Sources/JumpLabel/SiteTable.swift).
#ifndef CJUMPLABEL_IMAGES_H
#define CJUMPLABEL_IMAGES_H

#include <stddef.h>
#include <stdint.h>

/// Called once per PT_NOTE segment of every loaded image.
typedef void (*jl_note_segment_fn)(const char *image, uintptr_t start, size_t size, void *context);

/// Calls `fn` for each PT_NOTE segment of each loaded image, through
/// dl_iterate_phdr(3), which holds the loader's lock during the walk.
void jl_for_each_note_segment(jl_note_segment_fn fn, void *context);

#endif
