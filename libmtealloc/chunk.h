/*
 * chunk.h - the layout of a tagged chunk.
 *
 *   base                      user (tagged T)           base + usize
 *   | padding (tag 0) | header (tag 0) | user data (tag T) ...     |
 *
 * base is what jemalloc returned.  The header is the granule just before
 * the user pointer; it and any alignment padding carry tag 0, which is
 * never handed out, so a one-granule underflow, or an overflow into the
 * next chunk's header, always faults.  The whole of [user, base + usize)
 * is tagged and usable.  Padding is 16 bytes, or the alignment when a
 * caller asks for more than 16.
 *
 * The header word holds the requested size, the state, the alignment and
 * a checksum keyed by a per-process secret and the user address, so that
 * free() can tell a real chunk start from anything else before it writes.
 * The two context words hold the stack-depot ids of the allocation and
 * the free; the free word's top bits keep the tag the chunk has while it
 * is live, set by malloc() and kept by free(), so that free() can match a
 * pointer against it without reading memory tags, and so that the next
 * allocation of the same memory avoids it.  Whatever retags a live chunk
 * updates it.
 */
#ifndef MTEALLOC_CHUNK_H
#define MTEALLOC_CHUNK_H

#include <stdint.h>

#define CHUNK_SIZE_BITS		42
#define CHUNK_MAX_SIZE		((1ULL << CHUNK_SIZE_BITS) - 1)
#define CHUNK_STATE_SHIFT	42
#define CHUNK_LGALIGN_SHIFT	44
#define CHUNK_CHECK_SHIFT	50
#define CHUNK_CHECK_MASK	0x3fffULL
#define CHUNK_CTX_MASK		MTE_CTX_MASK
#define CHUNK_OLDTAG_SHIFT	MTE_CTX_BITS

enum chunk_state { CHUNK_ALLOCATED = 1, CHUNK_FREED = 2 };

struct chunk_hdr {
	_Atomic uint64_t word;
	uint32_t alloc_ctx;
	uint32_t free_ctx;	/* free's ctx id | tag while live << 28 */
};

_Static_assert(sizeof(struct chunk_hdr) == 16, "a header is one granule");

static inline uint64_t chunk_check(uintptr_t user, uint64_t word,
				   uint64_t secret)
{
	uint64_t x = (user ^ secret) * 0x9e3779b97f4a7c15ULL;

	x ^= word & ~(CHUNK_CHECK_MASK << CHUNK_CHECK_SHIFT);
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	return x & CHUNK_CHECK_MASK;
}

static inline uint64_t chunk_word(uintptr_t user, uint64_t size,
				  enum chunk_state st, unsigned lg_align,
				  uint64_t secret)
{
	uint64_t w = size | (uint64_t)st << CHUNK_STATE_SHIFT |
		     (uint64_t)lg_align << CHUNK_LGALIGN_SHIFT;

	return w | chunk_check(user, w, secret) << CHUNK_CHECK_SHIFT;
}

static inline bool chunk_word_valid(uintptr_t user, uint64_t w,
				    uint64_t secret)
{
	return (w >> CHUNK_CHECK_SHIFT) == chunk_check(user, w, secret);
}

static inline uint64_t chunk_size(uint64_t w)
{
	return w & CHUNK_MAX_SIZE;
}

static inline enum chunk_state chunk_state(uint64_t w)
{
	return (enum chunk_state)((w >> CHUNK_STATE_SHIFT) & 3);
}

static inline unsigned chunk_lg_align(uint64_t w)
{
	return (unsigned)((w >> CHUNK_LGALIGN_SHIFT) & 63);
}

/* Bytes between jemalloc's base and the user pointer. */
static inline size_t chunk_pad(unsigned lg_align)
{
	return lg_align ? (size_t)1 << lg_align : MTE_GRANULE;
}

/* Bytes asked of jemalloc for a user size. */
static inline size_t chunk_request(size_t size, unsigned lg_align)
{
	size_t usr = (size + MTE_GRANULE - 1) & ~(MTE_GRANULE - 1);

	return chunk_pad(lg_align) + (usr ? usr : MTE_GRANULE);
}

#endif /* MTEALLOC_CHUNK_H */
