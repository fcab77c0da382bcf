/*
 * check_heap.c - the allocation API under libmtealloc, linked with
 * -lmtealloc: what every build must do, tagged or not.  The MTE semantics
 * are in check_heap_mte.c; this file's runner adds that suite when the
 * machine tags, and fails when the harness said it must tag and it does
 * not (MTEALLOC_EXPECT_TAGGING=1, set for runs under qemu-aarch64).
 */
#include <errno.h>
#include <stdio.h>
#include <malloc.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mtealloc.h"
#include "heap_tests.h"
#include "runner.h"

static const size_t sizes[] = {
	0, 1, 15, 16, 17, 31, 32, 100, 112, 128, 1000, 4096, 10000,
	65536, 300000, 1 << 20, 5 << 20,
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/*
 * Check's assertions allocate (they record mark points), so code that
 * counts allocations makes no assertion until it has its numbers; and
 * pointers go through this sink so that the compiler cannot drop a
 * malloc()/free() pair.
 */
static void *volatile sink;

/* Index of the first byte of p[0..n) that is not c, or n. */
static size_t first_not(const unsigned char *p, size_t n, unsigned char c)
{
	size_t i;

	for (i = 0; i < n && p[i] == c; i++)
		;
	return i;
}

int expect_tagging(void)
{
	const char *e = getenv("MTEALLOC_EXPECT_TAGGING");

	return e && !strcmp(e, "1");
}

START_TEST(usable_size_is_writable)
{
	size_t i;

	for (i = 0; i < NSIZES; i++) {
		unsigned char *p = malloc(sizes[i]);
		size_t u = malloc_usable_size(p), j;

		ck_assert_ptr_nonnull(p);
		ck_assert_uint_ge(u, sizes[i]);
		memset(p, 0xa5, u);
		j = first_not(p, u, 0xa5);
		ck_assert_uint_eq(j, u);
		free(p);
	}
	ck_assert_uint_eq(malloc_usable_size(NULL), 0);
}
END_TEST

START_TEST(calloc_zeroes)
{
	size_t i, j;

	for (i = 0; i < NSIZES; i++) {
		/* dirty the memory calloc is likely to get back */
		unsigned char *d = malloc(sizes[i]), *p;

		memset(d, 0xff, malloc_usable_size(d));
		free(d);
		p = calloc(1, sizes[i]);
		ck_assert_ptr_nonnull(p);
		j = first_not(p, sizes[i], 0);
		ck_assert_msg(j == sizes[i], "calloc(%zu)[%zu] = %u",
			      sizes[i], j, p[j]);
		free(p);
	}
}
END_TEST

START_TEST(calloc_overflow)
{
	volatile size_t half = SIZE_MAX / 2, huge = SIZE_MAX - 8;

	errno = 0;
	ck_assert_ptr_null(calloc(half, 3));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(reallocarray(NULL, half, 3));
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(malloc(huge));
	ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

START_TEST(realloc_preserves)
{
	size_t i, j, k;

	for (i = 0; i < NSIZES; i++)
		for (k = 0; k < NSIZES; k++) {
			unsigned char *p = malloc(sizes[i]);
			size_t keep = sizes[i] < sizes[k] ? sizes[i] : sizes[k];

			for (j = 0; j < sizes[i]; j++)
				p[j] = (unsigned char)(j * 7 + i);
			p = realloc(p, sizes[k] ? sizes[k] : 1);
			ck_assert_ptr_nonnull(p);
			for (j = 0; j < keep; j++)
				if (p[j] != (unsigned char)(j * 7 + i))
					break;
			ck_assert_msg(j == keep, "realloc %zu->%zu lost byte %zu",
				      sizes[i], sizes[k], j);
			memset(p, 1, malloc_usable_size(p));
			free(p);
		}
	ck_assert_ptr_null(realloc(malloc(10), 0));	/* frees, as glibc */
}
END_TEST

START_TEST(alignment_functions_align)
{
	size_t a, page = (size_t)sysconf(_SC_PAGESIZE);
	void *p;

	for (a = sizeof(void *); a <= 65536; a <<= 1) {
		ck_assert_int_eq(posix_memalign(&p, a, 100), 0);
		ck_assert_uint_eq((uintptr_t)p % a, 0);
		memset(p, 3, malloc_usable_size(p));
		free(p);
		p = aligned_alloc(a, 3 * a);
		ck_assert_uint_eq((uintptr_t)p % a, 0);
		memset(p, 3, 3 * a);
		free(p);
		p = memalign(a, 1);
		ck_assert_uint_eq((uintptr_t)p % a, 0);
		free(p);
	}
	ck_assert_int_eq(posix_memalign(&p, 24, 8), EINVAL);
	ck_assert_int_eq(posix_memalign(&p, 4, 8), EINVAL);	/* < sizeof(void *) */
	errno = 0;
	ck_assert_ptr_null(aligned_alloc(48, 96));
	ck_assert_int_eq(errno, EINVAL);
	p = memalign(48, 10);			/* rounded up to 64, as glibc */
	ck_assert_uint_eq((uintptr_t)p % 64, 0);
	free(p);
	p = valloc(10);
	ck_assert_uint_eq((uintptr_t)p % page, 0);
	free(p);
	p = pvalloc(page + 1);
	ck_assert_uint_eq((uintptr_t)p % page, 0);
	ck_assert_uint_ge(malloc_usable_size(p), 2 * page);
	memset(p, 0, 2 * page);
	free(p);
}
END_TEST

START_TEST(libc_names_are_ours)
{
	extern void *__libc_malloc(size_t);
	extern void __libc_free(void *);
	uint64_t before = 0, after = 0, freed0 = 0, freed1 = 0;
	int rc = 0;

	rc |= mtealloc_stat("allocs", &before);
	rc |= mtealloc_stat("frees", &freed0);
	sink = __libc_malloc(40);
	rc |= mtealloc_stat("allocs", &after);
	__libc_free(sink);
	rc |= mtealloc_stat("frees", &freed1);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(after, before + 1);
	ck_assert_uint_eq(freed1, freed0 + 1);
}
END_TEST

#define NTHREADS 6
#define ROUNDS 3000

static void *volatile handoff[NTHREADS][64];

static void *hammer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg, r, seed = id * 7919 + 1;

	for (r = 0; r < ROUNDS; r++) {
		unsigned slot = (seed = seed * 1103515245 + 12345) >> 16 & 63;
		size_t size = (seed >> 8) % 700 + 1;
		/* take what another thread left, check it, free it here */
		unsigned char *q = __atomic_exchange_n(
			&handoff[(id + 1) % NTHREADS][slot], NULL, __ATOMIC_ACQ_REL);
		unsigned char *p = malloc(size);

		if (q) {
			size_t n = q[0] | (size_t)q[1] << 8, i;

			for (i = 2; i < n; i++)
				if (q[i] != (unsigned char)(n + i))
					return (void *)1;
			free(q);
		}
		if (size < 2)
			size = 2;
		p = realloc(p, size);
		p[0] = (unsigned char)size;
		p[1] = (unsigned char)(size >> 8);
		for (size_t i = 2; i < size; i++)
			p[i] = (unsigned char)(size + i);
		q = __atomic_exchange_n(&handoff[id][slot], p, __ATOMIC_ACQ_REL);
		free(q);
	}
	return NULL;
}

START_TEST(threads_hammer)
{
	pthread_t t[NTHREADS];
	void *rv;
	unsigned i, s;

	for (i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer,
						(void *)(uintptr_t)i), 0);
	for (i = 0; i < NTHREADS; i++) {
		ck_assert_int_eq(pthread_join(t[i], &rv), 0);
		ck_assert_msg(rv == NULL, "thread %u saw corrupted data", i);
	}
	for (i = 0; i < NTHREADS; i++)
		for (s = 0; s < 64; s++)
			free(handoff[i][s]);
}
END_TEST

START_TEST(fork_both_sides_work)
{
	char *before = strdup("made before fork");
	pid_t pid;
	int status, i;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char *p[100];

		for (i = 0; i < 100; i++)
			p[i] = malloc((size_t)i * 13 + 1);
		for (i = 0; i < 100; i++)
			free(p[i]);
		_exit(strcmp(before, "made before fork") ? 3 : 0);
	}
	for (i = 0; i < 100; i++)
		free(malloc((size_t)i * 17 + 1));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child status %#x", status);
	free(before);
}
END_TEST

START_TEST(stats_count)
{
	uint64_t a0, a1, f0, f1, t0, t1;

	mtealloc_stat("allocs", &a0);
	mtealloc_stat("frees", &f0);
	mtealloc_stat("tagged_allocs", &t0);
	sink = malloc(50);
	free(sink);
	mtealloc_stat("allocs", &a1);
	mtealloc_stat("frees", &f1);
	mtealloc_stat("tagged_allocs", &t1);
	ck_assert_uint_eq(a1, a0 + 1);
	ck_assert_uint_eq(f1, f0 + 1);
	ck_assert_uint_eq(t1, t0 + (mtealloc_tagging() ? 1 : 0));
}
END_TEST

/* free(NULL) does nothing, on the pass-through path and the tagged one. */
START_TEST(free_null_does_nothing)
{
	uint64_t f0, f1, bad0, bad1;
	void *volatile null = NULL;

	free(malloc(8));		/* this thread is armed */
	mtealloc_stat("frees", &f0);
	mtealloc_stat("invalid_frees", &bad0);
	free(null);
	free(null);
	mtealloc_stat("frees", &f1);
	mtealloc_stat("invalid_frees", &bad1);
	ck_assert_uint_eq(f1, f0);
	ck_assert_uint_eq(bad1, bad0);
}
END_TEST

static void *alloc_and_free(void *arg)
{
	free(malloc(100));
	return arg;
}

/*
 * glibc carves static TLS out of every thread's stack: a library that
 * keeps much there makes pthread_create() refuse the smallest stack.
 */
START_TEST(thread_with_the_smallest_stack)
{
	pthread_attr_t a;
	pthread_t t;

	ck_assert_int_eq(pthread_attr_init(&a), 0);
	ck_assert_int_eq(pthread_attr_setstacksize(&a, PTHREAD_STACK_MIN), 0);
	ck_assert_int_eq(pthread_create(&t, &a, alloc_and_free, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	pthread_attr_destroy(&a);
}
END_TEST

/* calloc() counts as an allocation; a realloc() that moves, as one and a free. */
START_TEST(stats_count_calloc_and_realloc)
{
	uint64_t a0, a1, f0, f1;
	char *p, *q;

	mtealloc_stat("allocs", &a0);
	mtealloc_stat("frees", &f0);
	p = calloc(1, 50);
	q = realloc(p, 200000);		/* another size class: it moves */
	free(q);
	mtealloc_stat("allocs", &a1);
	mtealloc_stat("frees", &f1);
	ck_assert_ptr_ne(q, p);
	ck_assert_uint_eq(a1, a0 + 2);
	ck_assert_uint_eq(f1, f0 + 2);
}
END_TEST

/* Without MTE the library passes through, and says why. */
START_TEST(passthrough_without_mte)
{
	void *p = malloc(32);
	const char *why = mtealloc_why_untagged();

	ck_assert_int_eq(mtealloc_tagging(), 0);
	ck_assert_ptr_nonnull(why);
	ck_assert_uint_eq((uintptr_t)p >> 56, 0);
	ck_assert_int_eq(mtealloc_set_mode(MTEALLOC_MODE_SYNC), -1);
	ck_assert_int_eq(errno, ENOTSUP);
	free(p);
}
END_TEST

START_TEST(set_mode_rejects_nonsense)
{
	errno = 0;
	ck_assert_int_eq(mtealloc_set_mode((enum mtealloc_mode)9), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

Suite *suite_heap_api(void)
{
	Suite *s = suite_create("heap-api");
	TCase *tc = tcase_create("api");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, usable_size_is_writable);
	tcase_add_test(tc, calloc_zeroes);
	tcase_add_test(tc, calloc_overflow);
	tcase_add_test(tc, realloc_preserves);
	tcase_add_test(tc, alignment_functions_align);
	tcase_add_test(tc, libc_names_are_ours);
	tcase_add_test(tc, threads_hammer);
	tcase_add_test(tc, fork_both_sides_work);
	tcase_add_test(tc, stats_count);
	tcase_add_test(tc, free_null_does_nothing);
	tcase_add_test(tc, stats_count_calloc_and_realloc);
	tcase_add_test(tc, thread_with_the_smallest_stack);
	tcase_add_test(tc, set_mode_rejects_nonsense);
	if (!mtealloc_tagging())
		tcase_add_test(tc, passthrough_without_mte);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite_heap_api());

	if (mtealloc_tagging())
		srunner_add_suite(sr, suite_heap_mte());
	else if (expect_tagging()) {
		fprintf(stderr, "check_heap: MTEALLOC_EXPECT_TAGGING=1 but "
			"tagging is off: %s\n", mtealloc_why_untagged());
		return EXIT_FAILURE;
	}
	return run_suites(sr);
}
