/*
 * cache.h - each thread's cache of its freed small tagged chunks, kept
 * tagged, for its next allocations of the same size class.
 *
 * free() gives a chunk a new random tag, as it must, so that stale
 * pointers no longer match.  A chunk handed back to jemalloc loses the
 * value of that work: whoever allocates it next must set its tags again.
 * A chunk kept here is handed out by the next malloc() of its class as it
 * is, with the tag free() gave it, and no tag is written: one tag store
 * per granule for a free and an allocation together, where tagging at
 * both ends takes two.  The tag free() chose excluded the chunk's old tag
 * and its neighbours', and every chunk tagged since excluded this one's,
 * so the chunk comes out of the cache as valid as if it had been tagged
 * at that moment.
 *
 * The slots are arrays, never links through the freed memory: a write
 * through a stale pointer (unchecked in async mode, or after recover=1)
 * cannot redirect an allocation.  A chunk stays marked freed in its
 * header while it is here, so a double free or a use after free of it is
 * reported as of any freed chunk.  jemalloc counts the memory as in use:
 * at most cache_slots chunks of each small class stay per thread, fewer
 * where that would be over MTE_CACHE_BIN_BYTES, and a thread gives its
 * chunks back to jemalloc when it exits.
 */
#ifndef MTEALLOC_CACHE_H
#define MTEALLOC_CACHE_H

#include "internal.h"

#pragma GCC visibility push(hidden)

#define MTE_CACHE_MAX_USIZE	14336	/* jemalloc's largest small class */
#define MTE_CACHE_BINS		40	/* >= jemalloc's classes up to it */
#define MTE_CACHE_BIN_BYTES	16384	/* fewer slots where chunks are big */

/*
 * A thread's cache is mapped at its first push, not kept in thread-local
 * storage: glibc carves static TLS out of every thread's stack, and a few
 * KiB more there would make pthread_create() refuse PTHREAD_STACK_MIN.
 */
struct mte_cache {
	uint8_t n[MTE_CACHE_BINS];
	void *slot[];			/* tagged; bin b at mte_cache_at[b] */
};

extern MTE_TLS struct mte_cache *mte_cache;	/* NULL until the first push */
/* jemalloc size class (usize / 16) -> bin + 1; 0: not cached */
extern uint8_t mte_cache_bin_of[MTE_CACHE_MAX_USIZE / MTE_GRANULE + 1];
extern uint16_t mte_cache_at[MTE_CACHE_BINS];	/* a bin's first slot */
extern uint8_t mte_cache_cap[MTE_CACHE_BINS];	/* ... and its slots */

/* Set up from jemalloc's classes and the options; at start-up. */
void mte_cache_init(void);
/* Map this thread's cache, to be emptied when it exits; NULL if not. */
struct mte_cache *mte_cache_create(void);

static inline unsigned mte_cache_bin(size_t usize)
{
	return usize <= MTE_CACHE_MAX_USIZE ?
	       mte_cache_bin_of[usize / MTE_GRANULE] : 0;
}

/* A freed chunk of jemalloc size usize, tagged, or NULL. */
static inline void *mte_cache_pop(size_t usize)
{
	struct mte_cache *c = mte_cache;
	unsigned b = mte_cache_bin(usize);

	if (!b-- || !c || !c->n[b])
		return NULL;
	return c->slot[mte_cache_at[b] + --c->n[b]];
}

/* Keep the freed chunk at user (tagged as it is now); false if full. */
static inline bool mte_cache_push(void *user, size_t usize)
{
	struct mte_cache *c = mte_cache;
	unsigned b = mte_cache_bin(usize);

	if (!b--)
		return false;
	if (unlikely(!c) && !(c = mte_cache_create()))
		return false;
	if (c->n[b] >= mte_cache_cap[b])
		return false;
	c->slot[mte_cache_at[b] + c->n[b]++] = user;
	return true;
}

#pragma GCC visibility pop

#endif /* MTEALLOC_CACHE_H */
