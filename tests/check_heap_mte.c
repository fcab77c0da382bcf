/*
 * check_heap_mte.c - MTE semantics of the heap, for machines that tag
 * (under qemu-aarch64 here): tags differ between neighbours and change on
 * free; overflow, underflow and use-after-free fault with the right
 * si_code; free() rejects what is not a live chunk; and tagging switched
 * on late keeps the data of a populated heap.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mtealloc.h"
#include "memtag.h"
#include "heap_tests.h"

/* Pointers go through here so that the compiler cannot drop the calls. */
static void *volatile sink;

static sigjmp_buf fault_jmp;
static volatile int fault_code;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	fault_code = si->si_code;
	siglongjmp(fault_jmp, 1);
}

/* Run fn(arg); return the SIGSEGV si_code it raised, or 0 for none. */
static int fault_of(void (*fn)(volatile char *), volatile char *arg)
{
	struct sigaction sa = { 0 }, old;

	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, &old);
	fault_code = 0;
	if (!sigsetjmp(fault_jmp, 1)) {
		fn(arg);
		getpid();	/* an async fault is delivered by now */
	}
	sigaction(SIGSEGV, &old, NULL);
	return fault_code;
}

static void read_byte(volatile char *p) { (void)*p; }
static void write_byte(volatile char *p) { *p = 1; }

START_TEST(tags_nonzero_and_neighbours_differ)
{
	char *p[200];
	int i, j, adjacent = 0;

	for (i = 0; i < 200; i++) {
		p[i] = malloc(48);
		ck_assert_uint_ne(mte_ptr_tag(p[i]), 0);
		ck_assert_uint_eq(mte_mem_tag(p[i]), mte_ptr_tag(p[i]));
	}
	/* any two chunks that touch must carry different tags */
	for (i = 0; i < 200; i++)
		for (j = 0; j < 200; j++) {
			uintptr_t a = (uintptr_t)mte_untag(p[i]);
			uintptr_t b = (uintptr_t)mte_untag(p[j]);

			if (b == a + malloc_usable_size(p[i]) + 16) {
				adjacent++;
				ck_assert_uint_ne(mte_ptr_tag(p[i]),
						  mte_ptr_tag(p[j]));
			}
		}
	ck_assert_int_gt(adjacent, 50);	/* the check above did run */
	for (i = 0; i < 200; i++)
		free(p[i]);
}
END_TEST

START_TEST(free_retags)
{
	int i;

	for (i = 0; i < 100; i++) {
		char *p = malloc(64 + (size_t)i);
		unsigned t = mte_ptr_tag(p);

		free(p);
		ck_assert_uint_ne(mte_mem_tag(p), t);
		ck_assert_uint_ne(mte_mem_tag(p), 0);
	}
}
END_TEST

START_TEST(whole_usable_size_tagged)
{
	char *p = malloc(100);
	size_t u = malloc_usable_size(p), off;

	for (off = 0; off < u; off += 16)
		ck_assert_uint_eq(mte_mem_tag(p + off), mte_ptr_tag(p));
	free(p);
}
END_TEST

/*
 * Growing a large chunk by realloc: jemalloc can often extend it where it
 * stands, and then only the new tail is tagged.  Either way the data
 * stays, all of the usable size carries the pointer's tag, and the byte
 * after it faults.
 */
START_TEST(realloc_growth_keeps_data_and_tags)
{
	size_t sz = 20000, old = 0, i, off, u;
	unsigned in_place = 0;
	char *p = NULL, *q;

	for (; sz <= (2u << 20); old = sz, sz += sz / 2) {
		q = realloc(p, sz);
		ck_assert_ptr_nonnull(q);
		if (p && mte_untag(q) == mte_untag(p))
			in_place++;
		for (i = 0; i < old; i += 997)
			ck_assert_int_eq(q[i], (char)(i * 7));
		for (i = old; i < sz; i++)
			q[i] = (char)(i * 7);
		u = malloc_usable_size(q);
		for (off = 0; off < u; off += 16)
			if (mte_mem_tag(q + off) != mte_ptr_tag(q))
				break;
		ck_assert_uint_eq(off, u);
		ck_assert_int_eq(fault_of(write_byte, q + u), MTE_SEGV_MTESERR);
		p = q;
	}
	free(p);
	/* a fresh process has free memory after its one large chunk */
	ck_assert_uint_gt(in_place, 0);
}
END_TEST

/*
 * The granule after a chunk carries tag 0, so that running off its end
 * faults, even where that memory held another chunk's data under another
 * tag: here a large chunk is freed (its memory retagged) and a shorter
 * one is made where it was, ending inside it.
 */
START_TEST(granule_after_a_chunk_is_tag_0)
{
	int i, reused = 0;

	for (i = 0; i < 20; i++) {
		char *a = malloc(96 * 1024), *b;

		free(a);
		b = malloc(40 * 1024 + 4096 * (size_t)(i % 5));
		reused += mte_untag(b) == mte_untag(a);
		ck_assert_uint_eq(mte_mem_tag(b + malloc_usable_size(b)), 0);
		free(b);
	}
	ck_assert_int_gt(reused, 0);
}
END_TEST

/*
 * Free a chunk's right neighbour, then overflow into it: the freed chunk's
 * new tag avoids its neighbours', so this always faults (with a random
 * tag it would not one time in fourteen).  And a chunk allocated beside a
 * freed one avoids the tag that one had, so that a report cannot take
 * the overflow for a use-after-free.  3000-byte chunks: a size class of
 * their own, so a and b are neighbours in a fresh slab.
 */
START_TEST(overflow_into_a_freed_neighbour_faults)
{
	int i, adjacent = 0;

	for (i = 0; i < 200; i++) {
		char *a = malloc(3000), *b = malloc(3000), *c;
		size_t u = malloc_usable_size(a);
		unsigned old_b = mte_ptr_tag(b);

		sink = b;
		if (mte_untag(b) != mte_untag(a) + u + 16) {
			free(a);
			free(b);
			continue;
		}
		adjacent++;
		free(b);
		ck_assert_int_eq(fault_of(write_byte, a + u + 16),
				 MTE_SEGV_MTESERR);
		free(a);
		c = malloc(3000);	/* a's memory again, beside freed b */
		if (mte_untag(c) == mte_untag(a))
			ck_assert_uint_ne(mte_ptr_tag(c), old_b);
		free(c);
	}
	ck_assert_int_gt(adjacent, 100);
}
END_TEST

START_TEST(overflow_faults_sync)
{
	size_t sizes[] = { 1, 16, 100, 112, 4000, 300000, 3 << 20 }, i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *p = malloc(sizes[i]);
		char *end = p + malloc_usable_size(p);

		ck_assert_int_eq(fault_of(write_byte, end - 1), 0);
		ck_assert_int_eq(fault_of(write_byte, end), MTE_SEGV_MTESERR);
		ck_assert_int_eq(fault_of(read_byte, end + 16), MTE_SEGV_MTESERR);
		free(p);
	}
}
END_TEST

START_TEST(underflow_faults_sync)
{
	char *p = malloc(64);

	ck_assert_int_eq(fault_of(read_byte, p), 0);
	ck_assert_int_eq(fault_of(read_byte, p - 1), MTE_SEGV_MTESERR);
	ck_assert_int_eq(fault_of(write_byte, p - 17), MTE_SEGV_MTESERR);
	free(p);
}
END_TEST

START_TEST(use_after_free_faults_sync)
{
	char *p = malloc(200);

	p[0] = 'a';
	free(p);
	ck_assert_int_eq(fault_of(read_byte, p), MTE_SEGV_MTESERR);
	ck_assert_int_eq(fault_of(write_byte, p + 150), MTE_SEGV_MTESERR);
}
END_TEST

START_TEST(calloc_memory_is_tagged)
{
	char *p = calloc(1, 4096);

	ck_assert_uint_ne(mte_ptr_tag(p), 0);
	ck_assert_uint_eq(mte_mem_tag(p + 4000), mte_ptr_tag(p));
	ck_assert_int_eq(fault_of(read_byte, p + malloc_usable_size(p)),
			 MTE_SEGV_MTESERR);
	free(p);
}
END_TEST

START_TEST(use_after_free_faults_async)
{
	char *p;

	ck_assert_int_eq(mtealloc_set_mode(MTEALLOC_MODE_ASYNC), 0);
	ck_assert_int_eq(mtealloc_get_mode(), MTEALLOC_MODE_ASYNC);
	p = malloc(200);
	free(p);
	ck_assert_int_eq(fault_of(write_byte, p), MTE_SEGV_MTEAERR);
}
END_TEST

/* Run fn in a child with stderr captured; return its wait status. */
static int child_report(void (*fn)(void), char *out, size_t size)
{
	int fds[2], status;
	ssize_t n, len = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 2);
		fn();
		_exit(0);
	}
	close(fds[1]);
	while ((n = read(fds[0], out + len, size - 1 - (size_t)len)) > 0)
		len += n;
	out[len] = '\0';
	close(fds[0]);
	waitpid(pid, &status, 0);
	return status;
}

static void do_double_free(void)
{
	sink = malloc(40);
	free(sink);
	free(sink);
}

static void do_interior_free(void)
{
	sink = malloc(400);
	free((char *)sink + 32);
}

/*
 * A copy of a real header, with the chunk's own tag, inside another chunk
 * of the same tag, before the pointer freed: the checksum is keyed by the
 * address, so the copy does not pass for a header there.
 */
static void do_forged_header_free(void)
{
	char *a = malloc(400), *b = malloc(400);

	/* the header is tag-0 memory: read it through a tag-0 pointer */
	memcpy(b + 16, (char *)mte_untag(a) - 16, 16);
	/* b's data and its memory get a's tag, so that the tags match */
	mte_tag_range(mte_with_tag(b, mte_ptr_tag(a)), malloc_usable_size(b));
	sink = a;
	free(mte_with_tag(b + 32, mte_ptr_tag(a)));
}

static void do_stack_free(void)
{
	char local[32];

	sink = local;
	free(sink);
}

static void do_stripped_free(void)
{
	sink = malloc(64);
	free(mte_untag(sink));
}

static void do_stale_free(void)
{
	char *p = malloc(40);

	sink = p;
	free(p);
	sink = malloc(40);	/* most likely the same memory, retagged */
	free(p);
}

#define EXPECT_REPORT(fn, cause, detail) do {				\
	char out[2048];							\
	int st = child_report(fn, out, sizeof(out));			\
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,	\
		      #fn ": status %#x, output: %s", st, out);		\
	ck_assert_msg(strstr(out, "ERROR: mtealloc: " cause " on address 0x"), \
		      #fn ": no '" cause "' line in: %s", out);		\
	ck_assert_msg(strstr(out, detail), #fn ": no '%s' in: %s",	\
		      detail, out);					\
} while (0)

START_TEST(free_rejects_bad_pointers)
{
	EXPECT_REPORT(do_double_free, "double-free", "already freed");
	EXPECT_REPORT(do_interior_free, "invalid-free", "inside a chunk");
	EXPECT_REPORT(do_forged_header_free, "invalid-free", "inside a chunk");
	EXPECT_REPORT(do_stack_free, "invalid-free", "not in mtealloc's heap");
	EXPECT_REPORT(do_stripped_free, "invalid-free", "tag was stripped");
	EXPECT_REPORT(do_stale_free, "double-free", "free(");
}
END_TEST

/*
 * Late enable: a heap populated with tagging off gets PROT_MTE in one go;
 * what it held survives, with tag 0, and new chunks are tagged.
 */
START_TEST(late_enable_keeps_old_data)
{
	enum { N = 64, SZ = 256 * 1024 };
	uint64_t calls0, calls1, bytes0, bytes1;
	unsigned char *old[N], *fresh;
	int i, j;

	ck_assert_int_eq(mtealloc_set_mode(MTEALLOC_MODE_OFF), 0);
	ck_assert_int_eq(mtealloc_tagging(), 0);
	for (i = 0; i < N; i++) {
		old[i] = malloc(SZ);
		ck_assert_uint_eq(mte_ptr_tag(old[i]), 0);
		for (j = 0; j < SZ; j += 512)
			old[i][j] = (unsigned char)(i + j / 512);
	}
	mtealloc_stat("mprotect_calls", &calls0);
	mtealloc_stat("mprotect_bytes", &bytes0);
	ck_assert_int_eq(mtealloc_set_mode(MTEALLOC_MODE_SYNC), 0);
	mtealloc_stat("mprotect_calls", &calls1);
	mtealloc_stat("mprotect_bytes", &bytes1);
	ck_assert_uint_gt(calls1, calls0);
	ck_assert_uint_ge(bytes1 - bytes0, (uint64_t)N * SZ / 2);
	for (i = 0; i < N; i++)
		for (j = 0; j < SZ; j += 512)
			ck_assert_uint_eq(old[i][j], (unsigned char)(i + j / 512));
	fresh = malloc(SZ);
	ck_assert_uint_ne(mte_ptr_tag(fresh), 0);
	ck_assert_int_eq(fault_of(write_byte, (char *)fresh - 1),
			 MTE_SEGV_MTESERR);
	old[0] = realloc(old[0], 2 * SZ);	/* an untagged chunk grows tagged */
	ck_assert_uint_ne(mte_ptr_tag(old[0]), 0);
	ck_assert_uint_eq(old[0][512], 1);
	for (i = 0; i < N; i++)
		free(old[i]);
	free(fresh);
}
END_TEST

/*
 * A freed small chunk stays in its thread's cache with the tag free()
 * gave it, and the next malloc() of its size class hands it out as it
 * is: the same memory, that tag, and the stale pointer still faults.
 * (40 and 33 bytes take the same class.)
 */
START_TEST(freed_chunk_is_reused_with_its_new_tag)
{
	char *p = malloc(40), *q;
	unsigned live = mte_ptr_tag(p), given;
	uint64_t r0, r1;
	int s0, s1;

	/* nothing between free() and malloc() may allocate: not even Check */
	free(p);
	given = mte_mem_tag(p);
	s0 = mtealloc_stat("cache_reuses", &r0);
	q = malloc(33);
	s1 = mtealloc_stat("cache_reuses", &r1);
	ck_assert_int_eq(s0 | s1, 0);
	ck_assert_uint_ne(given, live);
	ck_assert_ptr_eq(mte_untag(q), mte_untag(p));
	ck_assert_uint_eq(mte_ptr_tag(q), given);
	ck_assert_uint_eq(r1, r0 + 1);
	ck_assert_int_eq(fault_of(write_byte, q + malloc_usable_size(q) - 1), 0);
	ck_assert_int_eq(fault_of(read_byte, p), MTE_SEGV_MTESERR);
	ck_assert_int_eq(fault_of(write_byte, q + malloc_usable_size(q)),
			 MTE_SEGV_MTESERR);
	ck_assert_int_eq(fault_of(write_byte, q - 1), MTE_SEGV_MTESERR);
	free(q);
}
END_TEST

/* calloc() of a cached chunk zeroes what the last owner left there. */
START_TEST(calloc_from_the_cache_is_zeroed)
{
	unsigned char *p = malloc(200), *q;
	size_t i;

	memset(p, 0xa5, malloc_usable_size(p));
	free(p);
	q = calloc(1, 200);	/* nothing may allocate in between */
	ck_assert_ptr_eq(mte_untag(q), mte_untag(p));
	for (i = 0; i < 200; i++)
		ck_assert_uint_eq(q[i], 0);
	free(q);
}
END_TEST

/*
 * More frees of one class than the cache keeps (cache_slots=16 by
 * default): the rest go back to jemalloc, and all of it is allocated,
 * tagged and checked again.
 */
START_TEST(a_full_cache_hands_chunks_to_jemalloc)
{
	enum { N = 100 };
	char *p[N];
	int round, i;

	for (round = 0; round < 3; round++) {
		for (i = 0; i < N; i++) {
			p[i] = malloc(24);
			ck_assert_uint_eq(mte_mem_tag(p[i]), mte_ptr_tag(p[i]));
			ck_assert_uint_ne(mte_ptr_tag(p[i]), 0);
			memset(p[i], i, 24);
		}
		for (i = 0; i < N; i++)
			free(p[i]);
	}
	ck_assert_int_eq(fault_of(read_byte, p[0]), MTE_SEGV_MTESERR);
}
END_TEST

/*
 * A chunk cached before tagging is switched off is handed out valid
 * after it is switched on again; meanwhile allocations are untagged.
 */
START_TEST(cached_chunk_survives_a_mode_switch)
{
	char *p = malloc(100), *u, *q;
	unsigned given;
	int off, on;

	/* nothing here may allocate a chunk of p's class: not even Check */
	free(p);
	given = mte_mem_tag(p);
	off = mtealloc_set_mode(MTEALLOC_MODE_OFF);
	u = malloc(100);
	free(u);
	on = mtealloc_set_mode(MTEALLOC_MODE_SYNC);
	q = malloc(100);
	ck_assert_int_eq(off | on, 0);
	ck_assert_uint_eq(mte_ptr_tag(u), 0);
	ck_assert_ptr_eq(mte_untag(q), mte_untag(p));
	ck_assert_uint_eq(mte_ptr_tag(q), given);
	memset(q, 1, malloc_usable_size(q));
	ck_assert_int_eq(fault_of(read_byte, p), MTE_SEGV_MTESERR);
	free(q);
}
END_TEST

static void *free_eight(void *arg)
{
	char *p[8];
	int i;

	(void)arg;
	for (i = 0; i < 8; i++)
		p[i] = malloc(72);
	for (i = 0; i < 8; i++)
		free(p[i]);
	return NULL;
}

/* A thread that exits gives the chunks it cached back to jemalloc. */
START_TEST(thread_exit_empties_its_cache)
{
	uint64_t before, after;
	pthread_t t;

	ck_assert_int_eq(mtealloc_stat("cache_returned", &before), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, free_eight, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(mtealloc_stat("cache_returned", &after), 0);
	ck_assert_uint_ge(after - before, 8);
}
END_TEST

Suite *suite_heap_mte(void)
{
	Suite *s = suite_create("heap-mte");
	TCase *tc = tcase_create("mte");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, tags_nonzero_and_neighbours_differ);
	tcase_add_test(tc, free_retags);
	tcase_add_test(tc, whole_usable_size_tagged);
	tcase_add_test(tc, granule_after_a_chunk_is_tag_0);
	tcase_add_test(tc, overflow_into_a_freed_neighbour_faults);
	tcase_add_test(tc, realloc_growth_keeps_data_and_tags);
	tcase_add_test(tc, overflow_faults_sync);
	tcase_add_test(tc, underflow_faults_sync);
	tcase_add_test(tc, use_after_free_faults_sync);
	tcase_add_test(tc, calloc_memory_is_tagged);
	tcase_add_test(tc, use_after_free_faults_async);
	tcase_add_test(tc, free_rejects_bad_pointers);
	tcase_add_test(tc, late_enable_keeps_old_data);
	tcase_add_test(tc, freed_chunk_is_reused_with_its_new_tag);
	tcase_add_test(tc, calloc_from_the_cache_is_zeroed);
	tcase_add_test(tc, a_full_cache_hands_chunks_to_jemalloc);
	tcase_add_test(tc, cached_chunk_survives_a_mode_switch);
	tcase_add_test(tc, thread_exit_empties_its_cache);
	suite_add_tcase(s, tc);
	return s;
}
