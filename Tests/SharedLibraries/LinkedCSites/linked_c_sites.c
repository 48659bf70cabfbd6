// A C library with sites, linked the way SwiftPM links C libraries by
// default: with swiftrt.o, which registers it with the Swift runtime for
// good. The runtime must pin it; compare ChurnSites, linked without.
#include "linked_c_sites.h"

#include <jumplabel_site.h>

unsigned linked_c_sites(void) {
  return (JL_BRANCH("churn.k0", 0, 0) ? 1u : 0u) | (JL_BRANCH("churn.k2", 1, 1) ? 4u : 0u);
}
