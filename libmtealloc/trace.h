/*
 * trace.h - recording the stack of a malloc() or free(), the common case
 * inline: the call site's last record, compared frame by frame with the
 * stack as it is (trace.c has the rest: walking, storing, unwinding).
 */
#ifndef MTEALLOC_TRACE_H
#define MTEALLOC_TRACE_H

#include "internal.h"

#pragma GCC visibility push(hidden)

/* The end of this thread's stack; 0: not looked up yet, 1: unknown. */
extern MTE_TLS uintptr_t mte_stack_hi;
/* Set while this thread records the long way (it may allocate). */
extern MTE_TLS bool mte_trace_busy;

/*
 * A thread records the same few stacks over and over (a loop's malloc and
 * free), so it remembers its last records, one per slot; a walk that meets
 * a record's frames one by one is done, without the depot's hash.  The
 * slot is chosen by the caller, its own caller and the stack's depth
 * (mte_trace_slot()), not by the caller alone: programs that allocate
 * through one wrapper (C++'s operator new, sqlite3's sqlite3MemMalloc)
 * have a single caller of malloc() and many stacks above it.
 */
#define MTE_TRACE_LAST_SLOTS 64
extern MTE_TLS const struct mte_depot_rec
	*mte_trace_last_rec[MTE_TRACE_LAST_SLOTS];
extern MTE_TLS uint32_t mte_trace_last_id[MTE_TRACE_LAST_SLOTS];

/* mte_trace_here() when the last record is not this stack. */
uint32_t mte_trace_record(const void *caller);

#if defined(__aarch64__)
/*
 * The walk of the frame records (x29, x30) that AArch64 code keeps in
 * every function that calls another, from malloc()'s or free()'s
 * (mte_t.api_frame, whose return address is the caller's) up, staying
 * inside the thread's stack.  Under emulation every branch ends a
 * translation block, so the tests below are written with & and |: one
 * branch each, not one per condition.
 */

/* The API's frame record, if it is on this thread's stack and names caller. */
static inline __attribute__((always_inline))
uintptr_t mte_fp_start(const void *caller)
{
	uintptr_t fp = (uintptr_t)mte_t.api_frame, hi = mte_stack_hi;

	/* fp + 16 <= hi and hi - fp <= 64 MiB in one compare (fails for hi <= 1) */
	if (!fp | (hi - fp - 16 > (64UL << 20) - 16))
		return 0;
	return ((uintptr_t *)fp)[1] == (uintptr_t)caller ? fp : 0;
}

/* May the walk go on from the record at fp to next: above, aligned, inside? */
static inline __attribute__((always_inline))
bool mte_fp_next_ok(uintptr_t next, uintptr_t fp, uintptr_t hi)
{
	return (next > fp) & (next + 16 <= hi) & !(next & 15);
}

/*
 * The slot of the stack whose first frame record is fp: a hash of the
 * caller's address, its own caller's (one step up, if the walk may go
 * there) and the record's depth in the stack.  The depth tells apart
 * most paths by which one call site is reached, without walking them
 * (each has its own frames below); the second address, two callers whose
 * frames happen to be the same size.  A loop's stack keeps its slot.
 */
static inline __attribute__((always_inline))
unsigned mte_trace_slot(uintptr_t fp, uintptr_t hi)
{
	uintptr_t next = ((uintptr_t *)fp)[0], up, h;

	up = mte_fp_next_ok(next, fp, hi) ? next : fp;
	__asm__("" : "+r"(up));	/* a select and a load, no branch */
	h = ((uintptr_t *)fp)[1] ^ (((uintptr_t *)up)[1] * 3) ^
	    ((hi - fp) << 24);
	return (unsigned)((h * 0x9e3779b97f4a7c15ULL) >> 58) &
	       (MTE_TRACE_LAST_SLOTS - 1);
}

/* The walk into pcs from mte_fp_start()'s record fp: its depth (trace.c). */
unsigned mte_fp_walk_from(void **pcs, unsigned max, uintptr_t fp);

/*
 * Is the stack from the frame record fp (mte_fp_start()'s) record r's, as
 * mte_fp_walk_from() would walk it?  Each
 * frame's return address is compared with r's as the walk goes, so a new
 * stack stops at its first new frame, and a stack seen before costs no
 * stores.  It is r's when all r->depth frames match and the walk would
 * have stopped there: at max frames, at a record it may not go on to, or
 * at a zero return address.
 */
static inline __attribute__((always_inline))
bool mte_fp_walk_same(uintptr_t fp, uintptr_t hi, const struct mte_depot_rec *r,
		      unsigned max)
{
	const uintptr_t *want = r->pcs;
	unsigned left = r->depth;
	uintptr_t next;
	bool same = true;

	if (!left)
		return false;
	while (same & (left > 1)) {	/* one branch a frame */
		next = ((uintptr_t *)fp)[0];
		same = (((uintptr_t *)fp)[1] == *want++) &
		       mte_fp_next_ok(next, fp, hi);
		fp = next;
		left--;
	}
	if (!same)
		return false;
	next = ((uintptr_t *)fp)[0];
	if (((uintptr_t *)fp)[1] != *want)
		return false;
	return r->depth >= max || !mte_fp_next_ok(next, fp, hi) ||
	       !((uintptr_t *)next)[1];
}
#endif

/*
 * This stack, from the API's caller (its return address) down: its depot
 * id, or 0 when stacks are not recorded.
 */
static inline __attribute__((always_inline))
uint32_t mte_trace_here(const void *caller)
{
	if (!mte_g.opt.alloc_traces || mte_trace_busy)
		return 0;
#if defined(__aarch64__)
	{
		/*
		 * A NULL caller never starts a walk: a frame's return address
		 * is not NULL, and the walk needs it to be the caller's.
		 */
		uintptr_t fp = mte_fp_start(caller), hi = mte_stack_hi;
		/*
		 * fp is tested twice on purpose: GCC makes this a select, and
		 * one if (fp) around it all cost 65 host instructions a pair
		 * more under qemu (counted).
		 */
		unsigned s = fp ? mte_trace_slot(fp, hi) : 0;
		const struct mte_depot_rec *r = mte_trace_last_rec[s];

		/*
		 * A forked child's record has another thread id, and none
		 * has 0, the id of a thread that has not recorded yet.
		 */
		if (fp && r && r->tid == mte_tid &&
		    likely(mte_fp_walk_same(fp, hi, r, mte_g.opt.stack_depth)))
			return mte_trace_last_id[s];
	}
#endif
	return mte_trace_record(caller);
}

#pragma GCC visibility pop

#endif /* MTEALLOC_TRACE_H */
