/*
 * api.c - the C allocation API that libmtealloc exports in place of
 * glibc's: argument checks, errno, the __libc_* aliases; the bootstrap
 * buffer that serves allocations made while the library itself is
 * starting up, and the detour that serves those made while a report is
 * written; and the unchecked section (PSTATE.TCO) that the allocator's
 * own work runs in while tagging is on.  The work is done in heap.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>

#include "internal.h"

#define EXPORT __attribute__((visibility("default")))
#define CALLER __builtin_return_address(0)
/* The aliases share their targets' code, so the attributes need not match. */
#pragma GCC diagnostic ignored "-Wmissing-attributes"

/* ---- bootstrap: a bump allocator for start-up's own recursion ---- */

#define BOOT_SIZE (64 * 1024)

static char boot_buf[BOOT_SIZE] __attribute__((aligned(16)));
static _Atomic size_t boot_used;

static bool boot_owns(const void *p)
{
	return (const char *)p >= boot_buf && (const char *)p < boot_buf + BOOT_SIZE;
}

/* 16 bytes of size before each block; never freed. */
static void *boot_alloc(size_t size, size_t align)
{
	size_t a = align > 16 ? align : 16, off, cur;

	if (size > BOOT_SIZE)
		goto full;
	cur = atomic_load(&boot_used);
	do {
		off = (cur + 16 + a - 1) & ~(a - 1);
		if (off + size > BOOT_SIZE)
			goto full;
	} while (!atomic_compare_exchange_weak(&boot_used, &cur, off + size));
	*(size_t *)(boot_buf + off - 16) = size;
	return boot_buf + off;	/* static storage is already zero */
full:
	errno = ENOMEM;
	return NULL;
}

static size_t boot_size(const void *p)
{
	return *(const size_t *)((const char *)p - 16);
}

/*
 * The detour: while a thread writes a report, whatever it allocates (the
 * unwinder and dladdr() may) comes from here, so that the heap under
 * investigation is not changed by the report and no jemalloc lock held
 * at the fault can deadlock it.  Never freed; a report that exhausts it
 * gets NULL.
 */
#define DETOUR_SIZE (512 * 1024)

static char detour_buf[DETOUR_SIZE] __attribute__((aligned(16)));
static _Atomic size_t detour_used;

static bool detour_owns(const void *p)
{
	return (const char *)p >= detour_buf &&
	       (const char *)p < detour_buf + DETOUR_SIZE;
}

static void *detour_alloc(size_t size, size_t align)
{
	size_t a = align > 16 ? align : 16, off, cur = atomic_load(&detour_used);

	do {
		off = (cur + 16 + a - 1) & ~(a - 1);
		if (size > DETOUR_SIZE || off + size > DETOUR_SIZE) {
			errno = ENOMEM;
			return NULL;
		}
	} while (!atomic_compare_exchange_weak(&detour_used, &cur, off + size));
	*(size_t *)(detour_buf + off - 16) = size;
	return memset(detour_buf + off, 0, size);
}

/*
 * True when the caller must use the bootstrap buffer.  A thread whose
 * mode is applied for the current generation has seen start-up finish
 * (it is applied only after), so it skips the acquire load.
 */
static inline bool starting(void)
{
	unsigned g = mte_thread_gen;

	if (likely(g && g == atomic_load_explicit(&mte_g.mode_gen,
						  memory_order_relaxed)))
		return false;
	if (likely(atomic_load_explicit(&mte_g.init_state,
			memory_order_acquire) == MTE_INIT_DONE)) {
		mte_thread_check();
		return false;
	}
	if (mte_init_reentrant())
		return true;
	mte_init_slow();
	mte_thread_check();
	return false;
}

static size_t sys_page(void)
{
	static size_t page;

	if (!page)
		page = (size_t)getauxval(AT_PAGESZ);
	return page ? page : 4096;
}

static inline bool power_of_two(size_t x)
{
	return x && !(x & (x - 1));
}

/*
 * ---- the pass-through fast path ----
 *
 * While tagging has never been on in the process (no MTE, or mode=off from
 * the start), an untagged chunk is jemalloc's as it is, so malloc(),
 * free(), calloc() and realloc() can be jemalloc's own behind a few
 * checks: this thread is armed for the current mode generation (bound to
 * its arena, its mode applied, not writing a report), and for free() and
 * realloc() the pointer is untagged and in our heap, which is all that
 * can be checked without tags.  Any other case
 * takes the general path, which arms the thread again when it may.
 * mtealloc_set_mode() disarms every thread by changing the generation.
 * (mte_t lives in init.c, beside the other per-thread state.)
 */

static inline unsigned fast_gen(void)
{
	return atomic_load_explicit(&mte_g.fast_gen, memory_order_relaxed);
}

__attribute__((noinline)) static void fast_arm(void)
{
	unsigned g = fast_gen();

	if (g != MTE_FAST_OFF && g != MTE_FAST_TAGGED && !mte_detour &&
	    mte_thread_gen == g && mte_je_thread_fast())
		mte_t.fast = g;
}

static inline void fast_maybe_arm(void)
{
	unsigned g = fast_gen();

	if (unlikely(g != MTE_FAST_OFF && g != MTE_FAST_TAGGED))
		fast_arm();
}

/*
 * ---- the unchecked section ----
 *
 * While tagging is on, the allocator's own work runs with tag checking
 * suspended (PSTATE.TCO): it never needs checks (it reads tags with LDG),
 * and under emulation every checked load or store costs a helper call,
 * those of its own stack frame included.  Each *_work() function below is
 * reached through an entry from memtag.h's MTE_UNCHECKED_ENTRY, which
 * suspends checks from its first instruction to its last; the exported
 * functions are dispatchers that jump there (a tail call) when
 * mte_g.fast_gen says MTE_FAST_TAGGED, after reading that one global and
 * nothing else.  (On arm64 GCC gives them a frame record, for
 * __builtin_return_address(); its stores are to the stack, unchecked.)
 * Otherwise (tagging off, or changing) they call the work directly: with
 * tagging off there are no checks to suspend, and the work is correct
 * either way.
 */

/* (Constant false where the architecture has no MTE: one test less.) */
static inline bool tagged_now(unsigned g)
{
	return mte_arch_supported() && g == MTE_FAST_TAGGED;
}

/*
 * On the way into the heap, which each work function below enters with a
 * tail call (so that it returns straight to the unchecked entry or the
 * program; under emulation every return costs a lookup): remember the
 * frame record that holds the program's return address, for stacks
 * recorded there (trace.h).  That is the unchecked entry's, which
 * outlives the work function; when the exported function jumped here
 * directly the record is this function's own, gone after the tail call,
 * and NULL makes the recorder walk from its own frame instead.  Every
 * path that records comes through here, so what was left from an
 * earlier call is never read.
 */
static inline __attribute__((always_inline)) void api_enter(const void *caller)
{
	void **fp = __builtin_frame_address(0);

	mte_t.api_frame = fp[1] == caller ? NULL : fp[0];
}

#define WORK __attribute__((noinline, noclone, used))

WORK void *mte_aligned_work(size_t align, size_t size, const void *caller)
{
	if (unlikely(mte_detour))
		return detour_alloc(size, align);
	if (starting())
		return boot_alloc(size, align);
	api_enter(caller);
	return mte_heap_alloc(size, align, false, caller);
}

MTE_HOT_PAGE(malloc) WORK void *mte_malloc_work(size_t size, const void *caller)
{
	if (unlikely(mte_detour))
		return detour_alloc(size, 16);
	if (starting())
		return boot_alloc(size, 16);
	api_enter(caller);
	fast_maybe_arm();
	return mte_heap_alloc(size, 0, false, caller);
}

MTE_HOT_PAGE(free) WORK void mte_free_work(void *p, const void *caller)
{
	if (!p || boot_owns(p) || detour_owns(p))
		return;
	if (starting())
		return;		/* nothing but boot memory exists yet */
	api_enter(caller);
	fast_maybe_arm();
	mte_heap_free(p, caller);
}

WORK void *mte_calloc_work(size_t total, const void *caller)
{
	if (unlikely(mte_detour))
		return detour_alloc(total, 16);
	if (starting())
		return boot_alloc(total, 16);
	api_enter(caller);
	return mte_heap_alloc(total, 0, true, caller);
}

/* realloc() and reallocarray(), with the caller of the API named. */
WORK void *mte_realloc_work(void *p, size_t size, const void *caller)
{
	if (boot_owns(p) || detour_owns(p) || (mte_detour && p)) {
		/* a heap chunk, while a report is written: copy, leave it be */
		size_t old = boot_owns(p) || detour_owns(p) ? boot_size(p) :
			     mte_heap_usable(p, caller);
		void *q = malloc(size);

		if (q)
			memcpy(q, p, old < size ? old : size);
		return q;
	}
	if (starting())
		return p ? NULL : boot_alloc(size, 16);
	api_enter(caller);
	if (!p)
		return mte_heap_alloc(size, 0, false, caller);
	if (size == 0) {		/* as glibc: free, and return NULL */
		mte_heap_free(p, caller);
		return NULL;
	}
	return mte_heap_realloc(p, size, caller);
}

WORK size_t mte_usable_work(void *p, const void *caller)
{
	if (boot_owns(p) || detour_owns(p))
		return boot_size(p);
	if (starting())
		return 0;
	return mte_heap_usable(p, caller);
}

void *mte_unchecked_aligned(size_t align, size_t size, const void *caller);
void *mte_unchecked_malloc(size_t size, const void *caller);
void mte_unchecked_free(void *p, const void *caller);
void *mte_unchecked_calloc(size_t total, const void *caller);
void *mte_unchecked_realloc(void *p, size_t size, const void *caller);
size_t mte_unchecked_usable(void *p, const void *caller);
MTE_UNCHECKED_ENTRY(mte_unchecked_aligned, mte_aligned_work);
MTE_UNCHECKED_ENTRY_AT(mte_unchecked_malloc, mte_malloc_work,
		       MTE_HOT_SECTION(malloc) "_0", "12");
MTE_UNCHECKED_ENTRY_AT(mte_unchecked_free, mte_free_work,
		       MTE_HOT_SECTION(free) "_0", "12");
#if defined(__aarch64__)
/* Where each hot page's code ends, for the test that it fits (check_faults). */
#define HOT_END(page)							\
	__asm__(".pushsection " MTE_HOT_SECTION(page) "_2, \"ax\", %progbits\n\t" \
		".globl mte_hot_" #page "_end\n\t"			\
		".hidden mte_hot_" #page "_end\n"			\
		"mte_hot_" #page "_end:\n\t"				\
		".popsection\n")
HOT_END(malloc);
HOT_END(free);
#endif
MTE_UNCHECKED_ENTRY(mte_unchecked_calloc, mte_calloc_work);
MTE_UNCHECKED_ENTRY(mte_unchecked_realloc, mte_realloc_work);
MTE_UNCHECKED_ENTRY(mte_unchecked_usable, mte_usable_work);

static inline void *aligned(size_t align, size_t size, const void *caller)
{
	return tagged_now(fast_gen()) ?
	       mte_unchecked_aligned(align, size, caller) :
	       mte_aligned_work(align, size, caller);
}

static inline void *do_realloc(void *p, size_t size, const void *caller)
{
	return tagged_now(fast_gen()) ? mte_unchecked_realloc(p, size, caller)
				      : mte_realloc_work(p, size, caller);
}

/* ---- the exported API ---- */

/*
 * The pass-through hand-offs are tail calls, so that jemalloc returns
 * straight to the program: the count comes first (libmtealloc(3) says
 * what that means for a failed malloc()).
 */
EXPORT MTE_HOT_PAGE(malloc) void *malloc(size_t size)
{
	unsigned g = fast_gen();

	if (tagged_now(g))
		return mte_unchecked_malloc(size, CALLER);
	if (likely(mte_t.fast == g) && likely(size < MTE_JE_FAST_MAX)) {
		mte_stat_add(MTE_STAT_allocs, 1);
		return mte_je_malloc_fn(size);
	}
	return mte_malloc_work(size, CALLER);
}

/*
 * Is p, handed to free() or realloc() on the pass-through path, a chunk
 * jemalloc may take as it is: untagged, and in our heap?  (An armed
 * thread has seen start-up finish, so the page map exists; one shift
 * tells a tag and an address beyond the map apart from the rest.)
 */
static inline bool fast_ours(const void *p)
{
	return likely(!((uintptr_t)p >> MTE_VA_BITS)) &&
	       likely(mte_page_entry_ready((uintptr_t)p));
}

/*
 * NULL is tested first: so placed, free(NULL) returns before the frame
 * record is built, and the tagged dispatch takes 16 instructions on
 * arm64, not 25 (counted under qemu).
 */
EXPORT MTE_HOT_PAGE(free) void free(void *p)
{
	unsigned g = fast_gen();

	if (!p)
		return;
	if (tagged_now(g)) {
		mte_unchecked_free(p, CALLER);
		return;
	}
	if (likely(mte_t.fast == g) && fast_ours(p)) {
		mte_stat_add(MTE_STAT_frees, 1);
		mte_je_free_fn(p);
		return;
	}
	mte_free_work(p, CALLER);
}

EXPORT void *calloc(size_t n, size_t size)
{
	unsigned g = fast_gen();
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (tagged_now(g))
		return mte_unchecked_calloc(total, CALLER);
	if (likely(mte_t.fast == g) && likely(total < MTE_JE_FAST_MAX)) {
		mte_stat_add(MTE_STAT_allocs, 1);
		return mte_je_calloc_fn(n, size);
	}
	return mte_calloc_work(total, CALLER);
}

/*
 * A pass-through realloc() of a chunk of ours to a size jemalloc's own
 * fast path serves is jemalloc's; the others (NULL, size 0, which frees
 * as glibc does, and huge sizes) go the general way.  As there, a chunk
 * that moves counts as an allocation and a free.
 */
EXPORT void *realloc(void *p, size_t size)
{
	unsigned g = fast_gen();
	void *q;

	if (tagged_now(g) || unlikely(mte_t.fast != g) || !p || !size ||
	    unlikely(size >= MTE_JE_FAST_MAX) || !fast_ours(p))
		return do_realloc(p, size, CALLER);
	q = mte_je_realloc_fn(p, size);
	if (q && q != p) {
		mte_stat_add(MTE_STAT_allocs, 1);
		mte_stat_add(MTE_STAT_frees, 1);
	}
	return q;
}

EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return do_realloc(p, total, CALLER);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	int saved = errno;
	void *p;

	if (!power_of_two(align) || align % sizeof(void *))
		return EINVAL;
	p = aligned(align, size, CALLER);
	if (!p) {
		errno = saved;
		return ENOMEM;
	}
	*out = p;
	return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	if (!power_of_two(align)) {
		errno = EINVAL;
		return NULL;
	}
	return aligned(align, size, CALLER);
}

/* As glibc: an alignment that is not a power of two is rounded up. */
EXPORT void *memalign(size_t align, size_t size)
{
	size_t a = 1;

	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	while (a < align)
		a <<= 1;
	return aligned(a, size, CALLER);
}

EXPORT void *valloc(size_t size)
{
	return aligned(sys_page(), size, CALLER);
}

EXPORT void *pvalloc(size_t size)
{
	size_t page = sys_page(), rounded;

	if (__builtin_add_overflow(size, page - 1, &rounded)) {
		errno = ENOMEM;
		return NULL;
	}
	rounded &= ~(page - 1);
	return aligned(page, rounded ? rounded : page, CALLER);
}

EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	return tagged_now(fast_gen()) ? mte_unchecked_usable(p, CALLER)
				      : mte_usable_work(p, CALLER);
}

/* glibc's own names, which some programs and interposers call directly. */
EXPORT void *__libc_malloc(size_t) __attribute__((alias("malloc")));
EXPORT void __libc_free(void *) __attribute__((alias("free")));
EXPORT void *__libc_calloc(size_t, size_t) __attribute__((alias("calloc")));
EXPORT void *__libc_realloc(void *, size_t) __attribute__((alias("realloc")));
EXPORT void *__libc_memalign(size_t, size_t) __attribute__((alias("memalign")));
EXPORT void *__libc_valloc(size_t) __attribute__((alias("valloc")));
EXPORT void *__libc_pvalloc(size_t) __attribute__((alias("pvalloc")));
EXPORT void cfree(void *) __attribute__((alias("free")));
