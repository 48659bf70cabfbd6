/*
 * Promela model of the TextPoke patch protocol:
 *   Sources/TextPoke/Engine.swift        Engine.run (the patcher's phases)
 *   Sources/CTextPoke/trap_handler.c     tp_batch_publish / tp_batch_retire,
 *                                        batch_get / batch_put, tp_trap
 *   Sources/TextPoke/CoreSync.swift      syncAllCores (membarrier SYNC_CORE)
 *
 * One patch site, a multi-byte instruction = one head byte + one tail
 * (standing for bytes 1..n-1). The patcher toggles it between version 0 and
 * version 1, NB times in a row; N executor threads run it all the while.
 *
 * Checked (spin -a textpoke.pml; cc -DSAFETY pan.c; ./pan), see check.sh:
 *  (1) no executor executes a torn instruction (head of one version, tail of
 *      the other);
 *  (2) a handler that holds a reference reads the storage of exactly the
 *      batch its reference was taken on, never storage rewritten for a later
 *      batch (the 2009 question: what guarantees the int3 handlers are done
 *      before patch_fixup_from is cleared? Here: the refcount wait);
 *  (3) a trap on our own site is never classified as foreign.
 * check.sh also requires every statement to be reached except those tagged
 * "unreachable" in their comment: the emulate, late-trap and retry paths of
 * the handler are all exercised, the assertions are not vacuous.
 * Broken variants, each must be caught (spin -DNAME):
 *  BROKEN_NO_WAIT       retire does not wait for refs == 0   -> (2) fails
 *  BROKEN_NO_SYNC       no sync after writing the int3       -> (1) fails
 *  BROKEN_NO_TAIL_SYNC  no sync between tail and head write  -> (1) fails
 *  BROKEN_NO_SEQ        handler skips the seq check, chains any int3 it
 *                       could not explain                    -> (3) fails
 *
 * Memory is sequentially consistent here. The C code gets the orderings the
 * model relies on from release/acquire on g_refs and from membarrier being a
 * full barrier on every thread; the model does not check those orderings.
 * Only safety is checked: not that the retire wait or a retry loop ends.
 */

#ifndef N
#define N 2            /* executor threads */
#endif
#ifndef NB
#define NB 3           /* consecutive batches: 0 -> 1 -> 0 -> 1 */
#endif

#define INT3 2         /* head byte value 0xCC; versions are 0 and 1 */

/* ---- the text ------------------------------------------------------- */
byte head = 0;         /* first byte of the site: 0, 1 or INT3            */
byte tail = 0;         /* the remaining bytes, as one unit: 0 or 1        */
bool infetch[N];       /* executor i is between its first and last byte
                          fetch of one instruction                        */

/* ---- trap_handler.c globals ----------------------------------------- */
byte refs = 0;         /* g_refs                                          */
byte seq = 0;          /* g_seq: odd while a batch is published/retired   */
bool sites = 0;        /* g_sites != NULL (with g_nsites = 1)             */
bool hist = 0;         /* g_hist contains our site (tp_history_add)       */

/* The tp_site array of Engine.run: allocated, filled, published, freed,
 * and the next batch's allocation gets the same memory back. stor_gen says
 * which batch last wrote it; stor_resume is tp_site.resume, modelled as
 * "the version the trapped thread continues with".                        */
byte stor_gen = 0;
byte stor_resume = 0;

/* Ghost: the batch whose publication set refs to 1 most recently. */
byte pub_gen = 0;

/* membarrier(PRIVATE_EXPEDITED_SYNC_CORE): when it returns, no thread still
 * executes bytes it fetched before the call. Modelled by waiting, thread by
 * thread, until it is not in the middle of an instruction fetch. A thread
 * that already trapped is not waited for: the handler is ordinary code, the
 * kernel does not wait for it (the whole point of the refcount).          */
inline sync_all_cores() {
  i = 0;
  do
  :: i < N -> (!infetch[i]); i++
  :: else -> break
  od
}

/* ---- Engine.run, one batch after the other (patch lock held) -------- */
active proctype Patcher() {
  byte b = 1, v, i;
  hist = 1;                      /* Engine.apply: tp_history_add(site)      */
  do
  :: b <= NB ->
     v = b % 2;                  /* the version this batch installs        */
     /* run(): sites.allocate + sites[i] = tp_site(...). The memory is the
      * previous batch's (freed by its `defer`). Allowed only while no
      * handler holds a reference to it.                                   */
     stor_gen = b;
     stor_resume = v;
     /* tp_batch_publish */
     seq++;                      /* -> odd                                  */
     sites = 1;
     atomic { refs = 1; pub_gen = b }   /* the store that publishes        */
     /* phase 1: int3 on the head byte, then sync */
     head = INT3;
#ifndef BROKEN_NO_SYNC
     sync_all_cores();
#endif
     /* phase 2: the new tail, then sync (Engine: `if anyTail`) */
     tail = v;
#ifndef BROKEN_NO_TAIL_SYNC
     sync_all_cores();
#endif
     /* phase 3: the new head byte, then sync */
     head = v;
     sync_all_cores();
     /* tp_batch_retire */
     refs--;                     /* drop the patcher's own reference        */
#ifndef BROKEN_NO_WAIT
     (refs == 0);                /* while (g_refs != 0) sched_yield();      */
#endif
     sites = 0;                  /* g_sites = NULL, g_nsites = 0            */
     seq++;                      /* -> even                                 */
     b++                         /* run() returns: `defer` frees the array  */
  :: else -> break
  od
}

/* ---- a thread executing the site, with tp_trap as its SIGTRAP handler */
/* Dead locals are cleared before every new instruction, so that states
 * that differ only in stale values are not counted apart.                 */
#define forget() h = 0; t = 0; sb = 0; sa = 0; rg = 0; got = 0; ptr = 0

active [N] proctype Executor() {
  byte id = _pid - 1;            /* Patcher is pid 0                        */
  byte h, t;                     /* the bytes this fetch got                */
  byte sb, sa;                   /* seq_before / seq_after                  */
  byte rg;                       /* ghost: pub_gen when the ref was taken   */
  bool got, ptr;

fetch:
  /* The CPU fetches the instruction's bytes in two steps, in either order
   * (prefetch, a fetch across a cache line). An int3 head traps as soon as
   * it is seen; whatever tail was fetched is dropped.                     */
  if
  :: atomic { infetch[id] = 1; h = head;
       if :: h == INT3 -> infetch[id] = 0; goto trap :: else -> skip fi }
     atomic { t = tail; assert(h == t);                     /* (1) */
              infetch[id] = 0; forget(); goto fetch }
  :: atomic { infetch[id] = 1; t = tail }
     atomic { h = head;
       if
       :: h == INT3 -> infetch[id] = 0; goto trap
       :: else -> assert(h == t);                           /* (1) */
                  infetch[id] = 0; forget(); goto fetch
       fi }
  fi;

trap:
  /* tp_trap. SIGTRAP is delivered, but the handler may be preempted
   * between any two of its steps for as long as the patcher likes: that is
   * plain interleaving here.                                              */
  sb = seq;                      /* seq_before = atomic_load(&g_seq)        */
  /* batch_get: inc-not-zero (load + CAS loop, as one atomic step) */
  atomic {
    if
    :: refs > 0 -> refs++; got = 1; rg = pub_gen
    :: else -> got = 0
    fi
  }
  if
  :: got ->
     ptr = sites;                /* batch_find: load g_sites                */
     if
     :: ptr ->                   /* ... then read s[0].addr, .resume        */
        atomic { h = stor_resume;
                 assert(stor_gen == rg);        /* (2) not reused storage */
                 assert(h == rg % 2) }          /* (2) entry intact       */
     :: else -> skip             /* g_sites == NULL: never, see below       */
     fi;
     atomic {
       refs--;                   /* batch_put                               */
       if                        /* found: RIP = resume, i.e. the thread    */
       :: ptr -> forget(); goto fetch  /* continued as version h          */
       :: else -> skip           /* [unreachable] a ref implies a batch     */
       fi
     }
  :: else -> skip
  fi;
  /* Not in the batch we saw. tp_history_contains, then the byte at `at`.
   * (hist is set once, before the first int3 exists: one step for both.) */
  atomic {
    if
    :: !hist -> goto foreign     /* never one of our sites: chain           */
    :: hist && head != INT3 ->   /* late trap: RIP = at, run the site again */
       forget(); goto fetch
    :: else -> skip
    fi
  }
#ifndef BROKEN_NO_SEQ
  sa = seq;                      /* seq_after                               */
  if
  :: sa == sb && sa % 2 == 0 -> goto foreign   /* nobody patching: chain  */
  :: else -> forget(); goto trap /* batch published/retired meanwhile: retry */
  fi;
#endif
foreign:
  assert(false)                  /* (3) [unreachable] chain() on our site   */
}
