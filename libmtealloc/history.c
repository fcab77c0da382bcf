/*
 * history.c - a ring of the most recently freed chunks: where each was,
 * its size, the tag it had while live, and its allocation and free stacks.
 *
 * A chunk's header describes only the newest use of its memory; once the
 * memory is allocated again, a stale pointer's fault would be blamed on
 * the new owner.  The ring lets the report find the freed chunk that
 * carried the faulting pointer's tag instead.  history_size entries of 32
 * bytes, written lock free; a reader may see an entry being overwritten,
 * which costs at most a less precise report.
 *
 * Each thread takes sequence numbers (and so ring slots) in blocks of
 * MTE_HISTORY_SEQ_BLOCK, one atomic add per block, not per free.  Within
 * a thread the order is exact; between threads, a record may be up to a
 * block's worth of frees newer than its number says.  A report asks for the
 * newest record with the pointer's own tag, so this matters only when
 * two threads freed the same memory under the same tag within that span.
 *
 * Recording is history.h's, inline in free(); this file sets the ring
 * up and searches it.
 */
#include <sys/mman.h>

#include "internal.h"
#include "history.h"

struct mte_freed *mte_history_ring;
size_t mte_history_entries;
MTE_TLS uint64_t mte_history_seq, mte_history_seq_end;
static _Atomic uint64_t next_seq = 1;

bool mte_history_init(size_t entries)
{
	struct mte_freed *ring;

	if (!entries)
		return true;
	ring = mmap(NULL, entries * sizeof(*ring), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ring == MAP_FAILED)
		return false;
	mte_history_entries = entries;
	mte_history_ring = ring;
	return true;
}

void mte_history_next_block(void)
{
	mte_history_seq = atomic_fetch_add_explicit(&next_seq,
			MTE_HISTORY_SEQ_BLOCK, memory_order_relaxed);
	mte_history_seq_end = mte_history_seq + MTE_HISTORY_SEQ_BLOCK;
}

/* The newest freed chunk with this tag whose bytes held addr. */
bool mte_history_find(uintptr_t addr, unsigned tag, struct mte_region *out)
{
	const struct mte_freed *ring = mte_history_ring;
	uint64_t best = 0;
	size_t i;

	for (i = 0; ring && i < mte_history_entries; i++) {
		uintptr_t u = atomic_load_explicit(&ring[i].user,
						   memory_order_acquire);
		uintptr_t start = (uintptr_t)mte_untag((void *)u);

		if (!u || mte_ptr_tag((void *)u) != tag || addr < start ||
		    addr >= start + ((ring[i].size + 15) & ~(uint64_t)15) ||
		    ring[i].seq <= best)
			continue;
		best = ring[i].seq;
		out->start = start;
		out->size = ring[i].size;
		out->usable = (ring[i].size + 15) & ~(uint64_t)15;
		out->tag = tag;
		out->alloc_ctx = ring[i].alloc_ctx & MTE_CTX_MASK;
		out->free_ctx = ring[i].free_ctx & MTE_CTX_MASK;
		out->freed = true;
		out->known = true;
	}
	return best != 0;
}
