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
 * SEQ_BLOCK, one atomic add per block, not per free.  Within a thread
 * the order is exact; between threads, a record may be up to a block's
 * worth of frees newer than its number says.  A report asks for the
 * newest record with the pointer's own tag, so this matters only when
 * two threads freed the same memory under the same tag within that span.
 */
#include <sys/mman.h>

#include "internal.h"

struct freed {
	_Atomic uintptr_t user;	/* tagged with the tag it had while live */
	uint64_t size;
	uint32_t alloc_ctx, free_ctx;
	uint64_t seq;
};

static struct freed *ring;
static size_t ring_size;
static _Atomic uint64_t next_seq = 1;

#define SEQ_BLOCK 64
static MTE_TLS uint64_t my_seq, my_seq_end;	/* this thread's block */

bool mte_history_init(size_t entries)
{
	if (!entries)
		return true;
	ring = mmap(NULL, entries * sizeof(*ring), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ring == MAP_FAILED) {
		ring = NULL;
		return false;
	}
	ring_size = entries;
	return true;
}

void mte_history_record(const void *user, size_t size, uint32_t alloc_ctx,
			uint32_t free_ctx)
{
	uint64_t seq;
	struct freed *f;

	if (!ring)
		return;
	if (unlikely(my_seq == my_seq_end)) {
		my_seq = atomic_fetch_add_explicit(&next_seq, SEQ_BLOCK,
						   memory_order_relaxed);
		my_seq_end = my_seq + SEQ_BLOCK;
	}
	seq = my_seq++;
	f = &ring[seq % ring_size];
	atomic_store_explicit(&f->user, 0, memory_order_relaxed);
	f->size = size;
	f->alloc_ctx = alloc_ctx;
	f->free_ctx = free_ctx;
	f->seq = seq;
	atomic_store_explicit(&f->user, (uintptr_t)user, memory_order_release);
}

/* The newest freed chunk with this tag whose bytes held addr. */
bool mte_history_find(uintptr_t addr, unsigned tag, struct mte_region *out)
{
	uint64_t best = 0;
	size_t i;

	for (i = 0; ring && i < ring_size; i++) {
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
