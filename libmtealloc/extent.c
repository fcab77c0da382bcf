/*
 * extent.c - where heap memory comes from, and when it becomes PROT_MTE.
 *
 * jemalloc asks our extent hooks for memory.  We map it untagged and
 * record it as a "unit" (one mmap) in a table, with a page map from
 * address to unit.  A unit becomes PROT_MTE only when a tagged chunk is
 * first handed out from it (mte_extent_enable()), or when tagging is
 * switched on for a heap that is already populated
 * (mte_extent_enable_all()).  That is the mprotect(PROT_MTE)-on-populated-
 * memory path that the kernel series makes cheap.
 *
 * Units are never unmapped while the arena lives (dalloc opts out, which
 * is jemalloc's "retain"); their pages go back to the kernel through the
 * purge hooks.  The unit table and page map are lock free, so the hooks
 * take no lock of ours and fork needs no handler here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>

#include <jemalloc/jemalloc.h>

#include "internal.h"

#define MAX_UNITS	(1u << 20)

unsigned mte_lg_page;
static size_t page_size;
_Atomic(_Atomic uint32_t *) *mte_pagemap;	/* [top] -> leaf[1 << LEAF_BITS] */
#define LEAF_BITS	MTE_LEAF_BITS
#define VA_BITS		MTE_VA_BITS
struct mte_unit *mte_units;
static _Atomic unsigned nunits;
static _Atomic bool warned_mprotect;

static void *map_anon(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS |
		       MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

bool mte_extent_init(size_t page)
{
	page_size = page;
	mte_lg_page = (unsigned)__builtin_ctzl(page);
	/* at start-up, before any other thread may look at either */
	mte_units = map_anon(sizeof(*mte_units) * MAX_UNITS,
			     PROT_READ | PROT_WRITE);
	mte_pagemap = map_anon(sizeof(*mte_pagemap) <<
			       (VA_BITS - MTE_MAP_SHIFT - LEAF_BITS),
			       PROT_READ | PROT_WRITE);
	return mte_pagemap && mte_units;
}

static _Atomic uint32_t *leaf_of(uintptr_t pg, bool create)
{
	_Atomic uint32_t *leaf, *fresh;

	leaf = atomic_load_explicit(&mte_pagemap[pg >> LEAF_BITS],
				    memory_order_acquire);
	if (leaf || !create)
		return leaf;
	fresh = map_anon(sizeof(*fresh) << LEAF_BITS, PROT_READ | PROT_WRITE);
	if (!fresh)
		return NULL;
	if (!atomic_compare_exchange_strong(&mte_pagemap[pg >> LEAF_BITS], &leaf,
					    fresh)) {
		munmap(fresh, sizeof(*fresh) << LEAF_BITS);	/* lost the race */
		return leaf;
	}
	return fresh;
}

static void set_pages(uintptr_t base, size_t size, uint32_t value)
{
	uintptr_t pg;

	for (pg = base >> MTE_MAP_SHIFT; pg < (base + size) >> MTE_MAP_SHIFT;
	     pg++) {
		_Atomic uint32_t *leaf = leaf_of(pg, value != 0);

		if (leaf)
			atomic_store_explicit(&leaf[pg & ((1u << LEAF_BITS) - 1)],
					      value, memory_order_release);
	}
}

static bool register_unit(void *p, size_t size)
{
	unsigned idx = atomic_fetch_add(&nunits, 1);
	uintptr_t base = (uintptr_t)p;

	if (idx >= MAX_UNITS || (base + size) >> VA_BITS)
		return false;
	mte_units[idx].base = base;
	mte_units[idx].size = size;
	atomic_store(&mte_units[idx].state, MTE_UNIT_UNTAGGED);
	set_pages(base, size, idx + 1);
	mte_stat_add(MTE_STAT_extents_mapped, 1);
	mte_stat_add(MTE_STAT_bytes_mapped, size);
	return true;
}

/* mmap size bytes aligned to alignment, at new_addr if that is given. */
static void *map_extent(void *new_addr, size_t size, size_t alignment)
{
	char *p, *aligned;
	size_t len;

	p = mmap(new_addr, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (new_addr && p != new_addr) {
		munmap(p, size);
		return NULL;
	}
	if (!((uintptr_t)p & (alignment - 1)))
		return p;
	munmap(p, size);
	/* The kernel's page may be smaller than jemalloc's: over-map fully. */
	len = size + alignment;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	aligned = (char *)(((uintptr_t)p + alignment - 1) & ~(alignment - 1));
	if (aligned > p)
		munmap(p, (size_t)(aligned - p));
	if (aligned + size < p + len)
		munmap(aligned + size, (size_t)(p + len - aligned - size));
	return aligned;
}

static void *hook_alloc(extent_hooks_t *h, void *new_addr, size_t size,
			size_t alignment, bool *zero, bool *commit,
			unsigned arena_ind)
{
	void *p;

	(void)h;
	(void)arena_ind;
	if (alignment < page_size)
		alignment = page_size;
	p = map_extent(new_addr, size, alignment);
	if (!p)
		return NULL;
	if (!register_unit(p, size)) {
		munmap(p, size);
		return NULL;
	}
	*zero = true;
	*commit = true;
	return p;
}

/* Opt out: jemalloc keeps the range (its "retain") and reuses it. */
static bool hook_dalloc(extent_hooks_t *h, void *addr, size_t size,
			bool committed, unsigned arena_ind)
{
	(void)h; (void)addr; (void)size; (void)committed; (void)arena_ind;
	return true;
}

/* Only arena destruction gets here; we never destroy ours, but be exact. */
static void hook_destroy(extent_hooks_t *h, void *addr, size_t size,
			 bool committed, unsigned arena_ind)
{
	(void)h; (void)committed; (void)arena_ind;
	set_pages((uintptr_t)addr, size, 0);
	munmap(addr, size);
}

static bool hook_purge_lazy(extent_hooks_t *h, void *addr, size_t size,
			    size_t offset, size_t length, unsigned arena_ind)
{
	(void)h; (void)size; (void)arena_ind;
	return madvise((char *)addr + offset, length, MADV_FREE) != 0;
}

static bool hook_purge_forced(extent_hooks_t *h, void *addr, size_t size,
			      size_t offset, size_t length, unsigned arena_ind)
{
	(void)h; (void)size; (void)arena_ind;
	return madvise((char *)addr + offset, length, MADV_DONTNEED) != 0;
}

/* Splits and merges are bookkeeping only: mappings coalesce on Linux. */
static bool hook_split(extent_hooks_t *h, void *addr, size_t size,
		       size_t size_a, size_t size_b, bool committed,
		       unsigned arena_ind)
{
	(void)h; (void)addr; (void)size; (void)size_a; (void)size_b;
	(void)committed; (void)arena_ind;
	return false;
}

static bool hook_merge(extent_hooks_t *h, void *addr_a, size_t size_a,
		       void *addr_b, size_t size_b, bool committed,
		       unsigned arena_ind)
{
	(void)h; (void)addr_a; (void)size_a; (void)addr_b; (void)size_b;
	(void)committed; (void)arena_ind;
	return false;
}

/* No commit/decommit: memory stays committed, as on Linux by default. */
struct extent_hooks_s mte_extent_hooks = {
	.alloc = hook_alloc,
	.dalloc = hook_dalloc,
	.destroy = hook_destroy,
	.purge_lazy = hook_purge_lazy,
	.purge_forced = hook_purge_forced,
	.split = hook_split,
	.merge = hook_merge,
};

/* CLOCK_MONOTONIC in nanoseconds, for the time spent in mprotect(). */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Switch one unit to PROT_MTE exactly once; false if it cannot be. */
static bool enable_unit(struct mte_unit *u)
{
	unsigned st = MTE_UNIT_UNTAGGED;

	if (atomic_compare_exchange_strong(&u->state, &st, MTE_UNIT_ENABLING)) {
		uint64_t t0 = now_ns();
		int rc = mprotect((void *)u->base, u->size,
				  PROT_READ | PROT_WRITE | MTE_PROT_MTE);

		mte_stat_add(MTE_STAT_mprotect_ns, now_ns() - t0);
		mte_stat_add(MTE_STAT_mprotect_calls, 1);
		if (rc) {
			int err = errno;

			mte_stat_add(MTE_STAT_mprotect_failures, 1);
			atomic_store(&u->state, MTE_UNIT_FAILED);
			if (!atomic_exchange(&warned_mprotect, true))
				mte_logf("mtealloc: warning: mprotect(PROT_MTE) "
					 "failed on %p+%zu (errno %d); chunks "
					 "there are handed out untagged\n",
					 (void *)u->base, u->size, err);
			return false;
		}
		mte_stat_add(MTE_STAT_extents_tagged, 1);
		mte_stat_add(MTE_STAT_mprotect_bytes, u->size);
		atomic_store_explicit(&u->state, MTE_UNIT_ENABLED,
				      memory_order_release);
		return true;
	}
	/* Another thread is at it: tagging before it finishes would be lost. */
	while ((st = atomic_load_explicit(&u->state, memory_order_acquire)) ==
	       MTE_UNIT_ENABLING)
		sched_yield();
	return st == MTE_UNIT_ENABLED;
}

bool mte_extent_enable_slow(const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)mte_untag(p), end = a + len;

	while (a < end) {
		struct mte_unit *u = mte_unit_of((void *)a);

		if (!u || !enable_unit(u))
			return false;
		a = u->base + u->size;
	}
	return true;
}

size_t mte_extent_enable_all(void)
{
	unsigned i, n = atomic_load(&nunits);
	size_t bytes = 0;

	if (n > MAX_UNITS)
		n = MAX_UNITS;
	for (i = 0; i < n; i++) {
		unsigned st = atomic_load(&mte_units[i].state);

		if (mte_units[i].size && st == MTE_UNIT_UNTAGGED &&
		    enable_unit(&mte_units[i]))
			bytes += mte_units[i].size;
	}
	return bytes;
}
