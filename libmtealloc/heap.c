/*
 * heap.c - chunks: handing them out tagged, and taking them back only
 * after checking that they are what the caller says.
 *
 * A pointer's own tag says which kind of chunk it names.  Tag != 0: a
 * tagged chunk with a header (chunk.h).  Tag 0: an untagged chunk, made
 * while tagging was off (mode=off, no MTE, or before a late
 * mtealloc_set_mode()), which jemalloc owns as it is.  Dispatching on the
 * pointer rather than on the current mode keeps both kinds valid across
 * mode changes.
 *
 * free() validates before it writes anything: the address must be in our
 * heap, the granule before it must be a header (tag 0, checksum), and the
 * pointer's tag must match its memory.  Anything else is reported.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "chunk.h"
#include "cache.h"
#include "history.h"
#include "trace.h"

/* Is granule g, next to the chunk byte inside, heap memory of ours? */
static inline bool heap_next_to(const char *g, const char *inside)
{
	return ((uintptr_t)g >> mte_lg_page) ==
	       ((uintptr_t)inside >> mte_lg_page) || mte_unit_of(g);
}

/* Memory tag of granule g, or -1 where g is not heap memory of ours. */
static inline int neighbour_tag(const char *g, const char *inside)
{
	return heap_next_to(g, inside) ? (int)mte_mem_tag(g) : -1;
}

static inline bool same_page(const char *a, const char *b)
{
	return ((uintptr_t)a >> mte_lg_page) == ((uintptr_t)b >> mte_lg_page);
}

/*
 * Tag parity, as in Scudo.  The chunks of a slab lie usize apart, so the
 * parity of base / usize alternates from one to the next; a chunk takes
 * a tag of that parity (odd: 1, 3 .. 15; even: 2, 4 .. 14), and so never
 * its neighbour's in the slab, without reading it.  A neighbour sharing
 * a page with the chunk is in its slab (slabs are whole pages); one
 * beyond a page boundary may be anything, and its tag is read with LDG.
 * The price is fewer tags to choose from: seven or eight, less the old.
 */
#define EXCLUDE_FOR_ODD		0x5555U	/* every even tag, 0 too */
#define EXCLUDE_FOR_EVEN	0xaaabU	/* every odd tag, and 0 */

static inline uint16_t parity_mask(const char *base, size_t usize)
{
	return ((uintptr_t)base / usize) & 1 ? EXCLUDE_FOR_ODD
					     : EXCLUDE_FOR_EVEN;
}

/*
 * The tags the chunk [base, end) must not take: 0, the other parity's,
 * both neighbours' where they are beyond a page boundary, and old_tag
 * (ignored if < 0).
 */
static inline uint16_t exclude_around(const char *base, const char *end,
				      int old_tag)
{
	int left = same_page(base - MTE_GRANULE, base) ? -1 :
		   neighbour_tag(base - MTE_GRANULE, base);
	int right = same_page(end + MTE_GRANULE, end - 1) ? -1 :
		    neighbour_tag(end + MTE_GRANULE, end - 1);

	return parity_mask(base, (size_t)(end - base)) |
	       mte_exclude_mask(left, right, old_tag);
}

/*
 * Tag 0 on the granule after a chunk's end, so that running off the end
 * always faults.  It is the next chunk's header or padding where there is
 * a next chunk, which carry 0 anyway, but after a large chunk, or before a
 * slot not yet used since its memory last held something else, it may
 * keep any tag.  Tag 0 is right for every granule that is not a chunk's
 * user memory, and a chunk's user memory never starts at a chunk's base.
 */
static inline void seal_after(char *end)
{
	if (heap_next_to(end, end - 1))
		mte_stg(end);
}

static inline struct chunk_hdr *hdr_of(const char *user)
{
	return (struct chunk_hdr *)(user - MTE_GRANULE);
}

/*
 * The tag this memory had as a live chunk, if a freed header says so.
 * The allocator runs with tag checks suspended (api.c), so the granule is
 * read as it is; the checksum tells a header from anything else.  Should
 * checks be on (tagging came on between the API's check and ours), it is
 * read through its own tag, which never faults.
 */
static inline int previous_tag(char *user)
{
	struct chunk_hdr *h = hdr_of(user);
	uint64_t w;

	if (unlikely(!mte_get_tco()))
		h = mte_ldg(h);
	w = atomic_load_explicit(&h->word, memory_order_relaxed);
	if (chunk_word_valid((uintptr_t)user, w, mte_g.secret) &&
	    chunk_state(w) == CHUNK_FREED)
		return (int)(h->free_ctx >> CHUNK_OLDTAG_SHIFT);
	return -1;
}

/*
 * The tags a chunk [base, end) that takes a new tag must avoid: those of
 * exclude_around(), and a freed right neighbour's old tag, so that an
 * overflow into it does not look like a use-after-free of it in a report.
 * (In the slab, parity has excluded that one already.)
 */
static inline uint16_t exclude_for_new_tag(const char *base, const char *end,
					   int old_tag)
{
	uint16_t exclude = exclude_around(base, end, old_tag);
	int t;

	if (!same_page(end + MTE_GRANULE, end - 1) &&
	    heap_next_to(end, end - 1) &&
	    (t = previous_tag((char *)end + MTE_GRANULE)) >= 0)
		exclude |= (uint16_t)(1u << t);
	return exclude;
}

/*
 * Tagging is off, but memory that was PROT_MTE once keeps stale tags:
 * clear them, so that the tag-0 pointer stays valid when checks come on.
 */
static void *alloc_untagged(size_t size, size_t align, bool zero)
{
	void *p = mte_je_alloc(size, align, zero);
	struct mte_unit *u;

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	if (mte_g.hw_mte && (u = mte_unit_of(p)) &&
	    atomic_load(&u->state) == MTE_UNIT_ENABLED)
		mte_tag_range(p, mte_je_usable(p));
	mte_stat_add(MTE_STAT_allocs, 1);
	return p;
}

/*
 * Make the header of the chunk at tagged say: live, size bytes, from pc;
 * and count it, with cache_reuses when it came from the cache.
 */
static inline __attribute__((always_inline))
void set_live(void *tagged, size_t size, unsigned lg_align, const void *pc,
	      bool cached)
{
	char *user = mte_untag(tagged);
	struct chunk_hdr *h = hdr_of(user);
	_Atomic uint64_t *stripe;

	h->alloc_ctx = mte_trace_here(pc);
	h->free_ctx = (uint32_t)mte_ptr_tag(tagged) << CHUNK_OLDTAG_SHIFT;
	atomic_store_explicit(&h->word, chunk_word((uintptr_t)user, size,
			CHUNK_ALLOCATED, lg_align, mte_g.secret),
			memory_order_relaxed);
	stripe = mte_t.stats;
	mte_stat_add_to(stripe, MTE_STAT_allocs, 1);
	mte_stat_add_to(stripe, MTE_STAT_tagged_allocs, 1);
	if (cached)
		mte_stat_add_to(stripe, MTE_STAT_cache_reuses, 1);
}

/* A chunk from this thread's cache, tagged when it was freed (cache.h). */
static inline void *alloc_cached(void *tagged, size_t size, size_t usize,
				 bool zero, const void *pc)
{
	if (zero)
		memset(tagged, 0, usize - MTE_GRANULE);
	set_live(tagged, size, 0, pc, true);
	return tagged;
}

/*
 * The tagged chunks that cannot come from the cache: kept out of line,
 * so that the paths that run most, untagged and cached, stay short.
 */
__attribute__((noinline))
static void *alloc_tagged(size_t size, size_t align, bool zero, const void *pc)
{
	unsigned lg_align = align > MTE_GRANULE ?
			    (unsigned)__builtin_ctzl(align) : 0;
	size_t pad = chunk_pad(lg_align), req, usize, usable;
	char *base, *user, *tagged;
	uint16_t exclude;

	if (size > CHUNK_MAX_SIZE || size > SIZE_MAX - 2 * pad) {
		errno = ENOMEM;
		return NULL;
	}
	req = chunk_request(size, lg_align);
	base = mte_je_alloc(req, lg_align ? align : 0, false);
	if (!base) {
		errno = ENOMEM;
		return NULL;
	}
	usize = mte_je_good_size(req, lg_align ? align : 0);
	if (unlikely(!mte_extent_enable(base, usize))) {
		/* mprotect(PROT_MTE) failed: hand it out as an untagged chunk */
		mte_stat_add(MTE_STAT_untagged_allocs, 1);
		mte_stat_add(MTE_STAT_allocs, 1);
		mte_tag_range(base, usize);	/* tag 0 everywhere */
		if (zero)
			memset(base, 0, size);
		return base;
	}
	user = base + pad;
	usable = usize - pad;
	exclude = exclude_for_new_tag(base, base + usize, previous_tag(user));
	mte_tag_range(base, pad);		/* padding and header: tag 0 */
	seal_after(base + usize);
	tagged = mte_irg(user, exclude);
	if (zero)
		mte_tag_zero_range(tagged, usable);
	else
		mte_tag_range(tagged, usable);
	set_live(tagged, size, lg_align, pc, false);
	mte_stat_add(MTE_STAT_bytes_tagged, usable);
	return tagged;
}

MTE_HOT_PAGE(malloc)
void *mte_heap_alloc(size_t size, size_t align, bool zero, const void *pc)
{
	void *tagged;
	size_t usize;

	if (likely(!atomic_load_explicit(&mte_g.tagging, memory_order_relaxed)))
		return alloc_untagged(size, align, zero);
	/* unaligned and small: this thread's cache first (cache.h) */
	if (align <= MTE_GRANULE && size <= MTE_CACHE_MAX_USIZE) {
		usize = mte_je_good_size(chunk_request(size, 0), 0);
		if ((tagged = mte_cache_pop(usize)))
			return alloc_cached(tagged, size, usize, zero, pc);
	}
	return alloc_tagged(size, align, zero, pc);
}

static inline size_t usable_of(uint64_t w, size_t *req, size_t *align)
{
	unsigned lg = chunk_lg_align(w);

	*req = chunk_request(chunk_size(w), lg);
	*align = lg ? (size_t)1 << lg : 0;
	return mte_je_good_size(*req, *align) - chunk_pad(lg);
}

/* The depot id of the stack that allocated the chunk at p (for tests). */
uint32_t mte_chunk_alloc_ctx(const void *p)
{
	struct chunk_hdr *h = mte_ldg(hdr_of(mte_untag(p)));

	return h->alloc_ctx & CHUNK_CTX_MASK;
}

/* The chunk whose header is the granule at g, if there is one. */
bool mte_chunk_at(uintptr_t g, struct mte_region *out)
{
	struct chunk_hdr *h = (struct chunk_hdr *)g;
	uintptr_t user = g + MTE_GRANULE;
	size_t req, align;
	uint64_t w;

	/* a header has tag 0, and the user memory after it never has */
	if (g & (MTE_GRANULE - 1) || !mte_unit_of((void *)g) ||
	    !mte_unit_of((void *)user) || mte_mem_tag((void *)g) != 0 ||
	    mte_mem_tag((void *)user) == 0)
		return false;
	w = atomic_load_explicit(&h->word, memory_order_relaxed);
	if (!chunk_word_valid(user, w, mte_g.secret) ||
	    (chunk_state(w) != CHUNK_ALLOCATED && chunk_state(w) != CHUNK_FREED))
		return false;
	out->known = true;
	out->freed = chunk_state(w) == CHUNK_FREED;
	out->start = user;
	out->size = chunk_size(w);
	out->usable = usable_of(w, &req, &align);
	out->alloc_ctx = h->alloc_ctx & CHUNK_CTX_MASK;
	out->free_ctx = h->free_ctx & CHUNK_CTX_MASK;
	out->tag = out->freed ? h->free_ctx >> CHUNK_OLDTAG_SHIFT
			      : mte_mem_tag((void *)user);
	return true;
}

/* The chunk p points into, for a report; NULL if none is found. */
static const struct mte_region *containing(const void *p, struct mte_region *c)
{
	uintptr_t hdr = 0;

	if (!mte_unit_of(p))
		return NULL;
	return mte_chunk_containing((uintptr_t)mte_untag(p), c, &hdr) ? c : NULL;
}

/*
 * The checks of a pointer handed to free(), each defined once: validate()
 * makes them all in one line, validate_slow() one by one to say which
 * failed.
 */
static inline __attribute__((always_inline))
bool granule_aligned(const char *user)
{
	return !((uintptr_t)user & (MTE_GRANULE - 1));
}

/*
 * Are the header and the chunk's start in our heap?  (The header shares
 * the user's page unless user starts a page.)
 */
static inline __attribute__((always_inline))
bool header_in_heap(const char *user)
{
	return mte_unit_of(user - MTE_GRANULE) &&
	       (((uintptr_t)user & ((1UL << mte_lg_page) - 1)) ||
		mte_unit_of(user));
}

/* Does header word w say: a live chunk at user, handed out with ptag? */
static inline __attribute__((always_inline))
bool header_live(const char *user, const struct chunk_hdr *h, uint64_t w,
		 unsigned ptag)
{
	return chunk_word_valid((uintptr_t)user, w, mte_g.secret) &&
	       chunk_state(w) == CHUNK_ALLOCATED &&
	       h->free_ctx >> CHUNK_OLDTAG_SHIFT == ptag;
}

/*
 * validate(), the long way: each check in turn, so that what fails is
 * reported with what is known about it.
 */
__attribute__((noinline))
static bool validate_slow(const void *p, const void *pc, const char *op,
			  uint64_t *w)
{
	char *user = mte_untag(p);
	unsigned ptag = mte_ptr_tag(p);
	struct mte_region c = { 0 };
	struct chunk_hdr *h;

	if (unlikely(!mte_g.hw_mte)) {
		/* no tag was handed out, and LDG would not even run */
		mte_report_invalid_free(p, pc, op, "the pointer carries a tag, "
			"but this process does not use MTE", NULL);
		return false;
	}
	if (!granule_aligned(user)) {
		mte_report_invalid_free(p, pc, op, "the pointer is not 16-byte "
			"aligned, so no chunk starts there", containing(p, &c));
		return false;
	}
	if (!header_in_heap(user)) {
		mte_report_invalid_free(p, pc, op, "the address is not in "
			"mtealloc's heap", NULL);
		return false;
	}
	if (mte_mem_tag(user - MTE_GRANULE) != 0) {
		mte_report_invalid_free(p, pc, op, "the address is inside a "
			"chunk, not at its start", containing(p, &c));
		return false;
	}
	h = hdr_of(user);
	/* relaxed: a pointer handed to another thread came with the
	 * program's own synchronisation */
	*w = atomic_load_explicit(&h->word, memory_order_relaxed);
	/* the tag the chunk was given, from its header: no LDG */
	if (header_live(user, h, *w, ptag))
		return true;
	/* Something is wrong: now take the time to say what. */
	if (!mte_chunk_at((uintptr_t)h, &c)) {
		mte_report_invalid_free(p, pc, op, "no chunk starts at this "
			"address (its header is not valid)", NULL);
		return false;
	}
	if (c.freed) {
		mte_report_double_free(p, pc, op, "the chunk was already freed",
				       &c);
		return false;
	}
	{
		/* the chunk there now is someone else's: say what we know */
		struct mte_region old = { 0 };

		mte_report_double_free(p, pc, op, "the pointer's tag does not "
			"match the chunk: it was freed before, and its memory "
			"now belongs to a newer allocation",
			mte_history_find((uintptr_t)user, ptag, &old) ? &old : &c);
	}
	return false;
}

/*
 * Check that p names a live tagged chunk, and return its header word in
 * *w.  Anything else is reported (op is the caller's name for it:
 * "free", "realloc", ...); with recover=1 the report returns, and so does
 * this, with false.  The checks are validate_slow()'s, in one line for
 * the common case, where they all pass.
 */
static inline __attribute__((always_inline))
bool validate(const void *p, const void *pc, const char *op, uint64_t *w)
{
	char *user = mte_untag(p);
	struct chunk_hdr *h = hdr_of(user);

	if (likely(mte_g.hw_mte && granule_aligned(user) &&
		   header_in_heap(user) && mte_mem_tag(h) == 0)) {
		*w = atomic_load_explicit(&h->word, memory_order_relaxed);
		if (likely(header_live(user, h, *w, mte_ptr_tag(p))))
			return true;
	}
	return validate_slow(p, pc, op, w);
}

__attribute__((noinline)) MTE_WITH_LSE
MTE_HOT_PAGE(free)
static void free_tagged(void *p, const void *pc, const char *op)
{
	char *user = mte_untag(p), *base, *end, *retagged;
	struct chunk_hdr *h = hdr_of(user);
	unsigned ptag = mte_ptr_tag(p);
	size_t req, align, usable;
	uint64_t w, fw;
	uint32_t ctx;

	if (!validate(p, pc, op, &w))
		return;			/* reported, and recover=1 */
	usable = usable_of(w, &req, &align);
	fw = chunk_word((uintptr_t)user, chunk_size(w), CHUNK_FREED,
			chunk_lg_align(w), mte_g.secret);
	/* The state change is atomic, so of two racing frees one loses. */
	if (!atomic_compare_exchange_strong_explicit(&h->word, &w, fw,
			memory_order_relaxed, memory_order_relaxed)) {
		mte_report_double_free(p, pc, op, "the chunk was freed by "
			"another thread at the same time", NULL);
		return;
	}
	ctx = mte_trace_here(pc);
	h->free_ctx = (ctx & CHUNK_CTX_MASK) |
		      (uint32_t)ptag << CHUNK_OLDTAG_SHIFT;
	mte_history_record(p, chunk_size(w), h->alloc_ctx, ctx);
	/*
	 * Retag, so that the old pointer no longer matches, and with neither
	 * neighbour's tag, so that an overflow into the freed chunk faults.
	 */
	base = user - chunk_pad(chunk_lg_align(w));
	end = user + usable;
	retagged = mte_irg(user, exclude_for_new_tag(base, end, (int)ptag));
	mte_tag_range(retagged, usable);
	mte_stat_add(MTE_STAT_frees, 1);
	if (!align && mte_cache_push(retagged, (size_t)(end - base)))
		return;
	mte_je_free_sized(base, req, align);
}

/* Tag-0 pointers: untagged chunks, or mistakes.  False if reported. */
__attribute__((noinline))
static bool check_untagged_slow(const void *p, const void *pc, const char *op)
{
	const char *c = p;
	struct mte_region chunk;

	if (!mte_in_heap(c)) {
		mte_report_invalid_free(p, pc, op, "the address is not in "
			"mtealloc's heap", NULL);
		return false;
	}
	if (!mte_g.hw_mte)
		return true;
	if (mte_mem_tag(c) != 0) {
		mte_report_invalid_free(p, pc, op, "the pointer has tag 0 but "
			"the memory is tagged: its tag was stripped, or it "
			"points inside a tagged chunk", containing(p, &chunk));
		return false;
	}
	/*
	 * A header, or an untagged chunk whose first bytes happen to pass for
	 * one?  jemalloc's chunk there tells: an untagged chunk of two
	 * granules or more has tag 0 throughout (alloc_untagged()), and a
	 * one-granule chunk is never tagged.  (jemalloc is about to be given
	 * c anyway, so asking it the size is no less safe.)
	 */
	if (mte_chunk_at((uintptr_t)c, &chunk) &&
	    mte_je_usable(c) >= 2 * MTE_GRANULE) {
		mte_report_invalid_free(p, pc, op, "the address is a chunk "
			"header, 16 bytes before a chunk", &chunk);
		return false;
	}
	return true;
}

static inline bool check_untagged(const void *p, const void *pc,
				  const char *op)
{
	/* without MTE, being heap memory is all that can be checked */
	if (likely(!mte_g.hw_mte && mte_in_heap(p)))
		return true;
	return check_untagged_slow(p, pc, op);
}

MTE_HOT_PAGE(free)
void mte_heap_free(void *p, const void *pc)
{
	if (mte_ptr_tag(p)) {
		free_tagged(p, pc, "free");
		return;
	}
	if (!check_untagged(p, pc, "free"))
		return;
	mte_stat_add(MTE_STAT_frees, 1);
	mte_je_free(p);
}

size_t mte_heap_usable(const void *p, const void *pc)
{
	size_t req, align;
	uint64_t w;

	if (mte_ptr_tag(p))
		return validate(p, pc, "malloc_usable_size", &w) ?
		       usable_of(w, &req, &align) : 0;
	return check_untagged(p, pc, "malloc_usable_size") ?
	       mte_je_usable(p) : 0;
}

/*
 * Resizing where a chunk stands.  free() finds a chunk's jemalloc size
 * from the size in its header (usable_of()), for the cache's bin and for
 * sdallocx(); so the header must always name a size of the chunk's real
 * class.  A size of another class would give the chunk back as a chunk
 * of that class: jemalloc would file it in the wrong bin and hand its
 * memory out twice.  So a chunk resizes in place only within its class
 * (the header alone changes), or, when it is large, by asking jemalloc
 * to grow or trim it (xallocx()) to the new size's class.
 */

/* The header word of a live unaligned chunk at user of size bytes. */
static inline uint64_t live_word(const char *user, size_t size)
{
	return chunk_word((uintptr_t)user, size, CHUNK_ALLOCATED, 0,
			  mte_g.secret);
}

/*
 * Grow a large tagged chunk where it stands, as jemalloc can when the
 * memory after it is free: only the new tail is tagged, with the chunk's
 * tag, unless the new right neighbour carries that tag, in which case the
 * whole chunk takes a new one.  NULL if it cannot grow in place.
 */
static void *grow_in_place(void *p, size_t size, size_t usable)
{
	char *user = mte_untag(p), *base = user - MTE_GRANULE, *q = (char *)p;
	size_t req = chunk_request(size, 0), usize;
	struct chunk_hdr *h = hdr_of(user);
	unsigned tag = mte_ptr_tag(p);

	usize = mte_je_expand(base, req);
	if (usize >= req && !mte_extent_enable(base, usize))
		usize = mte_je_expand(base, usable + MTE_GRANULE); /* back */
	if (usize < req)
		return NULL;
	seal_after(base + usize);
	if (neighbour_tag(base + usize + MTE_GRANULE, base + usize - 1) ==
	    (int)tag) {
		q = mte_irg(user, exclude_around(base, base + usize,
						  (int)tag));
		mte_tag_range(q, usize - MTE_GRANULE);
		h->free_ctx = (uint32_t)mte_ptr_tag(q) << CHUNK_OLDTAG_SHIFT;
	} else {
		mte_tag_range(mte_with_tag(user + usable, tag),
			      usize - MTE_GRANULE - usable);
	}
	mte_stat_add(MTE_STAT_bytes_tagged, usize - MTE_GRANULE - usable);
	return q;
}

/*
 * Trim a large tagged chunk to a smaller large class where it stands.
 * The tail leaves the chunk with tag 0 before jemalloc takes it back, so
 * that an overflow past the new end faults, and so that no tag is written
 * to memory jemalloc may already have handed to another thread.  NULL if
 * jemalloc keeps the chunk whole; then the tail gets its tag back.
 */
static void *shrink_in_place(void *p, size_t size, size_t usable)
{
	char *user = mte_untag(p), *base = user - MTE_GRANULE;
	size_t req = chunk_request(size, 0), want = mte_je_good_size(req, 0);
	size_t old = usable + MTE_GRANULE;

	mte_tag_range(base + want, old - want);
	if (mte_je_expand(base, req) == want)
		return p;
	mte_tag_range(mte_with_tag(base + want, mte_ptr_tag(p)), old - want);
	return NULL;
}

/*
 * Resize the live chunk p, with header word w, in place; NULL if it must
 * move.  The header changes first, atomically, so that a racing free()
 * loses; *raced says that this one lost instead.
 */
static void *resize_in_place(void *p, uint64_t w, size_t size, size_t usable,
			     bool *raced)
{
	char *user = mte_untag(p);
	struct chunk_hdr *h = hdr_of(user);
	size_t want = mte_je_good_size(chunk_request(size, 0), 0);
	size_t old = usable + MTE_GRANULE;
	void *q;

	*raced = false;
	if (chunk_lg_align(w) || size > CHUNK_MAX_SIZE ||
	    (want != old && (want < mte_je_large_min ||
			     old < mte_je_large_min)))
		return NULL;
	if (!atomic_compare_exchange_strong_explicit(&h->word, &w,
			live_word(user, size), memory_order_relaxed,
			memory_order_relaxed)) {
		*raced = true;
		return NULL;
	}
	if (want == old)
		return p;		/* the same class: the header was all */
	q = want > old ? grow_in_place(p, size, usable)
		       : shrink_in_place(p, size, usable);
	if (!q)
		atomic_store_explicit(&h->word, w, memory_order_relaxed);
	return q;
}

void *mte_heap_realloc(void *p, size_t size, const void *pc)
{
	size_t req, align, usable;
	bool raced;
	uint64_t w;
	void *q;

	if (!mte_ptr_tag(p)) {
		if (!check_untagged(p, pc, "realloc")) {
			errno = EINVAL;
			return NULL;
		}
		/* rallocx() may grow into memory with stale tags: only without MTE */
		if (!mte_g.hw_mte) {
			q = mte_je_realloc(p, size);
			if (!q)
				errno = ENOMEM;
			else if (q != p) {	/* moved: as below */
				mte_stat_add(MTE_STAT_allocs, 1);
				mte_stat_add(MTE_STAT_frees, 1);
			}
			return q;
		}
		usable = mte_je_usable(p);	/* an untagged chunk grows tagged */
	} else {
		if (!validate(p, pc, "realloc", &w)) {
			errno = EINVAL;
			return NULL;
		}
		usable = usable_of(w, &req, &align);
		q = resize_in_place(p, w, size, usable, &raced);
		if (q)
			return q;
		if (raced) {
			mte_report_double_free(p, pc, "realloc", "the chunk "
				"was freed by another thread at the same time",
				NULL);
			errno = EINVAL;
			return NULL;
		}
	}
	q = mte_heap_alloc(size, 0, false, pc);
	if (!q)
		return NULL;		/* the old chunk stays valid */
	memcpy(q, p, size < usable ? size : usable);
	if (mte_ptr_tag(p))
		free_tagged(p, pc, "realloc");
	else {
		mte_stat_add(MTE_STAT_frees, 1);
		mte_je_free(p);
	}
	return q;
}
