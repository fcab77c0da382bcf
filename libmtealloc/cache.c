/*
 * cache.c - setting up the per-thread cache of freed tagged chunks
 * (cache.h, where the hot path is), and emptying it when a thread exits.
 */
#include <pthread.h>
#include <sys/mman.h>

#include "internal.h"
#include "cache.h"

MTE_TLS struct mte_cache *mte_cache;
uint8_t mte_cache_bin_of[MTE_CACHE_MAX_USIZE / MTE_GRANULE + 1];
uint16_t mte_cache_at[MTE_CACHE_BINS];
uint8_t mte_cache_cap[MTE_CACHE_BINS];

static size_t bin_usize[MTE_CACHE_BINS];
static size_t cache_bytes;		/* one thread's mapping; 0: no cache */
static pthread_key_t exit_key;

/*
 * Give every chunk the thread kept back to jemalloc, and unmap its cache:
 * the thread's exit destructor, run through an unchecked entry (memtag.h),
 * so that jemalloc touches the chunks with tag checks suspended, as on
 * every other path.
 */
void mte_cache_empty_work(void *cache);
void mte_unchecked_cache_empty(void *cache);
MTE_UNCHECKED_ENTRY(mte_unchecked_cache_empty, mte_cache_empty_work);

__attribute__((noinline, noclone, used))
void mte_cache_empty_work(void *cache)
{
	struct mte_cache *c = cache;
	unsigned b;

	for (b = 0; b < MTE_CACHE_BINS; b++)
		while (c->n[b]) {
			char *user = mte_untag(c->slot[mte_cache_at[b] +
						       --c->n[b]]);

			mte_je_free_sized(user - MTE_GRANULE, bin_usize[b], 0);
			mte_stat_add(MTE_STAT_cache_returned, 1);
		}
	if (mte_cache == c)
		mte_cache = NULL;	/* a later free maps another */
	munmap(c, cache_bytes);
}

/*
 * One bin per jemalloc size class up to MTE_CACHE_MAX_USIZE; a chunk's
 * class is its usize, since chunks of a class all take the class's size.
 * Each bin has cache_slots slots, or as many as MTE_CACHE_BIN_BYTES holds
 * if that is fewer, but at least one.
 */
void mte_cache_init(void)
{
	unsigned i, bins = 0, at = 0, cap, slots = mte_g.opt.cache_slots;

	if (!slots || pthread_key_create(&exit_key, mte_unchecked_cache_empty))
		return;			/* no cache: every free goes to jemalloc */
	for (i = 1; i <= MTE_CACHE_MAX_USIZE / MTE_GRANULE; i++) {
		size_t usize = i * MTE_GRANULE;

		if (mte_je_class_size[i] != usize)
			continue;	/* not a class of its own */
		if (bins == MTE_CACHE_BINS)
			break;
		cap = MTE_CACHE_BIN_BYTES / usize;
		cap = cap < 1 ? 1 : cap > slots ? slots : cap;
		bin_usize[bins] = usize;
		mte_cache_at[bins] = (uint16_t)at;
		mte_cache_cap[bins] = (uint8_t)cap;
		at += cap;
		mte_cache_bin_of[i] = (uint8_t)++bins;
	}
	cache_bytes = sizeof(struct mte_cache) + at * sizeof(void *);
}

struct mte_cache *mte_cache_create(void)
{
	struct mte_cache *c;

	if (!cache_bytes)
		return NULL;
	c = mmap(NULL, cache_bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED)
		return NULL;
	if (pthread_setspecific(exit_key, c)) {
		munmap(c, cache_bytes);	/* then nothing is kept */
		return NULL;
	}
	return mte_cache = c;
}
