/*
 * tags.c - which tags a new chunk may take.  The policy, mte_exclude_mask(),
 * is inline in internal.h for the hot path; the MTE build hands its mask
 * to IRG, which picks in hardware, while
 * mte_choose_tag() is the same choice in software for the tests and for
 * anything that must reproduce it from a random number.
 */
#include "internal.h"

/* The random-th allowed tag, uniformly; 0 if every tag is excluded. */
unsigned mte_choose_tag(uint16_t exclude, uint64_t random)
{
	unsigned allowed = (unsigned)__builtin_popcount((uint16_t)~exclude);
	unsigned idx, t;

	if (!allowed)
		return 0;
	idx = (unsigned)(random % allowed);
	for (t = 0; t < MTE_NTAGS; t++)
		if (!(exclude & (1u << t)) && idx-- == 0)
			return t;
	return 0;
}
