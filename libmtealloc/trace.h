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
 * free), so it remembers its last record per call site; a walk that meets
 * that record's frames one by one is done, without the depot's hash.
 */
#define MTE_TRACE_LAST_SLOTS 4
extern MTE_TLS const struct mte_depot_rec
	*mte_trace_last_rec[MTE_TRACE_LAST_SLOTS];
extern MTE_TLS uint32_t mte_trace_last_id[MTE_TRACE_LAST_SLOTS];

static inline unsigned mte_trace_last_slot(const void *caller)
{
	return (unsigned)((uintptr_t)caller >> 2) & (MTE_TRACE_LAST_SLOTS - 1);
}

/* mte_trace_here() when the last record is not this stack. */
uint32_t mte_trace_record(const void *caller);

#if defined(__aarch64__)
/*
 * The walk of the frame records (x29, x30) that AArch64 code keeps in
 * every function that calls another, from malloc()'s or free()'s
 * (mte_t.api_frame, whose return address is the caller's) up, staying
 * inside the thread's stack.  With pcs, stores the walk into it and
 * returns the count (0 when the stack is not known).  Without, only
 * compares the walk with record r, and returns its depth if the stack is
 * r's, else 0: a stack seen before costs no stores, and a new one stops
 * at its first new frame.
 */
static inline __attribute__((always_inline))
unsigned mte_fp_walk_from_api(void **pcs, unsigned max, const void *caller,
			      const struct mte_depot_rec *r)
{
	uintptr_t fp = (uintptr_t)mte_t.api_frame, hi = mte_stack_hi;
	unsigned n = 0;

	if (!fp || hi <= 1 || fp + 16 > hi || hi - fp > (64UL << 20) ||
	    ((uintptr_t *)fp)[1] != (uintptr_t)caller)
		return 0;
	do {
		uintptr_t next = ((uintptr_t *)fp)[0], lr = ((uintptr_t *)fp)[1];

		if (!lr)
			break;
		if (pcs)
			pcs[n] = (void *)lr;
		else if (n >= r->depth || r->pcs[n] != lr)
			return 0;
		n++;
		if (next <= fp || next + 16 > hi || (next & 15))
			break;
		fp = next;
	} while (n < max);
	return pcs || n == r->depth ? n : 0;
}
#endif

/*
 * This stack, from the API's caller (its return address) down: its depot
 * id, or 0 when stacks are not recorded.
 */
static inline uint32_t mte_trace_here(const void *caller)
{
	if (!mte_g.opt.alloc_traces || mte_trace_busy)
		return 0;
#if defined(__aarch64__)
	if (caller) {
		unsigned s = mte_trace_last_slot(caller);
		const struct mte_depot_rec *r = mte_trace_last_rec[s];

		/* (a forked child's record has another thread id) */
		if (r && r->tid == mte_thread_id() &&
		    likely(mte_fp_walk_from_api(NULL, mte_g.opt.stack_depth,
						caller, r)))
			return mte_trace_last_id[s];
	}
#endif
	return mte_trace_record(caller);
}

#pragma GCC visibility pop

#endif /* MTEALLOC_TRACE_H */
