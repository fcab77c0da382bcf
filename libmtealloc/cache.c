/*
 * cache.c - setting up the per-thread cache of freed tagged chunks
 * (cache.h, where the hot path is), and emptying it when a thread exits.
 */
#include <pthread.h>

#include "internal.h"
#include "cache.h"

MTE_TLS struct mte_cache mte_cache;
uint8_t mte_cache_bin_of[MTE_CACHE_MAX_USIZE / MTE_GRANULE + 1];
uint16_t mte_cache_at[MTE_CACHE_BINS];
uint8_t mte_cache_cap[MTE_CACHE_BINS];

static size_t bin_usize[MTE_CACHE_BINS];
static pthread_key_t exit_key;

/*
 * Give every chunk this thread keeps back to jemalloc: the thread's exit
 * destructor, run through an unchecked entry (memtag.h), so that jemalloc
 * touches the chunks with tag checks suspended, as on every other path.
 */
void mte_cache_empty_work(void *unused);
void mte_unchecked_cache_empty(void *unused);
MTE_UNCHECKED_ENTRY(mte_unchecked_cache_empty, mte_cache_empty_work);

__attribute__((noinline, noclone, used))
void mte_cache_empty_work(void *unused)
{
	unsigned b;

	(void)unused;
	for (b = 0; b < MTE_CACHE_BINS; b++)
		while (mte_cache.n[b]) {
			char *user = mte_untag(mte_cache.slot[mte_cache_at[b] +
							      --mte_cache.n[b]]);

			mte_je_free_sized(user - MTE_GRANULE, bin_usize[b], 0);
			mte_stat_add(MTE_STAT_cache_returned, 1);
		}
	mte_cache.registered = false;	/* a later free registers again */
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
		cap = MTE_CACHE_BIN_BYTES / usize;
		cap = cap < 1 ? 1 : cap > slots ? slots : cap;
		if (bins == MTE_CACHE_BINS || at + cap > MTE_CACHE_TOTAL)
			break;
		bin_usize[bins] = usize;
		mte_cache_at[bins] = (uint16_t)at;
		mte_cache_cap[bins] = (uint8_t)cap;
		at += cap;
		mte_cache_bin_of[i] = (uint8_t)++bins;
	}
}
/*
 * On this thread's first push: empty the cache when the thread exits.
 * False if that cannot be arranged; then nothing is kept.
 */
bool mte_cache_register(void)
{
	mte_cache.registered = !pthread_setspecific(exit_key, &mte_cache);
	return mte_cache.registered;
}
