/*
 * check_faults.c - the fault-aware runtime, end to end in one process
 * tree: each test forks a child that commits one bug in functions of its
 * own (victim_alloc, victim_free, victim_use...), with stderr captured,
 * and asserts what the report says and how the child ended.
 *
 * The allocator is linked in statically (api.c plus its internals), so a
 * child can set an option (mte_g.opt) before its bug, as MTEALLOC_OPTIONS
 * would at start-up.  MTE cases need a tagging machine (qemu-aarch64
 * here); the others run everywhere.
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "chunk.h"
#include "runner.h"

#define NOINLINE __attribute__((noinline))

static void *volatile sink;
static volatile char vc;
static volatile char *volatile near_null = (volatile char *)16;

/* ---- the program under test: each step in a function of its own ---- */

NOINLINE static char *victim_alloc(size_t n)
{
	char *p = malloc(n);

	sink = p;
	return p;
}

NOINLINE static void victim_free(char *p)
{
	free(p);
	sink = p;
}

/* A system call: an asynchronous fault is delivered by the time it returns. */
NOINLINE static void settle(void)
{
	getpid();
	__asm__ volatile("" ::: "memory");
}

NOINLINE static void victim_use(volatile char *p)
{
	vc = *p;
	settle();
	__asm__ volatile("" ::: "memory");	/* keep this frame */
}

NOINLINE static void victim_write(volatile char *p)
{
	*p = 1;
	settle();
	__asm__ volatile("" ::: "memory");
}

NOINLINE static void victim_bad_free(char *p)
{
	free(p);
	__asm__ volatile("" ::: "memory");	/* not a tail call */
}

/* ---- running a child ---- */

struct child {
	int status;
	char out[64 << 10];
};

static struct child kid;

/* Fork; the child runs fn(arg) with stderr into a pipe, then exits 0. */
static void run_child(void (*fn)(void *), void *arg)
{
	int fds[2];
	ssize_t n, len = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		close(fds[0]);
		dup2(fds[1], 2);
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	while ((n = read(fds[0], kid.out + len, sizeof(kid.out) - 1 -
			 (size_t)len)) > 0)
		len += n;
	kid.out[len] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &kid.status, 0), pid);
}

#define HAS(s) ck_assert_msg(strstr(kid.out, s), "no \"%s\" in:\n%s", s, kid.out)
#define HASNT(s) ck_assert_msg(!strstr(kid.out, s), "\"%s\" in:\n%s", s, kid.out)
#define DIED_OF(sig) ck_assert_msg(WIFSIGNALED(kid.status) && \
	WTERMSIG(kid.status) == (sig), "status %#x, want signal %d; output:\n%s", \
	kid.status, sig, kid.out)
#define EXITED_OK() ck_assert_msg(WIFEXITED(kid.status) && \
	WEXITSTATUS(kid.status) == 0, "status %#x; output:\n%s", kid.status, kid.out)

static int count(const char *needle)
{
	const char *p = kid.out;
	int n = 0;

	while ((p = strstr(p, needle))) {
		n++;
		p += strlen(needle);
	}
	return n;
}

/* Text between the line starting with title and the next unindented line. */
static const char *section(const char *title, char *buf, size_t size)
{
	const char *s = strstr(kid.out, title), *e;

	if (!s)
		return "";
	e = strchr(s, '\n');
	while (e && e[1] == ' ')
		e = strchr(e + 1, '\n');
	if (!e)
		e = s + strlen(s);
	snprintf(buf, size, "%.*s", (int)(e - s), s);
	return buf;
}

#define SECTION_HAS(title, s) do {					\
	char b_[4096];							\
	ck_assert_msg(strstr(section(title, b_, sizeof(b_)), s),	\
		      "no \"%s\" under \"%s\" in:\n%s", s, title, kid.out); \
} while (0)

static void set_mode(void *mode)
{
	ck_assert_int_eq(mtealloc_set_mode((enum mtealloc_mode)(uintptr_t)mode), 0);
}

/* ---- the bugs ---- */

static void do_uaf(void *mode)
{
	char *p;

	set_mode(mode);
	p = victim_alloc(64);
	victim_free(p);
	victim_use(p + 8);
}

static void do_overflow(void *mode)
{
	char *p;

	set_mode(mode);
	p = victim_alloc(112);	/* header + 112 fills a 128-byte class */
	victim_write(p + malloc_usable_size(p));
}

static void do_far_overflow(void *mode)
{
	char *p;

	set_mode(mode);
	p = victim_alloc(48);
	victim_use(p + malloc_usable_size(p) + 20);	/* into the neighbour */
}

static void do_underflow(void *mode)
{
	char *p;

	set_mode(mode);
	p = victim_alloc(64);
	victim_use(p - 1);
}

/*
 * p is freed and its memory handed out again; the live chunk just right of
 * it is made to carry p's old tag.  The access through p is still a
 * use-after-free of the memory it lies in, not an underflow of the decoy.
 * 1000 bytes is a size class nothing else here uses, so the chunks are
 * neighbours in a fresh slab.
 */
static void do_uaf_reused(void *mode)
{
	char *p, *q, *decoy;

	set_mode(mode);
	p = victim_alloc(1000);
	decoy = victim_alloc(1000);
	victim_free(p);
	q = victim_alloc(1000);
	if (mte_untag(q) != mte_untag(p))
		_exit(5);		/* the thread cache did not reuse it */
	if ((char *)mte_untag(decoy) !=
	    (char *)mte_untag(q) + malloc_usable_size(q) + MTE_GRANULE)
		_exit(6);		/* not neighbours */
	mte_tag_range(mte_with_tag(decoy, mte_ptr_tag(p)),
		      malloc_usable_size(decoy));
	victim_use(p);
}

/*
 * The other way round: a chunk c was freed with tag T and its memory
 * handed out again; its left neighbour l is made to carry T, and l
 * overflows 4 bytes into c's body (52 past the 2000 bytes asked for).  History knows c's memory with tag T, but
 * the chunk next door with the tag, within its own length, is the
 * likelier story: an overflow.  2000 bytes: a size class of its own.
 */
static void do_overflow_over_history(void *mode)
{
	char *l, *c, *c2, *lt;
	size_t u;

	set_mode(mode);
	l = victim_alloc(2000);
	c = victim_alloc(2000);
	u = malloc_usable_size(l);
	if ((char *)mte_untag(c) != (char *)mte_untag(l) + u + MTE_GRANULE)
		_exit(6);		/* not neighbours */
	victim_free(c);
	c2 = victim_alloc(2000);
	if (mte_untag(c2) != mte_untag(c))
		_exit(5);
	lt = mte_with_tag(l, mte_ptr_tag(c));
	mte_tag_range(lt, u);
	victim_use(lt + u + MTE_GRANULE + 4);
}

static void do_double_free(void *mode)
{
	char *p;

	set_mode(mode);
	p = victim_alloc(40);
	victim_free(p);
	victim_bad_free(p);
}

static void do_invalid_free(void *mode)
{
	char *p;

	set_mode(mode);
	p = victim_alloc(400);
	victim_bad_free(p + 32);
}

static void do_clean(void *mode)
{
	char *p, *q;
	int i;

	set_mode(mode);
	for (i = 0; i < 200; i++) {
		p = victim_alloc((size_t)i * 7 + 1);
		memset(p, i, (size_t)i * 7 + 1);
		q = realloc(p, (size_t)i * 11 + 1);
		victim_use(q);
		victim_free(q);
	}
}

static void *sync_mode = (void *)(uintptr_t)MTEALLOC_MODE_SYNC;
static void *async_mode = (void *)(uintptr_t)MTEALLOC_MODE_ASYNC;

/* ---- sync mode: precise causes ---- */

START_TEST(uaf_sync)
{
	run_child(do_uaf, sync_mode);
	DIED_OF(SIGSEGV);
	HAS("ERROR: mtealloc: use-after-free on address 0x");
	HAS("READ of size 1 at 0x");
	HAS("is 8 bytes inside a 64-byte region [0x");
	SECTION_HAS("freed by thread T", "victim_free");
	SECTION_HAS("previously allocated by thread T", "victim_alloc");
	SECTION_HAS("faulting thread T", "victim_use");
	HAS("memory tags around the fault address");
	HAS("mode: sync");
	ck_assert_int_eq(count("ERROR: mtealloc"), 1);
}
END_TEST

START_TEST(overflow_sync)
{
	run_child(do_overflow, sync_mode);
	DIED_OF(SIGSEGV);
	HAS("ERROR: mtealloc: heap-buffer-overflow on address 0x");
	HAS("WRITE of size 1 at 0x");
	HAS("is 0 bytes to the right of a 112-byte region [0x");
	SECTION_HAS("allocated by thread T", "victim_alloc");
	SECTION_HAS("faulting thread T", "victim_write");
}
END_TEST

START_TEST(far_overflow_sync)
{
	run_child(do_far_overflow, sync_mode);
	DIED_OF(SIGSEGV);
	HAS("ERROR: mtealloc: heap-buffer-overflow on address 0x");
	HAS("bytes to the right of a 48-byte region");
	SECTION_HAS("allocated by thread T", "victim_alloc");
}
END_TEST

START_TEST(underflow_sync)
{
	run_child(do_underflow, sync_mode);
	DIED_OF(SIGSEGV);
	HAS("ERROR: mtealloc: heap-buffer-underflow on address 0x");
	HAS("is 1 bytes to the left of a 64-byte region [0x");
	SECTION_HAS("allocated by thread T", "victim_alloc");
	SECTION_HAS("faulting thread T", "victim_use");
}
END_TEST

/* ---- async mode: no address, so say so and show the stack ---- */

static void expect_async_report(void)
{
	DIED_OF(SIGSEGV);
	HAS("ERROR: mtealloc: tag-mismatch on address 0x0 at pc 0x");
	HAS("at an unknown address: mode=async");
	HAS("MTEALLOC_OPTIONS=mode=sync");
	SECTION_HAS("faulting thread T", "victim_");
	HAS("mode: async");
	ck_assert_int_eq(count("ERROR: mtealloc"), 1);
}

START_TEST(uaf_of_reused_memory_beats_a_neighbour)
{
	run_child(do_uaf_reused, sync_mode);
	DIED_OF(SIGSEGV);
	HAS("ERROR: mtealloc: use-after-free on address 0x");
	HAS("is 0 bytes inside a 1000-byte region [0x");
	SECTION_HAS("freed by thread T", "victim_free");
}
END_TEST

START_TEST(adjacent_overflow_beats_history)
{
	run_child(do_overflow_over_history, sync_mode);
	DIED_OF(SIGSEGV);
	HAS("ERROR: mtealloc: heap-buffer-overflow on address 0x");
	HAS("is 52 bytes to the right of a 2000-byte region [0x");	/* 2032 usable */
}
END_TEST

START_TEST(uaf_async)
{
	run_child(do_uaf, async_mode);
	expect_async_report();
}
END_TEST

START_TEST(overflow_async)
{
	run_child(do_overflow, async_mode);
	expect_async_report();
}
END_TEST

START_TEST(underflow_async)
{
	run_child(do_underflow, async_mode);
	expect_async_report();
}
END_TEST

/* ---- bad frees: found in free() itself, in either mode ---- */

START_TEST(double_free_both_modes)
{
	void *modes[] = { sync_mode, async_mode };
	int i;

	for (i = 0; i < 2; i++) {
		run_child(do_double_free, modes[i]);
		DIED_OF(SIGABRT);
		HAS("ERROR: mtealloc: double-free on address 0x");
		HAS("free(0x");
		HAS("the chunk was already freed");
		HAS("is 0 bytes inside a 40-byte region");
		SECTION_HAS("freed by thread T", "victim_free");
		SECTION_HAS("previously allocated by thread T", "victim_alloc");
		SECTION_HAS("called from thread T", "victim_bad_free");
	}
}
END_TEST

START_TEST(invalid_free_both_modes)
{
	void *modes[] = { sync_mode, async_mode };
	int i;

	for (i = 0; i < 2; i++) {
		run_child(do_invalid_free, modes[i]);
		DIED_OF(SIGABRT);
		HAS("ERROR: mtealloc: invalid-free on address 0x");
		HAS("inside a chunk, not at its start");
		HAS("is 32 bytes inside a 400-byte region");
		SECTION_HAS("allocated by thread T", "victim_alloc");
		SECTION_HAS("called from thread T", "victim_bad_free");
	}
}
END_TEST

/* A pointer that was never heap memory: caught on every machine. */
static void do_free_stack(void *arg)
{
	char local[64];

	sink = local;
	victim_bad_free(sink);
	(void)arg;
}

START_TEST(invalid_free_of_stack_memory)
{
	run_child(do_free_stack, NULL);
	DIED_OF(SIGABRT);
	HAS("ERROR: mtealloc: invalid-free on address 0x");
	HAS("not in mtealloc's heap");
	SECTION_HAS("called from thread T", "victim_bad_free");
}
END_TEST

/* The same, handed to realloc(), which has a pass-through path too. */
static void do_realloc_stack(void *arg)
{
	char local[64];

	free(malloc(16));	/* arm this thread's pass-through path */
	sink = local;
	sink = realloc(sink, 100);
	(void)arg;
}

START_TEST(invalid_realloc_of_stack_memory)
{
	run_child(do_realloc_stack, NULL);
	DIED_OF(SIGABRT);
	HAS("ERROR: mtealloc: invalid-free on address 0x");
	HAS("realloc(0x");
	HAS("not in mtealloc's heap");
}
END_TEST

/* A tagged pointer, in a process that never handed out a tag (no MTE). */
static void do_free_tagged_without_mte(void *arg)
{
	char *p = malloc(32);

	sink = p;
	victim_bad_free(mte_with_tag(p, 5));
	(void)arg;
}

START_TEST(tagged_pointer_freed_without_mte)
{
	run_child(do_free_tagged_without_mte, NULL);
	DIED_OF(SIGABRT);
	HAS("ERROR: mtealloc: invalid-free on address 0x5");
	HAS("the pointer carries a tag, but this process does not use MTE");
}
END_TEST

/* ---- resizing keeps the header true (the realloc double hand-out) ---- */

/*
 * free() finds a chunk's jemalloc class from the size in its header; a
 * realloc() in place that left a size of a smaller class there gave the
 * chunk back to the wrong bin, and jemalloc handed its memory out twice.
 * Each resize must leave a size whose class is the chunk's real one.
 */
static void do_resizes(void *arg)
{
	static const size_t from[] = { 24, 64, 100, 400, 1000, 5000, 14000,
				       70000, 300000, 1 << 20, 3 << 20 };
	static const size_t to[] = { 1, 17, 40, 64, 216, 300, 433, 2000,
				     9000, 40000, 200000, 700000, 2 << 20 };
	unsigned i, j, bad = 0, in_place = 0;

	set_mode(sync_mode);
	fprintf(stderr, "resizing\n");
	for (i = 0; i < sizeof(from) / sizeof(from[0]); i++)
		for (j = 0; j < sizeof(to) / sizeof(to[0]); j++) {
			char *p = malloc(from[i]), *q, *user;
			struct mte_region r;

			memset(p, 7, from[i]);
			q = realloc(p, to[j]);
			user = mte_untag(q);
			in_place += mte_untag(p) == user;
			if (!mte_chunk_at((uintptr_t)user - MTE_GRANULE, &r) ||
			    r.usable + MTE_GRANULE !=
			    mte_je_usable(user - MTE_GRANULE) ||
			    r.usable < to[j] ||
			    mte_mem_tag(user + r.usable) != 0) {
				fprintf(stderr, "%zu -> %zu: header says %zu, "
					"jemalloc %zu\n", from[i], to[j],
					r.usable + MTE_GRANULE,
					mte_je_usable(user - MTE_GRANULE));
				bad++;
			}
			memset(q, 9, to[j]);
			free(q);
		}
	fprintf(stderr, "%u bad, %u in place\n", bad, in_place);
	(void)arg;
}

START_TEST(realloc_leaves_the_real_class_in_the_header)
{
	run_child(do_resizes, NULL);
	EXITED_OK();
	HAS("\n0 bad, ");
	HASNT("ERROR: mtealloc");
	/* same class, and large trims and growths, stay where they are */
	ck_assert_msg(!strstr(kid.out, " 0 in place"), "%s", kid.out);
}
END_TEST

/*
 * An untagged chunk whose first bytes pass for a chunk header (the
 * program's data can, once in 32768 words) is freed as it is, not
 * reported: a real header is followed by tagged memory.
 */
static void do_free_header_lookalike(void *arg)
{
	size_t sizes[] = { 16, 48 }, i;

	ck_assert_int_eq(mtealloc_set_mode(MTEALLOC_MODE_OFF), 0);
	for (i = 0; i < 2; i++) {
		char *p = malloc(sizes[i]);
		uint64_t w;

		ck_assert_uint_eq(mte_ptr_tag(p), 0);
		w = chunk_word((uintptr_t)p + MTE_GRANULE, 8, CHUNK_ALLOCATED,
			       0, mte_g.secret);
		memcpy(p, &w, sizeof(w));
		ck_assert_uint_ne(malloc_usable_size(p), 0);
		free(p);
	}
	fprintf(stderr, "freed\n");
	(void)arg;
}

START_TEST(untagged_chunk_like_a_header_is_not_reported)
{
	run_child(do_free_header_lookalike, NULL);
	EXITED_OK();
	HAS("freed\n");
	HASNT("ERROR: mtealloc");
}
END_TEST

/* ---- negative control ---- */

START_TEST(clean_program_is_silent)
{
	run_child(do_clean, sync_mode);
	EXITED_OK();
	ck_assert_msg(kid.out[0] == '\0', "output from a clean run:\n%s", kid.out);
	run_child(do_clean, async_mode);
	EXITED_OK();
	ck_assert_msg(kid.out[0] == '\0', "output from a clean run:\n%s", kid.out);
}
END_TEST

/* ---- recover=1 ---- */

static void *second_thread_uaf(void *arg)
{
	do_uaf(sync_mode);
	return arg;
}

static void do_recover(void *arg)
{
	pthread_t t;
	char *p;

	mte_g.opt.recover = true;
	set_mode(sync_mode);
	p = victim_alloc(32);
	victim_free(p);
	victim_use(p);		/* reported; the thread goes on unchecked */
	victim_use(p + 16);	/* not checked any more on this thread */
	fprintf(stderr, "continued\n");
	/* another thread still checks */
	pthread_create(&t, NULL, second_thread_uaf, NULL);
	pthread_join(t, NULL);
	fprintf(stderr, "done\n");
	(void)arg;
}

START_TEST(recover_continues)
{
	run_child(do_recover, NULL);
	EXITED_OK();
	HAS("continued\n");
	HAS("done\n");
	ck_assert_int_eq(count("ERROR: mtealloc: use-after-free"), 2);
}
END_TEST

static void do_recover_double_free(void *arg)
{
	char *p;

	mte_g.opt.recover = true;
	p = victim_alloc(24);
	victim_free(p);
	victim_bad_free(p);
	fprintf(stderr, "still here\n");
	(void)arg;
}

START_TEST(recover_bad_free_continues)
{
	run_child(do_recover_double_free, NULL);
	EXITED_OK();
	HAS("ERROR: mtealloc: double-free");
	HAS("still here");
}
END_TEST

/* ---- replayed faults: a handler that returns without fixing anything ---- */

static volatile int handler_calls;

static void returning_handler(int sig)
{
	char line[32];

	handler_calls++;
	if (write(2, line, (size_t)snprintf(line, sizeof(line), "handler %d\n",
					    handler_calls)) < 0)
		_exit(3);
	(void)sig;
}

static void do_replay(void *arg)
{
	char *p;

	signal(SIGSEGV, returning_handler);
	p = victim_alloc(64);
	victim_free(p);
	victim_use(p);
	(void)arg;
}

START_TEST(replayed_fault_reported_once)
{
	run_child(do_replay, NULL);
	DIED_OF(SIGSEGV);
	ck_assert_int_eq(count("ERROR: mtealloc"), 1);
	HAS("handler 1\n");	/* the program's handler was chained */
	HAS("the same tag-check fault came back 8 times");
}
END_TEST

/* ---- foreign faults go to the program's handler ---- */

static sigjmp_buf jmp;
static volatile int foreign_code;

static void jumping_handler(int sig, siginfo_t *si, void *uc)
{
	foreign_code = si->si_code;
	siglongjmp(jmp, 1);
	(void)sig;
	(void)uc;
}

static void do_foreign(void *arg)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = jumping_handler;
	sa.sa_flags = SA_SIGINFO;
	ck_assert_int_eq(sigaction(SIGSEGV, &sa, &old), 0);
	if (!sigsetjmp(jmp, 1))
		vc = *near_null;	/* a null dereference */
	fprintf(stderr, "program handler got code %d\n", foreign_code);
	/* and sigaction() reports back what the program installed */
	ck_assert_int_eq(sigaction(SIGSEGV, NULL, &old), 0);
	ck_assert_ptr_eq(old.sa_sigaction, jumping_handler);
	(void)arg;
}

START_TEST(foreign_fault_reaches_program_handler)
{
	run_child(do_foreign, NULL);
	EXITED_OK();
	HAS("program handler got code 1\n");	/* SEGV_MAPERR */
	HASNT("ERROR: mtealloc");
}
END_TEST

static void do_foreign_default(void *arg)
{
	vc = *near_null;
	(void)arg;
}

START_TEST(foreign_fault_without_handler_dies_as_usual)
{
	run_child(do_foreign_default, NULL);
	DIED_OF(SIGSEGV);
	HASNT("ERROR: mtealloc");
}
END_TEST

/* ---- many threads at once: one whole report each ---- */

static void *uaf_thread(void *arg)
{
	char *p = victim_alloc(64);

	victim_free(p);
	victim_use(p);
	return arg;
}

static void do_threads(void *arg)
{
	pthread_t t[8];
	int i;

	mte_g.opt.recover = true;
	for (i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, uaf_thread, NULL);
	for (i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	(void)arg;
}

START_TEST(threads_fault_at_once)
{
	const char *p;

	run_child(do_threads, NULL);
	EXITED_OK();
	ck_assert_int_eq(count("ERROR: mtealloc: use-after-free"), 8);
	ck_assert_int_eq(count("mode: sync;"), 8);
	/* never interleaved: every report's second line is its access line */
	for (p = kid.out; (p = strstr(p, "ERROR: mtealloc")); p++)
		ck_assert(!strncmp(strchr(p, '\n') + 1, "READ of size 1", 14));
}
END_TEST

/* ---- after fork ---- */

static void do_fork_then_uaf(void *arg)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		do_uaf(sync_mode);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	fprintf(stderr, "grandchild signal %d\n",
		WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	(void)arg;
}

START_TEST(fault_after_fork)
{
	run_child(do_fork_then_uaf, NULL);
	EXITED_OK();
	HAS("ERROR: mtealloc: use-after-free");
	SECTION_HAS("faulting thread T", "victim_use");
	HAS("grandchild signal 11\n");
}
END_TEST

/* ---- near stack exhaustion: the alternate stack ---- */

static char *stack_lo;

NOINLINE static void dig(char *p)
{
	volatile char pad[1024];

	pad[0] = 1;
	if ((char *)pad - stack_lo > 6 * 1024)
		dig(p);
	else
		victim_use(p);
	vc = pad[0];
}

static void *deep_thread(void *arg)
{
	pthread_attr_t a;
	size_t size;
	void *lo;
	char *p = victim_alloc(64);

	pthread_getattr_np(pthread_self(), &a);
	pthread_attr_getstack(&a, &lo, &size);
	stack_lo = lo;
	victim_free(p);
	dig(p);
	return arg;
}

static void do_deep(void *arg)
{
	pthread_attr_t a;
	pthread_t t;

	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 128 * 1024);
	pthread_create(&t, &a, deep_thread, NULL);
	pthread_join(t, NULL);
	(void)arg;
}

START_TEST(fault_near_stack_exhaustion_reports)
{
	run_child(do_deep, NULL);
	DIED_OF(SIGSEGV);
	HAS("ERROR: mtealloc: use-after-free");
	SECTION_HAS("faulting thread T", "dig");
	HAS("mode: sync");
}
END_TEST

/* ---- recorded stacks: one call site, reached from two callers ---- */

NOINLINE static char *alloc_site(void)
{
	char *p = malloc(40);

	sink = p;
	return p;
}

NOINLINE static char *via_first(void)
{
	char *p = alloc_site();

	__asm__ volatile("" ::: "memory");
	return p;
}

NOINLINE static char *via_second(void)
{
	char *p = alloc_site();

	vc = 2;		/* unlike via_first(), so that the two are not merged */
	return p;
}

/*
 * A thread remembers its last stack per call site; a stack that differs
 * only above the site must still get a record of its own, and the first
 * stack its old one back.
 */
START_TEST(one_call_site_two_callers_two_stacks)
{
	char *(*const via[3])(void) = { via_first, via_second, via_first };
	char *p[3];
	uint32_t ia1, ib, ia2;
	const struct mte_depot_rec *ra, *rb;
	int i;

	for (i = 0; i < 3; i++)		/* one call site here too */
		p[i] = via[i]();
	ia1 = mte_chunk_alloc_ctx(p[0]);
	ib = mte_chunk_alloc_ctx(p[1]);
	ia2 = mte_chunk_alloc_ctx(p[2]);
	ra = mte_depot_get(ia1);
	rb = mte_depot_get(ib);

	ck_assert_ptr_nonnull(ra);
	ck_assert_ptr_nonnull(rb);
	ck_assert_uint_ne(ia1, ib);
	ck_assert_uint_eq(ia1, ia2);
	ck_assert_uint_eq(ra->pcs[0], rb->pcs[0]);	/* in alloc_site() */
	ck_assert_uint_ne(ra->pcs[1], rb->pcs[1]);	/* its two callers */
	for (i = 0; i < 3; i++)
		free(p[i]);
}
END_TEST

/*
 * The stacks walked in full by a loop that alternates between two paths
 * to one malloc(), after its second turn, run depth frames further down
 * the stack.
 */
static __attribute__((noinline)) uint64_t walks_after_two_turns(int depth)
{
	static volatile int runs = 20;	/* not unrolled: one call site */
	uint64_t walked[20], more;
	int i, rc = 0;

	if (depth > 0) {
		more = walks_after_two_turns(depth - 1);
		__asm__ volatile("" ::: "memory");	/* no tail call */
		return more;
	}
	/*
	 * The same body every time round (a test of i in it could make
	 * the compiler peel a turn, with call sites of its own), and no
	 * assertion inside: Check's allocate even when they pass.
	 */
	for (i = 0; i < runs; i++) {
		free(i & 1 ? via_second() : via_first());
		rc |= mtealloc_stat("stacks_walked", &walked[i]);
	}
	return rc ? UINT64_MAX : walked[runs - 1] - walked[1];
}

/*
 * A thread remembers its stacks by call site and path, so a loop that
 * alternates between two paths to one malloc() walks each in full once
 * (the stacks_walked counter) and then finds both remembered.  Keyed by
 * the call site alone, they took turns in one slot: 18 walks here.  The
 * slot is a hash of return addresses and depth, so for one address
 * layout (ASLR) the two paths share a slot once in 64: the loop runs at
 * up to four depths, and one must walk nothing after its second turn
 * (all four colliding: once in 64^4).
 */
START_TEST(alternating_paths_are_walked_once)
{
	uint64_t extra[4];
	int d, clean = 0;

	for (d = 0; d < 4; d++)
		clean |= (extra[d] = walks_after_two_turns(d)) == 0;
	ck_assert_msg(clean, "every depth walked again after two turns: "
		      "%llu %llu %llu %llu", (unsigned long long)extra[0],
		      (unsigned long long)extra[1], (unsigned long long)extra[2],
		      (unsigned long long)extra[3]);
}
END_TEST

/*
 * While the mode changes (and at a process's first allocation), the API
 * calls its work function directly, not through the unchecked entry, and
 * the recorder finds the caller by walking from its own frame: the stack
 * must be the one the usual path records, so the depot gives it the same
 * id.
 */
START_TEST(stack_recorded_off_the_fast_dispatch)
{
	static volatile int runs = 2;	/* not unrolled: one call site */
	char *p[2];
	int i;

	for (i = 0; i < runs; i++) {
		/* the second time, as mtealloc_set_mode() does for a moment */
		atomic_store(&mte_g.fast_gen, i ? MTE_FAST_OFF : MTE_FAST_TAGGED);
		p[i] = via_first();
	}
	atomic_store(&mte_g.fast_gen, MTE_FAST_TAGGED);
	ck_assert_uint_ne(mte_chunk_alloc_ctx(p[0]), 0);
	ck_assert_uint_eq(mte_chunk_alloc_ctx(p[1]), mte_chunk_alloc_ctx(p[0]));
	free(p[0]);
	free(p[1]);
}
END_TEST

/* ---- a fault inside the handler: one line, and the process ends ---- */

static void do_fault_in_report(void *arg)
{
	char *p = victim_alloc(64);
	const struct mte_depot_rec *d;
	uintptr_t page;

	victim_free(p);
	/* make the report fault while it prints the allocation stack */
	/*
	 * From the free on, nothing may allocate: a new chunk could be p's,
	 * and recording its stack reads the depot.  Check's assertions
	 * allocate even when they pass, so failures here are exit codes.
	 */
	d = mte_depot_get(mte_chunk_alloc_ctx(p));
	if (!d)
		_exit(4);
	page = (uintptr_t)d & ~(uintptr_t)4095;
	if (mprotect((void *)page, 4096, PROT_NONE))
		_exit(3);
	victim_use(p);
	(void)arg;
}

START_TEST(fault_inside_the_handler_ends_the_process)
{
	run_child(do_fault_in_report, NULL);
	DIED_OF(SIGSEGV);
	/* a report is written whole, once rendered: here only the one line */
	HAS("mtealloc: SIGSEGV (code 2, address 0x");
	HAS("inside the fault handler; ending the process\n");
	ck_assert_int_eq(count("inside the fault handler"), 1);	/* no recursion */
}
END_TEST

/* ---- JSON: the same fields, one object per line ---- */

static void do_uaf_json(void *arg)
{
	mte_g.opt.report_format = MTE_REPORT_JSON;
	do_uaf(sync_mode);
	(void)arg;
}

START_TEST(json_report_has_the_fields)
{
	const char *nl;

	run_child(do_uaf_json, NULL);
	DIED_OF(SIGSEGV);
	ck_assert_int_eq(kid.out[0], '{');
	HAS("\"cause\":\"use-after-free\"");
	HAS("\"access\":\"read\"");
	HAS("\"relation\":\"inside\",\"distance\":8");
	HAS("\"function\":\"victim_alloc\"");
	HAS("\"function\":\"victim_free\"");
	HAS("\"function\":\"victim_use\"");
	HAS("\"mode\":\"sync\"");
	/* one object, on one line (qemu-user may add its own line after) */
	nl = strchr(kid.out, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_int_eq(nl[-1], '}');
	ck_assert_int_eq(count("\"error\":\"mtealloc\""), 1);
	ck_assert_int_eq(count("ERROR: mtealloc"), 0);
}
END_TEST

#if defined(__aarch64__)
/* the unchecked entries that start the hot pages, and where they end (api.c) */
extern char mte_unchecked_malloc[], mte_hot_malloc_end[];
extern char mte_unchecked_free[], mte_hot_free_end[];

/*
 * malloc()'s and free()'s hot code each fit one 4 KiB page (internal.h,
 * MTE_HOT_PAGE()): a change that grows past it fails here, not only, and
 * unseen, in the benchmark.
 */
START_TEST(hot_paths_each_fit_one_page)
{
	ck_assert_uint_eq((uintptr_t)mte_unchecked_malloc % 4096, 0);
	ck_assert_uint_eq((uintptr_t)mte_unchecked_free % 4096, 0);
	ck_assert_uint_le(mte_hot_malloc_end - mte_unchecked_malloc, 4096);
	ck_assert_uint_le(mte_hot_free_end - mte_unchecked_free, 4096);
	ck_assert_uint_gt(mte_hot_malloc_end - mte_unchecked_malloc, 64);
	ck_assert_uint_gt(mte_hot_free_end - mte_unchecked_free, 64);
}
END_TEST
#endif

int main(void)
{
	Suite *s = suite_create("faults");
	TCase *mte = tcase_create("mte"), *any = tcase_create("any");

	tcase_set_timeout(mte, 120);
	tcase_set_timeout(any, 120);
	tcase_add_test(any, invalid_free_of_stack_memory);
	tcase_add_test(any, invalid_realloc_of_stack_memory);
	tcase_add_test(any, foreign_fault_reaches_program_handler);
	tcase_add_test(any, foreign_fault_without_handler_dies_as_usual);
#if defined(__aarch64__)
	tcase_add_test(any, hot_paths_each_fit_one_page);
#endif
	if (!mtealloc_tagging() && !mte_g.hw_mte)	/* after init */
		tcase_add_test(any, tagged_pointer_freed_without_mte);
	tcase_add_test(mte, double_free_both_modes);
	tcase_add_test(mte, invalid_free_both_modes);
	tcase_add_test(mte, recover_bad_free_continues);
	tcase_add_test(mte, uaf_sync);
	tcase_add_test(mte, uaf_of_reused_memory_beats_a_neighbour);
	tcase_add_test(mte, adjacent_overflow_beats_history);
	tcase_add_test(mte, overflow_sync);
	tcase_add_test(mte, far_overflow_sync);
	tcase_add_test(mte, underflow_sync);
	tcase_add_test(mte, uaf_async);
	tcase_add_test(mte, overflow_async);
	tcase_add_test(mte, underflow_async);
	tcase_add_test(mte, clean_program_is_silent);
	tcase_add_test(mte, realloc_leaves_the_real_class_in_the_header);
	tcase_add_test(mte, untagged_chunk_like_a_header_is_not_reported);
	tcase_add_test(mte, recover_continues);
	tcase_add_test(mte, replayed_fault_reported_once);
	tcase_add_test(mte, threads_fault_at_once);
	tcase_add_test(mte, fault_after_fork);
	tcase_add_test(mte, fault_near_stack_exhaustion_reports);
	tcase_add_test(mte, stack_recorded_off_the_fast_dispatch);
	tcase_add_test(mte, json_report_has_the_fields);
	tcase_add_test(mte, fault_inside_the_handler_ends_the_process);
	tcase_add_test(mte, one_call_site_two_callers_two_stacks);
	tcase_add_test(mte, alternating_paths_are_walked_once);
	if (mtealloc_tagging())
		suite_add_tcase(s, mte);
	else if (getenv("MTEALLOC_EXPECT_TAGGING")) {
		fprintf(stderr, "check_faults: tagging expected but off: %s\n",
			mtealloc_why_untagged());
		return EXIT_FAILURE;
	}
	suite_add_tcase(s, any);
	return run_suites(srunner_create(s));
}
