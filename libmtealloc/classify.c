/*
 * classify.c - from a faulting address and the pointer's tag, decide what
 * kind of bug it was and which allocation it concerns, as Scudo's
 * getErrorInfo() does: the chunk the address falls in (through its
 * header), the nearest live neighbours carrying the pointer's tag, and the
 * ring of recently freed chunks.  It only reads memory tags (LDG, which
 * never faults) and headers (tag 0), and only inside mtealloc's heap.
 */
#include "internal.h"

#define SCAN_BACK	(16UL << 20)	/* how far back to look for a header */
#define SCAN_NEAR	(64UL << 10)	/* how far to look for neighbours */
#define NEIGHBOURS	4

/*
 * The chunk whose bytes [start, start + usable) hold a, found by its
 * header, the nearest one at or before a; *hdr is that header even when
 * a lies outside the chunk (in a header, or past its end).
 */
bool mte_chunk_containing(uintptr_t a, struct mte_region *c, uintptr_t *hdr)
{
	uintptr_t g = a & ~(MTE_GRANULE - 1);
	uintptr_t lo = g > SCAN_BACK ? g - SCAN_BACK : 0;

	for (; g >= lo && g >= MTE_GRANULE && mte_unit_of((void *)g);
	     g -= MTE_GRANULE) {
		if (mte_mem_tag((void *)g) != 0 || !mte_chunk_at(g, c))
			continue;
		*hdr = g;
		return a >= c->start && a < c->start + c->usable;
	}
	return false;
}

/*
 * Nearest live chunk ending at or before a (below 'from') with tag t;
 * *rank is 1 when it is the first chunk met, the one next to 'from'.
 */
static bool left_match(uintptr_t a, uintptr_t from, unsigned t,
		       struct mte_region *out, unsigned *rank)
{
	uintptr_t g = (from & ~(MTE_GRANULE - 1)) - MTE_GRANULE;
	unsigned seen = 0;

	for (; g + SCAN_NEAR > a && seen < NEIGHBOURS &&
	       mte_unit_of((void *)g); g -= MTE_GRANULE) {
		if (mte_mem_tag((void *)g) != 0 || !mte_chunk_at(g, out))
			continue;
		*rank = ++seen;
		if (!out->freed && out->tag == t && a >= out->start)
			return true;
	}
	return false;
}

/* The same to the right: a live chunk starting after a with tag t. */
static bool right_match(uintptr_t a, unsigned t, struct mte_region *out,
			unsigned *rank)
{
	uintptr_t g = a & ~(MTE_GRANULE - 1);
	unsigned seen = 0;

	while (g < a + SCAN_NEAR && seen < NEIGHBOURS && mte_unit_of((void *)g)) {
		if (mte_mem_tag((void *)g) == 0 && mte_chunk_at(g, out)) {
			*rank = ++seen;
			if (!out->freed && out->tag == t)
				return true;
			g = out->start + out->usable;	/* skip its body */
			continue;
		}
		g += MTE_GRANULE;
	}
	return false;
}

/* Is an access distance bytes off the adjacent chunk n within its reach? */
static bool within_reach(const struct mte_region *n, bool adjacent,
			 uintptr_t distance)
{
	return adjacent && distance <= (n->size > 64 ? n->size : 64);
}

void mte_classify(struct mte_report *r)
{
	uintptr_t a = (uintptr_t)mte_untag((void *)r->addr), hdr = 0;
	struct mte_region c = { 0 }, l = { 0 }, rt = { 0 };
	bool in_c, has_l, has_r;
	unsigned l_rank = 0, r_rank = 0;

	r->cause = MTE_CAUSE_TAG_MISMATCH;
	if (!r->addr_known || !mte_unit_of((void *)a)) {
		r->why = r->addr_known ? "the address is not in mtealloc's heap"
				       : NULL;
		return;
	}
	r->mem_tag = mte_mem_tag((void *)a);
	r->mem_tag_known = true;
	in_c = mte_chunk_containing(a, &c, &hdr);

	/* 1. the chunk itself, freed, and the pointer still has its old tag */
	if (in_c && c.freed && c.tag == r->ptr_tag && a >= c.start) {
		r->cause = MTE_CAUSE_USE_AFTER_FREE;
		r->region = c;
		return;
	}
	has_l = left_match(a, in_c ? hdr : a + MTE_GRANULE, r->ptr_tag, &l,
			   &l_rank);
	has_r = right_match(a, r->ptr_tag, &rt, &r_rank);
	/*
	 * 2. inside another chunk's body, where a chunk freed with this
	 * tag once stood: the memory was reused, unless a chunk next door
	 * carries the tag and the access is within its own length of it,
	 * which makes an overflow or underflow the likelier story.
	 * Neighbours further off may carry the tag by chance.
	 */
	if (in_c && !within_reach(&l, has_l && l_rank == 1,
				  a - (l.start + l.size)) &&
	    !within_reach(&rt, has_r && r_rank == 1, rt.start - a) &&
	    mte_history_find(a, r->ptr_tag, &r->region)) {
		r->cause = MTE_CAUSE_USE_AFTER_FREE;
		return;
	}
	/* 3. a live neighbour carries the pointer's tag: ran off its end */
	if (has_l && (!has_r || a - (l.start + l.size) <= rt.start - a)) {
		r->cause = MTE_CAUSE_OVERFLOW;
		r->region = l;
		return;
	}
	if (has_r) {
		r->cause = MTE_CAUSE_UNDERFLOW;
		r->region = rt;
		return;
	}
	/* 4. memory that was freed with this tag (a header, now) */
	if (mte_history_find(a, r->ptr_tag, &r->region)) {
		r->cause = MTE_CAUSE_USE_AFTER_FREE;
		return;
	}
	/* 5. nothing better: say where it fell */
	if (in_c)
		r->region = c;
}
