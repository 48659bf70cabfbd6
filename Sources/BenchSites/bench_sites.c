// The sites `jumplabel bench` toggles: keys "bench.n1" ... "bench.n10000"
// with 1, 10, 100, 1,000 and 10,000 sites, at most 100 sites per function
// (bench_kK_fF), default false. The preprocessor writes them out: JLB_100
// expands to 100 sites, JLB_FNS_10 to ten functions of 100 sites each.
//
// Every site adds its own constant (its index in the key, from 1), so that
// no two sites or functions are folded together by the compiler; each
// inlined JL_BRANCH is a site of its own (an asm goto with its own table
// entry), whatever line it came from.
#include "bench_sites.h"

#include <jumplabel_site.h>

#define JLB_SITE(name, c) if (JL_BRANCH(name, 0, 0)) acc += (c);
#define JLB_10(name, b) \
  JLB_SITE(name, (b) + 1u) JLB_SITE(name, (b) + 2u) JLB_SITE(name, (b) + 3u) JLB_SITE(name, (b) + 4u) \
  JLB_SITE(name, (b) + 5u) JLB_SITE(name, (b) + 6u) JLB_SITE(name, (b) + 7u) JLB_SITE(name, (b) + 8u) \
  JLB_SITE(name, (b) + 9u) JLB_SITE(name, (b) + 10u)
#define JLB_100(name, b) \
  JLB_10(name, (b) + 0u) JLB_10(name, (b) + 10u) JLB_10(name, (b) + 20u) JLB_10(name, (b) + 30u) \
  JLB_10(name, (b) + 40u) JLB_10(name, (b) + 50u) JLB_10(name, (b) + 60u) JLB_10(name, (b) + 70u) \
  JLB_10(name, (b) + 80u) JLB_10(name, (b) + 90u)

// Function f of key k: sites f*100+1 ... f*100+100. `f` is one number
// token, pasted into the name and used as the base.
#define JLB_FN(k, f, name) \
  __attribute__((noinline)) static unsigned bench_k##k##_f##f(unsigned acc) { JLB_100(name, (f) * 100u) return acc; }
// Functions d0 ... d9 of key k (`d` empty: functions 0 ... 9).
#define JLB_FNS_10(k, d, name) \
  JLB_FN(k, d##0, name) JLB_FN(k, d##1, name) JLB_FN(k, d##2, name) JLB_FN(k, d##3, name) JLB_FN(k, d##4, name) \
  JLB_FN(k, d##5, name) JLB_FN(k, d##6, name) JLB_FN(k, d##7, name) JLB_FN(k, d##8, name) JLB_FN(k, d##9, name)
#define JLB_CALL(k, f) acc = bench_k##k##_f##f(acc);
#define JLB_CALLS_10(k, d) \
  JLB_CALL(k, d##0) JLB_CALL(k, d##1) JLB_CALL(k, d##2) JLB_CALL(k, d##3) JLB_CALL(k, d##4) \
  JLB_CALL(k, d##5) JLB_CALL(k, d##6) JLB_CALL(k, d##7) JLB_CALL(k, d##8) JLB_CALL(k, d##9)

// Key 0, "bench.n1": 1 site.
__attribute__((noinline)) static unsigned bench_k0_f0(unsigned acc) {
  JLB_SITE("bench.n1", 1u)
  return acc;
}
static unsigned bench_call_k0(unsigned acc) { JLB_CALL(0, 0) return acc; }

// Key 1, "bench.n10": 10 sites.
__attribute__((noinline)) static unsigned bench_k1_f0(unsigned acc) {
  JLB_10("bench.n10", 0u)
  return acc;
}
static unsigned bench_call_k1(unsigned acc) { JLB_CALL(1, 0) return acc; }

// Key 2, "bench.n100": one function of 100 sites.
JLB_FN(2, 0, "bench.n100")
static unsigned bench_call_k2(unsigned acc) { JLB_CALL(2, 0) return acc; }

// Key 3, "bench.n1000": 10 functions.
JLB_FNS_10(3, , "bench.n1000")
static unsigned bench_call_k3(unsigned acc) { JLB_CALLS_10(3, ) return acc; }

// Key 4, "bench.n10000": 100 functions.
JLB_FNS_10(4, , "bench.n10000")
JLB_FNS_10(4, 1, "bench.n10000")
JLB_FNS_10(4, 2, "bench.n10000")
JLB_FNS_10(4, 3, "bench.n10000")
JLB_FNS_10(4, 4, "bench.n10000")
JLB_FNS_10(4, 5, "bench.n10000")
JLB_FNS_10(4, 6, "bench.n10000")
JLB_FNS_10(4, 7, "bench.n10000")
JLB_FNS_10(4, 8, "bench.n10000")
JLB_FNS_10(4, 9, "bench.n10000")
static unsigned bench_call_k4(unsigned acc) {
  JLB_CALLS_10(4, ) JLB_CALLS_10(4, 1) JLB_CALLS_10(4, 2) JLB_CALLS_10(4, 3) JLB_CALLS_10(4, 4)
  JLB_CALLS_10(4, 5) JLB_CALLS_10(4, 6) JLB_CALLS_10(4, 7) JLB_CALLS_10(4, 8) JLB_CALLS_10(4, 9)
  return acc;
}

unsigned bench_call(unsigned key, unsigned acc) {
  switch (key) {
  case 0: return bench_call_k0(acc);
  case 1: return bench_call_k1(acc);
  case 2: return bench_call_k2(acc);
  case 3: return bench_call_k3(acc);
  case 4: return bench_call_k4(acc);
  default: return acc;
  }
}

unsigned bench_key_count(void) { return 5; }

unsigned bench_key_sites(unsigned key) {
  static const unsigned sizes[] = {1, 10, 100, 1000, 10000};
  return key < 5 ? sizes[key] : 0;
}
