/*
 * backend.c - libmtealloc's use of jemalloc: the arenas created with our
 * extent hooks, the calls that allocate from them, and a table of
 * jemalloc's size classes.  With extent.c, the only file that includes
 * jemalloc.h.
 *
 * Each thread is bound to one of our arenas (round robin, thread.arena)
 * on its first allocation, so that jemalloc's own malloc() and free(),
 * its fast paths, serve it from our extents; arenas beyond the first are
 * created when a thread is first bound to them, as jemalloc creates its
 * own.  Requests those fast paths cannot express (alignment, zeroing,
 * huge sizes) name the arena with mallocx().
 * jemalloc's automatic thread cache stays on: nothing else in the process
 * uses jemalloc, so the cache only ever holds our chunks.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <jemalloc/jemalloc.h>

#include "internal.h"

#define MAX_ARENAS 64

static _Atomic unsigned arenas[MAX_ARENAS];	/* 0: not created yet */
static pthread_mutex_t arenas_lock = PTHREAD_MUTEX_INITIALIZER;
uint32_t mte_je_class_size[MTE_JE_CLASS_TABLE_MAX / 16 + 1];
size_t mte_je_large_min;
static unsigned narenas;
static _Atomic unsigned next_arena;
static MTE_TLS int thread_flags;	/* MALLOCX_ARENA(ours), 0 until set */

/*
 * jemalloc's own malloc(), free(), calloc() and realloc(): its fast
 * paths, much shorter than mallocx()/dallocx().  Each thread is bound to
 * one of our arenas (thread.arena), so they allocate from our extents.
 * NULL if jemalloc cannot be found by name, and then mallocx() is used
 * throughout.
 * api.c's pass-through fast path calls them directly.
 */
void *(*mte_je_malloc_fn)(size_t);
void (*mte_je_free_fn)(void *);
void *(*mte_je_calloc_fn)(size_t, size_t);
void *(*mte_je_realloc_fn)(void *, size_t);
static MTE_TLS bool thread_bound;	/* thread.arena took */

#ifdef MTE_JE_STATIC
/*
 * jemalloc is linked into the library, from Debian's PIC archive, with its
 * malloc(), free(), calloc() and realloc() renamed (Makefile.am), so that
 * ours are the process's and its own stay reachable by these names.
 */
void *mtejem_malloc(size_t size);
void mtejem_free(void *p);
void *mtejem_calloc(size_t n, size_t size);
void *mtejem_realloc(void *p, size_t size);

static void find_je_fast_paths(void)
{
	mte_je_malloc_fn = mtejem_malloc;
	mte_je_free_fn = mtejem_free;
	mte_je_calloc_fn = mtejem_calloc;
	mte_je_realloc_fn = mtejem_realloc;
}
#else
/* jemalloc is libjemalloc.so.2, loaded as our dependency: find its own. */
static void find_je_fast_paths(void)
{
	void *h = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_NOLOAD);

	if (!h)
		return;
	mte_je_malloc_fn = (void *(*)(size_t))dlsym(h, "malloc");
	mte_je_free_fn = (void (*)(void *))dlsym(h, "free");
	mte_je_calloc_fn = (void *(*)(size_t, size_t))dlsym(h, "calloc");
	mte_je_realloc_fn = (void *(*)(void *, size_t))dlsym(h, "realloc");
	if (!mte_je_malloc_fn || !mte_je_free_fn || !mte_je_calloc_fn ||
	    !mte_je_realloc_fn) {
		mte_je_malloc_fn = NULL;	/* all or none */
		mte_je_free_fn = NULL;
		mte_je_calloc_fn = NULL;
		mte_je_realloc_fn = NULL;
	}
}
#endif

/* Arena slot i, created with our hooks if it is not yet; 0 on failure. */
static unsigned create_arena(unsigned i)
{
	extent_hooks_t *hooks = &mte_extent_hooks;
	unsigned a = atomic_load(&arenas[i]);
	size_t sz = sizeof(a);

	if (a)
		return a;
	pthread_mutex_lock(&arenas_lock);
	a = atomic_load(&arenas[i]);
	if (!a && !mallctl("arenas.create", &a, &sz, &hooks, sizeof(hooks)))
		atomic_store(&arenas[i], a);
	pthread_mutex_unlock(&arenas_lock);
	return a;
}

bool mte_backend_init(unsigned n, const char **why)
{
	size_t page, sz = sizeof(page);
	unsigned i;

	if (mallctl("arenas.page", &page, &sz, NULL, 0)) {
		*why = "jemalloc does not answer mallctl(\"arenas.page\")";
		return false;
	}
	sz = sizeof(mte_je_large_min);
	if (mallctl("arenas.lextent.0.size", &mte_je_large_min, &sz, NULL, 0))
		mte_je_large_min = 4 * page;	/* jemalloc's SC_LARGE_MINCLASS */
	if (!mte_extent_init(page)) {
		*why = "cannot map the heap's page map";
		return false;
	}
	if (n == 0) {		/* as jemalloc: four per CPU */
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		n = cpus < 1 ? 4 : cpus > MAX_ARENAS / 4 ? MAX_ARENAS
							 : 4 * (unsigned)cpus;
	}
	if (n > MAX_ARENAS)
		n = MAX_ARENAS;
	narenas = n;
	if (!create_arena(0)) {
		*why = "jemalloc refused mallctl(\"arenas.create\")";
		return false;
	}
	find_je_fast_paths();
	/* nallocx() is a call into jemalloc; the hot path looks sizes up. */
	for (i = 0; i <= MTE_JE_CLASS_TABLE_MAX / MTE_GRANULE; i++)
		mte_je_class_size[i] = (uint32_t)nallocx(i ? i * MTE_GRANULE : 1, 0);
	return true;
}

/* This thread's arena: chosen round robin, and bound to the thread. */
static inline int arena_flags(void)
{
	if (unlikely(!thread_flags)) {
		unsigned a = create_arena(atomic_fetch_add_explicit(&next_arena,
				1, memory_order_relaxed) % narenas);

		if (!a)
			a = atomic_load(&arenas[0]);	/* made at start-up */

		/* unbound, malloc() would use jemalloc's arenas: name ours */
		thread_bound = !mallctl("thread.arena", NULL, NULL, &a,
					sizeof(a));
		thread_flags = MALLOCX_ARENA(a);
	}
	return thread_flags;
}

bool mte_je_thread_fast(void)
{
	arena_flags();
	return thread_bound && mte_je_malloc_fn;
}

static inline int align_flags(size_t align)
{
	return align > MTE_GRANULE ? MALLOCX_ALIGN(align) : 0;
}

void *mte_je_alloc(size_t size, size_t align, bool zero)
{
	int flags = arena_flags();

	/*
	 * jemalloc aligns a chunk of 8 bytes or less to 8 only, and says
	 * nothing of an alignment of 16 or less (align_flags()): a chunk of
	 * at least align bytes is aligned to it.
	 */
	if (unlikely(size < align))
		size = align;
	if (likely(thread_bound && mte_je_malloc_fn && align <= MTE_GRANULE &&
		   !zero && size < MTE_JE_FAST_MAX))
		return mte_je_malloc_fn(size);
	return mallocx(size ? size : 1, flags | align_flags(align) |
		       (zero ? MALLOCX_ZERO : 0));
}

void mte_je_free(void *p)
{
	if (likely(mte_je_free_fn))
		mte_je_free_fn(p);
	else
		dallocx(p, 0);
}

void mte_je_free_sized(void *p, size_t size, size_t align)
{
	sdallocx(p, size, align_flags(align));
}

size_t mte_je_expand(void *p, size_t size)
{
	return xallocx(p, size, 0, 0);
}

void *mte_je_realloc(void *p, size_t size)
{
	return rallocx(p, size ? size : 1, arena_flags());
}

size_t mte_je_usable(const void *p)
{
	return sallocx(p, 0);
}

size_t mte_je_good_size_slow(size_t size, size_t align)
{
	return nallocx(size ? size : 1, align_flags(align));
}

unsigned mte_je_narenas(void)
{
	return narenas;
}
