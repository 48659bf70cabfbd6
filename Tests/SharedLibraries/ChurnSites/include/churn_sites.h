#ifndef CHURN_SITES_H
#define CHURN_SITES_H

/// The keys: churn.k0, churn.k1 (default false), churn.k2, churn.k3 (default true).
#define CHURN_SITES_PER_FUNCTION 4

/// Number of functions (each has one site of each key).
unsigned churn_function_count(void);

/// Runs function `i`: returns i << 8 | (bit k set if key k read enabled).
unsigned churn_call(unsigned i);

#endif
