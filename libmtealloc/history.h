/*
 * history.h - recording a freed chunk in the ring of recent frees
 * (history.c), inline, as free() does for every tagged chunk.
 */
#ifndef MTEALLOC_HISTORY_H
#define MTEALLOC_HISTORY_H

#include "internal.h"

#pragma GCC visibility push(hidden)

#define MTE_HISTORY_SEQ_BLOCK	64

struct mte_freed {
	_Atomic uintptr_t user;	/* tagged with the tag it had while live */
	uint64_t size;
	uint32_t alloc_ctx, free_ctx;
	uint64_t seq;
};

extern struct mte_freed *mte_history_ring;	/* NULL: history_size=0 */
extern size_t mte_history_entries;
extern MTE_TLS uint64_t mte_history_seq, mte_history_seq_end;

void mte_history_next_block(void);

/*
 * The entry is cleared first and published last, so a reader sees either
 * nothing or a whole record (or, racing a writer, a stale size).
 */
static inline void mte_history_record(const void *user, size_t size,
				      uint32_t alloc_ctx, uint32_t free_ctx)
{
	struct mte_freed *f;
	uint64_t seq;

	if (!mte_history_ring)
		return;
	if (unlikely(mte_history_seq == mte_history_seq_end))
		mte_history_next_block();
	seq = mte_history_seq++;
	f = &mte_history_ring[seq % mte_history_entries];
	atomic_store_explicit(&f->user, 0, memory_order_relaxed);
	f->size = size;
	f->alloc_ctx = alloc_ctx;
	f->free_ctx = free_ctx;
	f->seq = seq;
	atomic_store_explicit(&f->user, (uintptr_t)user, memory_order_release);
}

#pragma GCC visibility pop

#endif /* MTEALLOC_HISTORY_H */
