/*
 * Promela model of TextPoke's self-loop protocol (Engine.runSelfLoop), used
 * when no int3 may be written (a debugger attached, a thread that blocks
 * SIGTRAP) and no thread needs to be signalled:
 *
 *   1. over the first two bytes of the site, `jmp .` (EB FE) in one 2-byte
 *      store; sync;
 *   2. the tail (bytes 2..n-1); sync;
 *   3. the new first two bytes in one 2-byte store; sync.
 *
 * One site: its first two bytes hA, hB and its tail t, each a version (0 or
 * 1) or, for hA/hB, LOOP (the two bytes of `jmp .`). The patcher toggles
 * the site NB times; N executor threads run it all the while. Fetching an
 * instruction takes two steps, in either order (the head, the tail), and
 * sync_all_cores() (membarrier SYNC_CORE) waits until no executor is in
 * the middle of one. The head is fetched in one step: the site's first two
 * bytes never straddle a cache line (the site header pads), and x86 makes
 * a store that does not cross a line visible to instruction fetch whole.
 *
 * Checked: an executor only ever executes a whole version of the
 * instruction, or the loop (after which it fetches again); never a mix
 * (assertion (1)), never a half-written loop (assertion (2): EB followed by
 * a byte of the old instruction is a jump to somewhere else).
 *
 * Broken variants, each must be caught:
 *  BROKEN_NO_LOOP_SYNC  no sync after writing the loop   -> (1)
 *  BROKEN_NO_TAIL_SYNC  no sync between tail and head    -> (1)
 *  BROKEN_SPLIT_HEAD    the two head bytes stored one at a time (a site
 *                       straddling a cache line)          -> (2)
 */

#ifndef N
#define N 2
#endif
#ifndef NB
#define NB 3
#endif

#define LOOP 2

byte hA = 0, hB = 0;   /* the first two bytes                            */
byte t = 0;            /* the rest                                       */
bool infetch[N];

inline sync_all_cores() {
  i = 0;
  do
  :: i < N -> (!infetch[i]); i++
  :: else -> break
  od
}

/* One 2-byte store (or, broken, two 1-byte stores). */
inline store_head(v) {
#ifdef BROKEN_SPLIT_HEAD
  hA = v;
  hB = v;
#else
  atomic { hA = v; hB = v }
#endif
}

active proctype Patcher() {
  byte b = 1, v, i;
  do
  :: b <= NB ->
     v = b % 2;
     store_head(LOOP);
#ifndef BROKEN_NO_LOOP_SYNC
     sync_all_cores();
#endif
     t = v;
#ifndef BROKEN_NO_TAIL_SYNC
     sync_all_cores();
#endif
     store_head(v);
     sync_all_cores();
     b++
  :: else -> break
  od
}

active [N] proctype Executor() {
  byte id = _pid - 1;
  byte a, c, u;          /* the head bytes and the tail this fetch got */

fetch:
  if
  :: atomic { infetch[id] = 1; a = hA; c = hB }
     atomic { u = t; infetch[id] = 0 }
  :: atomic { infetch[id] = 1; u = t }
     atomic { a = hA; c = hB; infetch[id] = 0 }
  fi;
  atomic {
    assert((a == LOOP) == (c == LOOP));       /* (2) a whole loop or none */
    if
    :: a == LOOP -> skip                      /* jmp . : fetch again      */
    :: else -> assert(a == c && c == u)       /* (1) one whole version    */
    fi;
    a = 0; c = 0; u = 0
  }
  goto fetch
}
