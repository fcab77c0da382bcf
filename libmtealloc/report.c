/*
 * report.c - what libmtealloc says when it finds a bug: one function per
 * error kind, each adding what is particular to its kind to a struct
 * mte_report, which render.c turns into text or JSON.  Every report
 * starts with the fixed line
 *   ERROR: mtealloc: <cause> on address 0x... at pc 0x...
 * which tools grep for.  Reports are written one at a time across
 * threads, each with a single write, so they never interleave.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Set while this thread writes a report: api.c then keeps it off the heap. */
MTE_TLS bool mte_detour;

static _Atomic uint32_t report_owner;	/* tid writing a report, or 0 */
static char report_buf[64 << 10];

void mte_report_emit(struct mte_report *r)
{
	uint32_t me = mte_thread_id(), free_ = 0;
	size_t n;

	while (!atomic_compare_exchange_weak(&report_owner, &free_, me)) {
		if (free_ == me) {	/* we faulted while writing a report */
			static const char msg[] = "mtealloc: a fault inside "
				"the report; the report above is incomplete\n";

			mte_log_write(msg, sizeof(msg) - 1);
			return;
		}
		free_ = 0;
		sched_yield();
	}
	n = mte_render(r, mte_g.opt.report_format == MTE_REPORT_JSON,
		       report_buf, sizeof(report_buf));
	mte_log_write(report_buf, n);
	atomic_store(&report_owner, 0);
}

/* The parts every bad-free report shares. */
static void bad_free(struct mte_report *r, enum mte_cause cause,
		     const void *p, const void *pc, const char *op,
		     const char *why, const struct mte_region *chunk)
{
	bool detour = mte_detour_enter();	/* the report must not touch the heap */
	memset(r, 0, sizeof(*r));
	r->cause = cause;
	r->addr = (uintptr_t)p;
	r->addr_known = true;
	r->pc = (uintptr_t)pc;
	r->ptr_tag = mte_ptr_tag(p);
	if (mte_unit_of(p)) {
		r->mem_tag = mte_mem_tag(p);
		r->mem_tag_known = true;
	}
	r->op = op;
	r->why = why;
	r->tid = mte_thread_id();
	if (chunk)
		r->region = *chunk;
	r->depth = mte_trace_current(r->stack, mte_g.opt.stack_depth, pc);
	mte_report_emit(r);
	mte_detour = detour;
	if (!mte_g.opt.recover)
		abort();
}

void mte_report_double_free(const void *p, const void *pc, const char *op,
			    const char *why, const struct mte_region *chunk)
{
	struct mte_report r;

	mte_stat_add(MTE_STAT_double_frees, 1);
	bad_free(&r, MTE_CAUSE_DOUBLE_FREE, p, pc, op, why, chunk);
}

void mte_report_invalid_free(const void *p, const void *pc, const char *op,
			     const char *why, const struct mte_region *chunk)
{
	struct mte_report r;

	mte_stat_add(MTE_STAT_invalid_frees, 1);
	bad_free(&r, MTE_CAUSE_INVALID_FREE, p, pc, op, why, chunk);
}

/* ---- tag-check faults, after mte_classify() ---- */

static void report_use_after_free(struct mte_report *r)
{
	r->why = "the memory was freed, and the pointer still carries the "
		 "tag it had while allocated";
	mte_report_emit(r);
}

static void report_overflow(struct mte_report *r)
{
	r->why = "the access ran past the end of an allocation into memory "
		 "with another tag";
	mte_report_emit(r);
}

static void report_underflow(struct mte_report *r)
{
	r->why = "the access fell before the start of an allocation, into "
		 "memory with another tag";
	mte_report_emit(r);
}

static void report_tag_mismatch(struct mte_report *r)
{
	if (!r->why && r->addr_known)
		r->why = "the pointer's tag does not match the memory, and no "
			 "nearby or recently freed allocation carried it";
	mte_report_emit(r);
}

void mte_report_tag_fault(struct mte_report *r)
{
	mte_stat_add(MTE_STAT_faults_reported, 1);
	mte_classify(r);
	switch (r->cause) {
	case MTE_CAUSE_USE_AFTER_FREE:
		report_use_after_free(r);
		break;
	case MTE_CAUSE_OVERFLOW:
		report_overflow(r);
		break;
	case MTE_CAUSE_UNDERFLOW:
		report_underflow(r);
		break;
	default:
		report_tag_mismatch(r);
	}
}
