// A C library with 512 branch sites of four keys, for the dlopen churn test:
// loaded and unloaded in a loop while the keys are toggled. Uses only the
// C header (CJumpLabelSite); it does not link the runtime, so it really
// unloads. Built with -O2 in every configuration, so its sites are real.
#include "churn_sites.h"

#include <jumplabel_site.h>

// Site of key k in function n: the layout varies with n, so every function
// mixes likely and unlikely sites, and the four keys' defaults differ.
#define CHURN_SITE(k, name, dflt, n) (JL_BRANCH(name, ((n) >> (k)) & 1, dflt) ? (1u << (k)) : 0u)

// Function n returns n << 8 and one bit per key its sites saw enabled; the
// distinct n keeps the linker from folding identical functions.
#define CHURN_FN(base, i)                                                                   \
  __attribute__((noinline)) static unsigned churn_fn_##base##_##i(void) {                   \
    enum { n = (base) * 16 + (i) };                                                        \
    return ((unsigned)n << 8) | CHURN_SITE(0, "churn.k0", 0, n) | CHURN_SITE(1, "churn.k1", 0, n) | \
           CHURN_SITE(2, "churn.k2", 1, n) | CHURN_SITE(3, "churn.k3", 1, n);               \
  }
#define CHURN_FN16(base)                                                                     \
  CHURN_FN(base, 0) CHURN_FN(base, 1) CHURN_FN(base, 2) CHURN_FN(base, 3) CHURN_FN(base, 4)  \
  CHURN_FN(base, 5) CHURN_FN(base, 6) CHURN_FN(base, 7) CHURN_FN(base, 8) CHURN_FN(base, 9)  \
  CHURN_FN(base, 10) CHURN_FN(base, 11) CHURN_FN(base, 12) CHURN_FN(base, 13)                \
  CHURN_FN(base, 14) CHURN_FN(base, 15)
#define CHURN_REF16(base)                                                                     \
  churn_fn_##base##_0, churn_fn_##base##_1, churn_fn_##base##_2, churn_fn_##base##_3,         \
  churn_fn_##base##_4, churn_fn_##base##_5, churn_fn_##base##_6, churn_fn_##base##_7,         \
  churn_fn_##base##_8, churn_fn_##base##_9, churn_fn_##base##_10, churn_fn_##base##_11,       \
  churn_fn_##base##_12, churn_fn_##base##_13, churn_fn_##base##_14, churn_fn_##base##_15

CHURN_FN16(0) CHURN_FN16(1) CHURN_FN16(2) CHURN_FN16(3)
CHURN_FN16(4) CHURN_FN16(5) CHURN_FN16(6) CHURN_FN16(7)

static unsigned (*const churn_table[])(void) = {
    CHURN_REF16(0), CHURN_REF16(1), CHURN_REF16(2), CHURN_REF16(3),
    CHURN_REF16(4), CHURN_REF16(5), CHURN_REF16(6), CHURN_REF16(7),
};

unsigned churn_function_count(void) { return sizeof churn_table / sizeof churn_table[0]; }

unsigned churn_call(unsigned i) { return churn_table[i % churn_function_count()](); }
