// The sites `jumplabel bench` toggles (bench_sites.c): keys
// "bench.n1", "bench.n10", "bench.n100", "bench.n1000", "bench.n10000"
// with that many sites each, default false.
#ifndef BENCH_SITES_H
#define BENCH_SITES_H

/// Runs every site of key `key` (0...4) once; returns `acc` plus the
/// constants of the sites that were enabled.
unsigned bench_call(unsigned key, unsigned acc);
/// Number of keys (5).
unsigned bench_key_count(void);
/// Sites of key `key`.
unsigned bench_key_sites(unsigned key);

#endif
