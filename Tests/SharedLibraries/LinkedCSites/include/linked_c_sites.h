#ifndef LINKED_C_SITES_H
#define LINKED_C_SITES_H

/// Bit 0: churn.k0 read enabled; bit 2: churn.k2 read enabled.
unsigned linked_c_sites(void);

#endif
