/*
 * heap_model.c - the model-based heap driver (heap_model.h).
 *
 * Each thread keeps its live chunks in slots.  A step picks a slot: an
 * empty one is filled by one of the allocating calls, a live one is
 * freed, reallocated, measured, or handed to another thread to free.
 * Every chunk is filled with a pattern derived from its own seed over
 * its whole usable size, and read back before it is freed or moved.  An
 * index of every live chunk's address range, shared by all threads,
 * proves that no two live chunks overlap at the moment one is handed out.
 *
 * The model's own memory (slots, index) is mapped with mmap(), outside
 * the heap under test.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heap_model.h"

enum call {
	C_MALLOC, C_CALLOC, C_REALLOC, C_REALLOC_NULL, C_REALLOC_ZERO,
	C_REALLOCARRAY, C_FREE, C_POSIX_MEMALIGN, C_ALIGNED_ALLOC,
	C_MEMALIGN, C_VALLOC, C_PVALLOC, C_USABLE, C_HANDOFF, C_TAKE,
	C_FORK,
};

const char *const model_call_names[16] = {
	"malloc", "calloc", "realloc", "realloc_null", "realloc_zero",
	"reallocarray", "free", "posix_memalign", "aligned_alloc",
	"memalign", "valloc", "pvalloc", "usable", "handoff", "take", "fork",
};

static void *reallocarray_libc(void *p, size_t n, size_t size)
{
	return reallocarray(p, n, size);
}

static void *valloc_libc(size_t size)
{
	return valloc(size);
}

static void *pvalloc_libc(size_t size)
{
	return pvalloc(size);
}

const struct model_api model_libc_api = {
	malloc, calloc, realloc, reallocarray_libc, free, posix_memalign,
	aligned_alloc, memalign, valloc_libc, pvalloc_libc, malloc_usable_size,
};

/* Tag bits are not address bits: ranges are compared without them. */
#define ADDR_MASK	((1ULL << 56) - 1)

struct chunk {
	unsigned char *p;	/* as the heap returned it */
	size_t size;		/* asked for */
	size_t usable;		/* malloc_usable_size() */
	uint64_t seed;		/* of the pattern written over usable */
};

/* Where steps come from: a PRNG, or a byte buffer (the fuzz target). */
struct source {
	uint64_t state;
	const uint8_t *bytes;
	size_t nbytes, pos;
	bool done;		/* the buffer ran out */
};

struct thread {
	const struct model_config *cfg;
	struct source src;
	struct chunk *slot;
	unsigned nslots, id;
	unsigned long steps;	/* to do */
	unsigned long done;
	unsigned long calls[16];
	bool in_child;		/* after fork, in the child */
	pthread_t handle;
};

/* ---- shared state ---- */

/*
 * Live chunks' address ranges, in a treap keyed by start (node 0 is
 * none): a handed-out chunk is checked against its neighbours by
 * address, in O(log n) steps.
 */
struct range {
	uintptr_t start, end;
	uint32_t left, right, prio;
};

static struct range *ix;		/* ix[1 .. ix_cap] */
static uint32_t ix_root, ix_free, ix_used, ix_cap;
static uint64_t ix_rng = 0x853c49e6748fea9bULL;
static pthread_mutex_t ix_lock = PTHREAD_MUTEX_INITIALIZER;

#define HANDOFF_CAP 256
static struct chunk *handoff;		/* chunks in transit between threads */
static unsigned handoff_n;
static pthread_mutex_t handoff_lock = PTHREAD_MUTEX_INITIALIZER;

static _Atomic size_t live_bytes;
static _Atomic unsigned long live_chunks, peak_chunks;
static _Atomic bool failed;
static _Atomic unsigned long forks;
static uint64_t run_seed;

/* For the signal handler: what this thread was doing. */
static __thread unsigned long cur_step;
static __thread unsigned cur_thread;
static __thread int cur_call = -1;

/* ---- steps ---- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A number in [0, n). */
static uint64_t draw(struct source *s, uint64_t n)
{
	uint64_t v = 0;
	unsigned i, len;

	if (n <= 1)
		return 0;
	if (!s->bytes)
		return splitmix(&s->state) % n;
	len = n <= 0x100 ? 1 : n <= 0x10000 ? 2 : n <= 0x100000000ULL ? 4 : 8;
	for (i = 0; i < len; i++) {
		if (s->pos >= s->nbytes) {
			s->done = true;
			break;
		}
		v = v << 8 | s->bytes[s->pos++];
	}
	return v % n;
}

/* ---- reporting ---- */

static void fail(struct thread *t, const char *what, const struct chunk *c,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void fail(struct thread *t, const char *what, const struct chunk *c,
		 const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "model: FAIL seed=%llu thread=%u step=%lu%s %s: %s",
		(unsigned long long)run_seed, t->id, cur_step,
		t->in_child ? " (forked child)" : "", what, msg);
	if (c)
		fprintf(stderr, " [chunk %p size %zu usable %zu]", (void *)c->p,
			c->size, c->usable);
	fprintf(stderr, "\nmodel: replay with --seed %llu --threads %u "
		"--steps %lu\n", (unsigned long long)run_seed,
		t->cfg->threads, t->cfg->steps);
	atomic_store(&failed, true);
}

/* Async-signal-safe: a number in decimal into buf, returning its end. */
static char *put_num(char *buf, unsigned long long v)
{
	char tmp[24];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while (v /= 10);
	while (n)
		*buf++ = tmp[--n];
	return buf;
}

static char *put_str(char *buf, const char *s)
{
	while (*s)
		*buf++ = *s++;
	return buf;
}

static void on_signal(int sig)
{
	char buf[256], *e = buf;

	e = put_str(e, "model: FAIL signal ");
	e = put_num(e, (unsigned)sig);
	e = put_str(e, " seed=");
	e = put_num(e, run_seed);
	e = put_str(e, " thread=");
	e = put_num(e, cur_thread);
	e = put_str(e, " step=");
	e = put_num(e, cur_step);
	if (cur_call >= 0) {
		e = put_str(e, " in ");
		e = put_str(e, model_call_names[cur_call]);
	}
	*e++ = '\n';
	if (write(2, buf, (size_t)(e - buf)) < 0)
		_exit(127);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- the pattern ---- */

/*
 * A chunk of n bytes holds its pattern in every word of its first and
 * last DENSE bytes, and in one word of every SPARSE bytes between them:
 * under emulation, writing and reading megabytes at every step would cost
 * more than the calls under test.  The overlap index is exact whatever
 * is written.
 */
#define DENSE_WORDS	64		/* 512 bytes at each end */
#define SPARSE_WORDS	16		/* one word in 128 bytes */

static inline uint64_t pattern(uint64_t seed, size_t k)
{
	return (seed + k) * 0x9e3779b97f4a7c15ULL ^ seed >> 17;
}

/* The next word after k that a chunk of `words` words holds. */
static inline size_t next_word(size_t k, size_t words)
{
	if (k + 1 < DENSE_WORDS || k + 1 >= words - DENSE_WORDS ||
	    words <= 2 * DENSE_WORDS)
		return k + 1;
	k = (k + SPARSE_WORDS) & ~(size_t)(SPARSE_WORDS - 1);
	return k < words - DENSE_WORDS ? k : words - DENSE_WORDS;
}

/* Write the pattern of a chunk of n bytes. */
static void fill(unsigned char *p, size_t n, uint64_t seed)
{
	size_t k, words = n / 8;
	uint64_t w;

	for (k = 0; k < words; k = next_word(k, words)) {
		w = pattern(seed, k);
		memcpy(p + 8 * k, &w, 8);
	}
	if (n % 8) {
		w = pattern(seed, words);
		memcpy(p + 8 * words, &w, n % 8);
	}
}

/* The first byte of p[0, len) that differs from want's, or len. */
static size_t differs(const unsigned char *p, uint64_t want, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != ((const unsigned char *)&want)[i])
			return i;
	return len;
}

/*
 * The first offset below limit that does not hold what fill(p, n, seed)
 * wrote (zero: what calloc() must give, in the same places), or limit.
 */
static size_t mismatch_of(const unsigned char *p, size_t n, size_t limit,
			  uint64_t seed, bool zero)
{
	size_t k, words = n / 8, len, at;

	for (k = 0; k <= words && 8 * k < limit; k = next_word(k, words)) {
		len = k < words ? 8 : n % 8;
		if (len > limit - 8 * k)
			len = limit - 8 * k;
		at = differs(p + 8 * k, zero ? 0 : pattern(seed, k), len);
		if (at < len)
			return 8 * k + at;
		if (k == words)
			break;
	}
	return limit;
}

static size_t mismatch(const unsigned char *p, size_t n, size_t limit,
		       uint64_t seed)
{
	return mismatch_of(p, n, limit, seed, false);
}

/* ---- the index of live ranges ---- */

/* Split tree t into the ranges starting below key (*l) and the rest. */
static void ix_split(uint32_t t, uintptr_t key, uint32_t *l, uint32_t *r)
{
	if (!t) {
		*l = *r = 0;
	} else if (ix[t].start < key) {
		ix_split(ix[t].right, key, &ix[t].right, r);
		*l = t;
	} else {
		ix_split(ix[t].left, key, l, &ix[t].left);
		*r = t;
	}
}

/* Every range of l starts below every range of r. */
static uint32_t ix_merge(uint32_t l, uint32_t r)
{
	if (!l || !r)
		return l ? l : r;
	if (ix[l].prio > ix[r].prio) {
		ix[l].right = ix_merge(ix[l].right, r);
		return l;
	}
	ix[r].left = ix_merge(l, ix[r].left);
	return r;
}

static uint32_t ix_last(uint32_t t)
{
	while (t && ix[t].right)
		t = ix[t].right;
	return t;
}

static uint32_t ix_first(uint32_t t)
{
	while (t && ix[t].left)
		t = ix[t].left;
	return t;
}

static uintptr_t range_start(const struct chunk *c)
{
	return (uintptr_t)c->p & ADDR_MASK;
}

/* A zero-byte chunk still owns its address: at least one byte. */
static uintptr_t range_end(const struct chunk *c)
{
	return range_start(c) + (c->usable ? c->usable : 1);
}

/* Add c; false (and a report) if it overlaps a live chunk. */
static bool ix_add(struct thread *t, const struct chunk *c)
{
	uintptr_t s = range_start(c), e = range_end(c);
	struct range clash = { 0 };
	uint32_t l, r, before, after, n;

	pthread_mutex_lock(&ix_lock);
	ix_split(ix_root, s, &l, &r);
	before = ix_last(l);
	after = ix_first(r);
	if (before && ix[before].end > s)
		clash = ix[before];
	else if (after && ix[after].start < e)
		clash = ix[after];
	else if ((n = ix_free ? ix_free : ix_used < ix_cap ? ++ix_used : 0)) {
		if (n == ix_free)
			ix_free = ix[n].left;
		ix[n] = (struct range){ s, e, 0, 0, (uint32_t)splitmix(&ix_rng) };
		l = ix_merge(l, n);
	}
	ix_root = ix_merge(l, r);
	pthread_mutex_unlock(&ix_lock);
	if (clash.end) {
		fail(t, model_call_names[cur_call], c, "overlaps the live chunk "
		     "at [%#lx, %#lx): handed out twice",
		     (unsigned long)clash.start, (unsigned long)clash.end);
		return false;
	}
	return true;
}

static void ix_remove(struct thread *t, const struct chunk *c)
{
	uintptr_t s = range_start(c);
	uint32_t l, m, r;

	pthread_mutex_lock(&ix_lock);
	ix_split(ix_root, s, &l, &r);
	ix_split(r, s + 1, &m, &r);
	if (m) {
		ix[m].left = ix_free;	/* the free list runs through left */
		ix_free = m;
	}
	ix_root = ix_merge(l, r);
	pthread_mutex_unlock(&ix_lock);
	if (!m)
		fail(t, "model", c, "a live chunk is missing from the index");
}

/* ---- sizes and alignments ---- */

/* Sizes around which allocators change class or path. */
static const size_t edges[] = {
	16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
	448, 512, 640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072,
	3584, 4096, 5120, 6144, 7168, 8192, 10240, 12288, 14336, 16384,
	20480, 24576, 28672, 32768, 40960, 65536, 131072, 229376, 262144,
};
static const size_t huge_edges[] = { 1 << 20, 2 << 20, 4 << 20 };
static const int edge_offsets[] = { -33, -17, -16, -1, 0, 1, 15, 16, 17 };

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A request size: mostly small, as programs ask, with every class edge
 * and the large and huge sizes often enough to be covered in a short
 * run.  (Each megabyte costs the tagged heap 64 Ki tag stores to hand out
 * and as many to take back, so huge sizes stay rare.)
 */
static size_t pick_size(struct thread *t)
{
	const struct model_config *cfg = t->cfg;
	struct source *s = &t->src;
	uint64_t r = draw(s, 1000);
	int off = edge_offsets[draw(s, NELEMS(edge_offsets))];
	size_t n;

	if (r < 300)
		n = draw(s, 65);
	else if (r < 550)
		n = 1 + draw(s, 512);
	else if (r < 750)
		n = edges[draw(s, NELEMS(edges))] + (size_t)off;
	else if (r < 950)
		n = 512 + draw(s, 70000);
	else if (r < 995)
		n = 70000 + draw(s, 1 << 20);
	else if (r < 998)
		n = huge_edges[draw(s, NELEMS(huge_edges))] + (size_t)off;
	else
		n = (1 << 20) + draw(s, cfg->max_size);
	if (n > cfg->max_size)
		n = cfg->max_size;
	/* over the budget: something small */
	if (atomic_load(&live_bytes) + n > cfg->live_limit)
		n = draw(s, 256);
	return n;
}

static size_t pick_align(struct thread *t)
{
	static const size_t aligns[] = {
		16, 32, 64, 128, 256, 512, 4096, 8192, 65536,
	};
	uint64_t r = draw(&t->src, 100);

	if (r < 2)
		return 2 << 20;
	return aligns[r % NELEMS(aligns)];
}

static size_t page_size(void)
{
	static size_t page;

	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

/* ---- one chunk's checks ---- */

static bool check_contents(struct thread *t, const struct chunk *c, size_t n,
			   const char *when)
{
	size_t at = mismatch(c->p, c->usable, n, c->seed);

	if (at == n)
		return true;
	fail(t, when, c, "byte %zu of %zu is not what was written", at, n);
	return false;
}

/*
 * A chunk just handed out: aligned, at least size usable, not overlapping
 * any live chunk; then written over its whole usable size.  zero: calloc,
 * whose first size bytes must read 0.
 */
static bool take_new(struct thread *t, struct chunk *c, void *p, size_t size,
		     size_t align, bool zero)
{
	const struct model_api *api = t->cfg->api;
	size_t i;

	c->p = p;
	c->size = size;
	c->usable = api->usable(p);
	c->seed = splitmix(&t->src.state) | 1;
	/*
	 * malloc()'s own: fit for any object of a fundamental alignment
	 * that fits in size bytes (C17, DR 445), which is 16 from 16 bytes
	 * up; jemalloc, as mimalloc, gives 8-byte chunks 8-byte alignment.
	 */
	if (align < 16)
		align = size >= 16 ? 16 : size >= 8 ? 8 : size >= 4 ? 4 :
			size >= 2 ? 2 : 1;
	if ((uintptr_t)p & (align - 1)) {
		fail(t, model_call_names[cur_call], c, "not aligned to %zu",
		     align);
		return false;
	}
	if (c->usable < size) {
		fail(t, model_call_names[cur_call], c, "usable size %zu is less "
		     "than the %zu asked for", c->usable, size);
		return false;
	}
	if (zero && (i = mismatch_of(c->p, size, size, 0, true)) < size) {
		fail(t, "calloc", c, "byte %zu is not zero", i);
		return false;
	}
	if (!ix_add(t, c))
		return false;
	fill(c->p, c->usable, c->seed);
	atomic_fetch_add(&live_bytes, c->usable);
	if (atomic_fetch_add(&live_chunks, 1) + 1 > atomic_load(&peak_chunks))
		atomic_store(&peak_chunks, atomic_load(&live_chunks));
	return true;
}

/* Take c out of the model, before the call that frees it. */
static void forget(struct thread *t, struct chunk *c)
{
	ix_remove(t, c);
	atomic_fetch_sub(&live_bytes, c->usable);
	atomic_fetch_sub(&live_chunks, 1);
}

static bool release(struct thread *t, struct chunk *c)
{
	bool ok = check_contents(t, c, c->usable, "free");

	forget(t, c);
	t->cfg->api->free(c->p);
	c->p = NULL;
	return ok;
}

/* ENOMEM and NULL from a call that must fail. */
static bool expect_enomem(struct thread *t, void *p, const char *what)
{
	if (p || errno != ENOMEM) {
		fail(t, what, NULL, "returned %p, errno %d; want NULL, ENOMEM",
		     p, errno);
		return false;
	}
	return true;
}

/* ---- the calls ---- */

static bool do_alloc(struct thread *t, struct chunk *c)
{
	const struct model_api *api = t->cfg->api;
	struct source *s = &t->src;
	uint64_t r = draw(s, 100);
	size_t size = pick_size(t), align = 0, n;
	void *p = NULL;
	int rc;

	if (r < 40) {
		cur_call = C_MALLOC;
		if (draw(s, 500) == 0) {
			errno = 0;
			return expect_enomem(t, api->malloc(SIZE_MAX - 8),
					     "malloc(SIZE_MAX - 8)");
		}
		p = api->malloc(size);
	} else if (r < 55) {
		cur_call = C_CALLOC;
		if (draw(s, 200) == 0) {
			errno = 0;
			return expect_enomem(t, api->calloc(SIZE_MAX / 2, 3),
					     "calloc overflowing");
		}
		n = 1 + draw(s, 4);
		size = size / n * n;
		p = api->calloc(n, size / n);
		return p ? take_new(t, c, p, size, 0, true) :
		       (fail(t, "calloc", NULL, "NULL for %zu bytes", size), false);
	} else if (r < 63) {
		cur_call = C_REALLOC_NULL;
		p = api->realloc(NULL, size);
	} else if (r < 71) {
		cur_call = C_POSIX_MEMALIGN;
		align = draw(s, 10) ? pick_align(t) : sizeof(void *);
		if (draw(s, 50) == 0) {		/* not a power of two */
			p = (void *)1;
			rc = api->posix_memalign(&p, 24, size);
			if (rc != EINVAL || p != (void *)1) {
				fail(t, "posix_memalign", NULL, "alignment 24 "
				     "gave %d, not EINVAL, or wrote *out", rc);
				return false;
			}
			return true;
		}
		rc = api->posix_memalign(&p, align, size);
		if (rc) {
			fail(t, "posix_memalign", NULL, "error %d for %zu bytes "
			     "aligned to %zu", rc, size, align);
			return false;
		}
	} else if (r < 79) {
		cur_call = C_ALIGNED_ALLOC;
		align = pick_align(t);
		p = api->aligned_alloc(align, size);
	} else if (r < 85) {
		cur_call = C_MEMALIGN;
		align = pick_align(t);
		if (draw(s, 4) == 0) {	/* rounded up to a power of two */
			p = api->memalign(align - align / 4, size);
		} else
			p = api->memalign(align, size);
	} else if (r < 89) {
		cur_call = C_VALLOC;
		align = page_size();
		p = api->valloc(size);
	} else if (r < 91) {
		cur_call = C_PVALLOC;
		align = page_size();
		p = api->pvalloc(size);
		size = (size + align - 1) & ~(align - 1);
	} else {
		cur_call = C_MALLOC;
		p = api->malloc(size);
	}
	if (!p) {
		fail(t, model_call_names[cur_call], NULL, "NULL for %zu bytes "
		     "aligned to %zu", size, align);
		return false;
	}
	return take_new(t, c, p, size, align, false);
}

/* A new size for a realloc of c: grow, shrink, stay, or anything. */
static size_t pick_resize(struct thread *t, const struct chunk *c)
{
	struct source *s = &t->src;
	size_t n;

	switch (draw(s, 8)) {
	case 0: n = c->size + 1 + draw(s, 64); break;		/* grow a bit */
	case 1: n = c->size * 2 + draw(s, 16); break;		/* double */
	case 2: n = c->size / 2; break;				/* halve */
	case 3: n = c->size ? c->size - 1 : 0; break;		/* by one */
	case 4: n = c->usable; break;				/* all of it */
	case 5: n = c->usable + 1; break;			/* just past */
	default: return pick_size(t);
	}
	if (n > t->cfg->max_size)
		n = t->cfg->max_size;
	if (n > c->size && atomic_load(&live_bytes) + n > t->cfg->live_limit)
		n = c->size / 2;
	return n;
}

static bool do_realloc(struct thread *t, struct chunk *c, bool array)
{
	const struct model_api *api = t->cfg->api;
	size_t size = pick_resize(t, c), n = 1, keep;
	struct chunk old = *c;
	void *q;

	if (!check_contents(t, c, c->usable, "before realloc"))
		return false;
	if (array) {
		cur_call = C_REALLOCARRAY;
		if (draw(&t->src, 16) == 0) {	/* n * size overflows */
			errno = 0;
			if (!expect_enomem(t, api->reallocarray(c->p,
					SIZE_MAX / 2, 3), "reallocarray overflowing"))
				return false;
			return check_contents(t, c, c->usable,
					      "after a failed reallocarray");
		}
		n = 1 + draw(&t->src, 4);
	} else
		cur_call = C_REALLOC;
	if (size < n)
		size = n;	/* realloc to 0 is its own call */
	size = size / n * n;
	forget(t, c);
	q = array ? api->reallocarray(c->p, n, size / n) :
		    api->realloc(c->p, size);
	if (!q) {
		fail(t, model_call_names[cur_call], c, "NULL for %zu bytes",
		     size);
		c->p = NULL;
		return false;
	}
	keep = old.size < size ? old.size : size;
	if (mismatch(q, old.usable, keep, old.seed) != keep) {
		c->p = q;
		c->size = keep;
		fail(t, model_call_names[cur_call], &old, "moved to %p; byte "
		     "%zu of the %zu kept changed", q, mismatch(q, old.usable,
		     keep, old.seed), keep);
		return false;
	}
	return take_new(t, c, q, size, 0, false);
}

static bool do_usable(struct thread *t, struct chunk *c)
{
	size_t u;

	cur_call = C_USABLE;
	u = t->cfg->api->usable(c->p);
	if (u != c->usable) {
		fail(t, "malloc_usable_size", c, "now says %zu", u);
		return false;
	}
	return check_contents(t, c, c->usable, "usable");
}

static bool do_handoff(struct thread *t, struct chunk *c)
{
	bool given = false;

	cur_call = C_HANDOFF;
	pthread_mutex_lock(&handoff_lock);
	if (handoff_n < HANDOFF_CAP) {
		handoff[handoff_n++] = *c;
		given = true;
	}
	pthread_mutex_unlock(&handoff_lock);
	if (given)
		c->p = NULL;	/* still live: another thread frees it */
	return given || release(t, c);
}

/* Free a chunk another thread allocated; false if there is none. */
static bool do_take(struct thread *t, bool *ok)
{
	struct chunk c = { 0 };

	cur_call = C_TAKE;
	pthread_mutex_lock(&handoff_lock);
	if (handoff_n)
		c = handoff[--handoff_n];
	pthread_mutex_unlock(&handoff_lock);
	if (!c.p)
		return false;
	*ok = release(t, &c);
	return true;
}

static bool step(struct thread *t);
static void free_all(struct thread *t);

/*
 * Fork while the other threads run: the child checks every chunk it
 * inherited from this thread, runs steps of its own, frees everything and
 * exits; the parent waits for it.  The index and handoff locks are held
 * across fork (pthread_atfork below), so the child's copies are whole.
 */
static bool do_fork(struct thread *t)
{
	int status;
	pid_t pid;
	unsigned i;

	cur_call = C_FORK;
	pid = fork();
	if (pid < 0) {
		fail(t, "fork", NULL, "failed: %s", strerror(errno));
		return false;
	}
	if (pid == 0) {
		unsigned long n;
		bool ok = true;

		t->in_child = true;
		for (i = 0; i < t->nslots && ok; i++)
			if (t->slot[i].p)
				ok = check_contents(t, &t->slot[i],
						    t->slot[i].usable,
						    "inherited by the child");
		t->src.state ^= 0x5bd1e995;
		for (n = 0; n < 2000 && ok && !t->src.done; n++)
			ok = step(t);
		free_all(t);
		_exit(ok && !atomic_load(&failed) ? 0 : 1);
	}
	atomic_fetch_add(&forks, 1);
	if (waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status)) {
		fail(t, "fork", NULL, "the child failed (status %#x)", status);
		return false;
	}
	return true;
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&ix_lock);
	pthread_mutex_lock(&handoff_lock);
}

static void atfork_release(void)
{
	pthread_mutex_unlock(&handoff_lock);
	pthread_mutex_unlock(&ix_lock);
}

static void register_atfork(void)
{
	pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

/* One step; false if a check failed. */
static bool step(struct thread *t)
{
	struct source *s = &t->src;
	struct chunk *c = &t->slot[draw(s, t->nslots)];
	bool shared = t->cfg->threads > 1 && !t->in_child, ok = true;
	uint64_t r;

	if (!c->p) {
		if (shared && draw(s, 10) == 0 && do_take(t, &ok))
			return ok;
		return do_alloc(t, c);
	}
	r = draw(s, 100);
	if (r < 35) {
		cur_call = C_FREE;
		return release(t, c);
	}
	if (r < 70)
		return do_realloc(t, c, false);
	if (r < 74) {
		cur_call = C_REALLOC_ZERO;	/* frees, as glibc's */
		if (!check_contents(t, c, c->usable, "before realloc(p, 0)"))
			return false;
		forget(t, c);
		if (t->cfg->api->realloc(c->p, 0)) {
			fail(t, "realloc(p, 0)", c, "did not return NULL");
			return false;
		}
		c->p = NULL;
		return true;
	}
	if (r < 82)
		return do_realloc(t, c, true);
	if (r < 90 && shared)
		return do_handoff(t, c);
	return do_usable(t, c);
}

static void free_all(struct thread *t)
{
	unsigned i;

	for (i = 0; i < t->nslots; i++)
		if (t->slot[i].p)
			release(t, &t->slot[i]);
}

static void *run_thread(void *arg)
{
	struct thread *t = arg;
	const struct model_config *cfg = t->cfg;
	unsigned long n;

	cur_thread = t->id;
	for (n = 0; n < t->steps && !atomic_load(&failed) && !t->src.done;
	     n++) {
		cur_step = n;
		if (t->id == 0 && cfg->switch_at && n == cfg->switch_at &&
		    cfg->set_mode)
			cfg->set_mode();
		if (t->id == 0 && cfg->fork_at && n == cfg->fork_at) {
			if (!do_fork(t))
				break;
			t->calls[C_FORK]++;
		}
		cur_call = -1;
		if (!step(t))
			break;
		if (cur_call >= 0)
			t->calls[cur_call]++;
		t->done++;
		/* now and then, one more chunk read back in full */
		if (!(n & 7)) {
			struct chunk *c = &t->slot[draw(&t->src, t->nslots)];

			if (c->p)
				check_contents(t, c, c->usable, "spot check");
		}
	}
	cur_call = -1;
	if (atomic_load(&failed))
		return NULL;	/* the heap is not to be trusted: leave it */
	free_all(t);
	/* whatever others handed off and nobody took */
	if (t->id == 0)
		while (do_take(t, &(bool){ true }))
			;
	return NULL;
}

static void *map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void model_default_config(struct model_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->seed = 1;
	cfg->steps = 200000;
	cfg->threads = 1;
	cfg->slots = 4096;
	cfg->max_size = 8 << 20;
	cfg->live_limit = 256 << 20;
	cfg->api = &model_libc_api;
}

int model_run(const struct model_config *cfg, struct model_result *res)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGABRT, SIGFPE };
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	unsigned nt = cfg->threads ? cfg->threads : 1, i, k;
	struct thread *th;
	size_t slot_bytes;

	run_seed = cfg->seed;
	atomic_store(&failed, false);
	atomic_store(&forks, 0);
	atomic_store(&peak_chunks, 0);
	if (cfg->bytes)
		nt = 1;		/* a byte buffer is one sequence */
	slot_bytes = (size_t)cfg->slots * sizeof(struct chunk);
	th = map(nt * sizeof(*th));
	ix_cap = nt * cfg->slots + HANDOFF_CAP;
	ix = map((ix_cap + 1) * sizeof(*ix));
	handoff = map(HANDOFF_CAP * sizeof(*handoff));
	if (!th || !ix || !handoff) {
		fprintf(stderr, "model: cannot map the model's tables\n");
		return 1;
	}
	ix_root = ix_free = ix_used = 0;
	handoff_n = 0;
	pthread_once(&once, register_atfork);
	for (k = 0; k < NELEMS(sigs) && !cfg->keep_signals; k++)
		signal(sigs[k], on_signal);
	for (i = 0; i < nt; i++) {
		th[i].cfg = cfg;
		th[i].id = i;
		th[i].nslots = cfg->slots;
		th[i].slot = map(slot_bytes);
		th[i].steps = cfg->bytes ? ~0UL : cfg->steps / nt;
		th[i].src.state = cfg->seed ^ (i * 0xd1342543de82ef95ULL);
		th[i].src.bytes = cfg->bytes;
		th[i].src.nbytes = cfg->nbytes;
		if (!th[i].slot) {
			fprintf(stderr, "model: cannot map slots\n");
			return 1;
		}
	}
	for (i = 1; i < nt; i++)
		if (pthread_create(&th[i].handle, NULL, run_thread, &th[i])) {
			fprintf(stderr, "model: cannot start thread %u\n", i);
			atomic_store(&failed, true);
			nt = i;
			break;
		}
	run_thread(&th[0]);
	for (i = 1; i < nt; i++)
		pthread_join(th[i].handle, NULL);
	while (!atomic_load(&failed) && do_take(&th[0], &(bool){ true }))
		;
	if (res) {
		memset(res, 0, sizeof(*res));
		for (i = 0; i < nt; i++) {
			res->steps += th[i].done;
			for (k = 0; k < 16; k++)
				res->calls[k] += th[i].calls[k];
		}
		res->forks = atomic_load(&forks);
		res->peak_live = atomic_load(&peak_chunks);
	}
	for (i = 0; i < nt; i++)
		munmap(th[i].slot, slot_bytes);
	munmap(th, nt * sizeof(*th));
	munmap(ix, (ix_cap + 1) * sizeof(*ix));
	munmap(handoff, HANDOFF_CAP * sizeof(*handoff));
	if (atomic_load(&live_chunks) && !atomic_load(&failed)) {
		fprintf(stderr, "model: FAIL %lu chunks left live at the end\n",
			atomic_load(&live_chunks));
		return 1;
	}
	return atomic_load(&failed) ? 1 : 0;
}
