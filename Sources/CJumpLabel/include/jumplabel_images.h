// The runtime's C side: its descriptor for other images, and the few loader
// calls Swift cannot make directly. The logic is Swift (Sources/JumpLabel).
#ifndef CJUMPLABEL_IMAGES_H
#define CJUMPLABEL_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "jumplabel_runtime_abi.h"

/// This copy's descriptor (hidden: every copy has its own).
const jl_runtime *jl_runtime_this(void);

/// Lets the load/unload hooks reach the Swift registry. Until this is
/// called no key has changed, so a newly loaded image already holds the
/// right instructions and the hooks have nothing to do.
void jl_runtime_mark_started(void);

/// 1 if the image holds Swift code or is registered with the Swift runtime:
/// its file has non-empty Swift metadata sections or imports
/// swift_addNewDSOImage (or, if the file cannot be read, it links
/// libswiftCore). Such images are pinned: see README, "Shared libraries".
/// Reads the file.
int jl_image_is_swift(const jl_phdr_info *image);

/// Describes the loaded image whose segments contain `address`: its path
/// ("" for the executable) and whether it holds Swift code. Returns 0 if no
/// image contains it. Takes the loader's lock.
int jl_image_containing(const void *address, const char **path, int *is_swift);

/// 1 if the image is (still) loaded, after any dlopen of it in progress
/// has finished; with `pin`, also makes it permanent. Takes the loader's lock.
int jl_confirm_loaded(const char *path, int pin);

/// Makes a loaded image permanent (dlopen RTLD_NOLOAD | RTLD_NODELETE).
/// Returns 1 on success. Takes the loader's lock.
int jl_pin_image(const char *path);

#endif
