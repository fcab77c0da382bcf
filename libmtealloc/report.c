/*
 * report.c - what libmtealloc says when it finds a bug, one function per
 * error kind.  Every report starts with the fixed line
 *   ERROR: mtealloc: <cause> on address 0x... at pc 0x...
 * which tools grep for.  Reports go to the log (stderr or log_path), are
 * formatted without malloc or stdio, and end the process with abort().
 */
#include <stdlib.h>

#include "internal.h"

static void report_head(const char *cause, const void *p, const void *pc)
{
	mte_logf("ERROR: mtealloc: %s on address %p at pc %p\n", cause, p, pc);
}

void mte_report_invalid_free(const void *p, const void *pc, const char *op,
			     const char *why)
{
	mte_stat_add(MTE_STAT_invalid_frees, 1);
	report_head("invalid-free", p, pc);
	mte_logf("  %s(%p): %s.\n  pointer tag %u, memory tag %u\n", op, p, why,
		 mte_ptr_tag(p), mte_unit_of(p) ? mte_mem_tag(p) : 0);
	abort();
}

void mte_report_double_free(const void *p, const void *pc, const char *op,
			    const char *why)
{
	mte_stat_add(MTE_STAT_double_frees, 1);
	report_head("double-free", p, pc);
	mte_logf("  %s(%p): %s.\n  pointer tag %u, memory tag %u\n", op, p, why,
		 mte_ptr_tag(p), mte_mem_tag(p));
	abort();
}
