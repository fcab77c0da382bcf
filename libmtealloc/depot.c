/*
 * depot.c - the stack depot: every distinct (thread, stack) recorded at
 * malloc or free is stored once, and chunks keep its 28-bit id.
 *
 * One mmap of depot_mb MiB holds an open-addressing table of ids and,
 * after it, the records themselves, bump-allocated.  Inserts are lock free
 * (a compare-and-swap on the table slot), lookups are plain loads, so the
 * fault handler can read the depot at any moment.  When the depot is full
 * new stacks get id 0 ("not recorded") and the depot_full counter grows;
 * memory never exceeds the option.
 */
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define UNIT 16			/* records are aligned to this; id = offset/UNIT */

static _Atomic uint32_t *table;
static uint32_t table_mask;
static char *records;
static size_t records_size;
static _Atomic size_t records_used = UNIT;	/* offset 0 means "no record" */

bool mte_depot_init(size_t bytes)
{
	size_t slots = 1;
	char *mem;

	/* A quarter of the memory for the table, the rest for records. */
	while (slots * 2 * sizeof(uint32_t) <= bytes / 4)
		slots *= 2;
	mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return false;
	table = (_Atomic uint32_t *)mem;
	table_mask = (uint32_t)slots - 1;
	records = mem + slots * sizeof(uint32_t);
	records_size = bytes - slots * sizeof(uint32_t);
	if (records_size / UNIT > CHUNK_CTX_LIMIT)
		records_size = (size_t)CHUNK_CTX_LIMIT * UNIT;
	return true;
}

static uint32_t hash_stack(uint32_t tid, const uintptr_t *pcs, unsigned n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ tid;
	unsigned i;

	for (i = 0; i < n; i++) {
		h ^= pcs[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 31;
	}
	return (uint32_t)(h ^ (h >> 32));
}

/* A record by an id in the table. */
static inline const struct mte_depot_rec *rec_of(uint32_t id)
{
	return (const struct mte_depot_rec *)(records + (size_t)id * UNIT);
}

/* Does record r hold this thread's stack pcs[0..n), of this hash? */
static bool same(const struct mte_depot_rec *r, uint32_t hash, uint32_t tid,
		 const uintptr_t *pcs, unsigned n)
{
	unsigned i;

	if (r->hash != hash || r->tid != tid || r->depth != n)
		return false;
	for (i = 0; i < n; i++)	/* a few words: no call to memcmp() */
		if (r->pcs[i] != pcs[i])
			return false;
	return true;
}

uint32_t mte_depot_put(uint32_t tid, const uintptr_t *pcs, unsigned n)
{
	uint32_t hash, i, id, probes;
	size_t need, off;
	struct mte_depot_rec *r;

	if (!table || !n)
		return 0;
	hash = hash_stack(tid, pcs, n);
	for (i = hash & table_mask, probes = 0; probes <= table_mask;
	     i = (i + 1) & table_mask, probes++) {
		id = atomic_load_explicit(&table[i], memory_order_acquire);
		if (!id)
			break;
		if (same(rec_of(id), hash, tid, pcs, n))
			return id;
	}
	if (probes > table_mask / 4 * 3)	/* too full to probe well */
		goto full;
	need = (sizeof(*r) + n * sizeof(*pcs) + UNIT - 1) & ~(size_t)(UNIT - 1);
	off = atomic_fetch_add(&records_used, need);
	if (off + need > records_size)
		goto full;
	r = (struct mte_depot_rec *)(records + off);
	r->hash = hash;
	r->tid = tid;
	r->depth = (uint16_t)n;
	memcpy(r->pcs, pcs, n * sizeof(*pcs));
	id = (uint32_t)(off / UNIT);
	/* Publish; if another thread took the slot, move on and retry there. */
	for (;;) {
		uint32_t expected = 0;

		if (atomic_compare_exchange_strong(&table[i], &expected, id)) {
			mte_stat_add(MTE_STAT_stacks_stored, 1);
			return id;
		}
		if (same(rec_of(expected), hash, tid, pcs, n))
			return expected;	/* the same stack, raced in */
		i = (i + 1) & table_mask;
		if (++probes > table_mask)
			goto full;
	}
full:
	mte_stat_add(MTE_STAT_depot_full, 1);
	return 0;
}

const struct mte_depot_rec *mte_depot_get(uint32_t id)
{
	size_t off = (size_t)id * UNIT;

	if (!id || !records || off >= atomic_load(&records_used) ||
	    off >= records_size)
		return NULL;
	return (const struct mte_depot_rec *)(records + off);
}
