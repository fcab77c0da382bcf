/*
 * tags.c - which tags a new chunk may take.  This is the policy; the MTE
 * build hands the exclusion mask to IRG, which picks in hardware, while
 * mte_choose_tag() is the same choice in software for the tests and for
 * anything that must reproduce it from a random number.
 */
#include "internal.h"

/*
 * Tag 0 is never handed out: chunk headers and untagged memory carry it,
 * so an access that runs off a chunk into its header always faults.  The
 * neighbours' tags are excluded so that a linear overflow or underflow
 * into the next chunk always faults, and the chunk's previous tag so that
 * a stale pointer never matches the memory again.  Arguments < 0 mean
 * "unknown" and exclude nothing.
 */
uint16_t mte_exclude_mask(int prev_tag, int next_tag, int old_tag)
{
	uint16_t mask = 1;

	if (prev_tag >= 0)
		mask |= (uint16_t)(1u << (prev_tag & 0xf));
	if (next_tag >= 0)
		mask |= (uint16_t)(1u << (next_tag & 0xf));
	if (old_tag >= 0)
		mask |= (uint16_t)(1u << (old_tag & 0xf));
	return mask;
}

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
