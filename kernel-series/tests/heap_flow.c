/*
 * heap_flow.c - libmtealloc's tagged heap on the emulated MTE machine's
 * kernel, stock or patched: the heap's side of the series.  Run by
 * tests/guest_heap.sh, linked with -lmtealloc and started untagged
 * (MTEALLOC_OPTIONS=mode=off).
 *
 *   heap_flow populated [MiB]  fill a heap with tagging off, switch it on
 *                              with mtealloc_set_mode(), then use every
 *                              chunk once: what the switch and the first
 *                              tagged use cost, and the series' counters
 *                              over each (default 32 MiB)
 *   heap_flow inject [MiB]     threads churn a tagged heap, checking every
 *                              byte and every granule's tag, while the
 *                              series' debugfs knobs make reservations
 *                              fail and blocks act pinned, and compaction
 *                              moves tagged pages: nothing is lost, tag
 *                              checks still fire on a moved chunk, and the
 *                              counters agree with what was injected
 *                              (default 8 MiB)
 *
 * Prints PASS/FAIL lines, a "flow:" line of numbers for make bench, and
 * "heap_flow: N passed, N failed".  Exit 0; 1 on a failure; 2 on bad
 * usage; 77 where the machine cannot tag.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "memtag.h"
#include "mtealloc.h"
#include "series.h"

#define MAX_CHUNK 4096		/* sizes 16 B-4 KiB: at most 3 pages each */
#define WORKERS 4
static long PINS = 8;
static long FAILS = 48;

struct slot {
	uint64_t *p;
	size_t size;		/* bytes, a multiple of 8 */
	uint64_t seed;
	uint64_t pfn;		/* keepers: the page frame once tagged */
};

/* The series' counters (all -1 on a kernel without them). */
struct counters {
	long long reserve, fault, replay, migrate;
};

static struct counters counters_now(void)
{
	struct counters c = {
		vmstat("mte_tag_storage_reserve"), vmstat("mte_fault_on_access"),
		vmstat("mte_fault_replay"), vmstat("mte_fault_migrate"),
	};

	return c;
}

static uint64_t next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static uint64_t word(uint64_t seed, size_t i)
{
	return seed * 0x9e3779b97f4a7c15ULL + i;
}

static void fill(struct slot *s)
{
	size_t i;

	for (i = 0; i < s->size / 8; i++)
		s->p[i] = word(s->seed, i);
}

/* Are the first n bytes what fill() wrote? */
static int intact(const struct slot *s, size_t n)
{
	size_t i;

	for (i = 0; i < n / 8; i++)
		if (s->p[i] != word(s->seed, i))
			return 0;
	return 1;
}

/* Does every granule of the chunk hold the pointer's tag? */
static int tags_intact(const struct slot *s)
{
	const char *p = (const char *)s->p;
	size_t n = malloc_usable_size(s->p), g;

	for (g = 0; g < n; g += MTE_GRANULE)
		if (mte_mem_tag(p + g) != mte_ptr_tag(p))
			return 0;
	return 1;
}

/* A new chunk for s, of a random size, filled. */
static int renew(struct slot *s, uint64_t *rng)
{
	s->size = 16 + next(rng) % (MAX_CHUNK - 16) / 8 * 8;
	s->seed = next(rng);
	s->p = malloc(s->size);
	if (!s->p)
		return 0;
	fill(s);
	return 1;
}

static int cmp_page(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return (x > y) - (x < y);
}

/* Add the pages of a chunk (and a tagged one's header) to pages[*n]. */
static void add_pages(uintptr_t *pages, size_t *n, const void *p)
{
	uintptr_t a = (uintptr_t)mte_untag(p), pg;
	size_t len = malloc_usable_size((void *)p);

	if (mte_ptr_tag(p))
		a -= MTE_GRANULE;	/* the granule before it */
	for (pg = a / PAGE; pg <= ((uintptr_t)mte_untag(p) + len - 1) / PAGE; pg++)
		pages[(*n)++] = pg;
}

/* Sort pages[n] and drop the duplicates; how many are left. */
static size_t distinct(uintptr_t *pages, size_t n)
{
	size_t i, d = 0;

	qsort(pages, n, sizeof(*pages), cmp_page);
	for (i = 0; i < n; i++)
		if (i == 0 || pages[i] != pages[d - 1])
			pages[d++] = pages[i];
	return d;
}

/* Zeroed memory outside the heap, for the test's own books. */
static void *books(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static uint64_t stat_of(const char *name)
{
	uint64_t v = 0;

	mtealloc_stat(name, &v);
	return v;
}

/* A counter's change, or "-" on a kernel without it. */
static const char *delta(char buf[24], long long before, long long after)
{
	if (before < 0 || after < 0)
		snprintf(buf, 24, "-");
	else
		snprintf(buf, 24, "%lld", after - before);
	return buf;
}

/* Switch tagging on; 77 when this machine cannot. */
static int switch_on(const char *who)
{
	if (mtealloc_set_mode(MTEALLOC_MODE_SYNC) == 0)
		return 0;
	printf("%s: tagging unavailable: %s\n", who,
	       mtealloc_why_untagged() ? mtealloc_why_untagged() : strerror(errno));
	return 77;
}

static int populated(size_t mib)
{
	/* sizes average 2 KiB: room for twice as many chunks as that */
	size_t want = mib << 20, total = 0, n = 0, cap = want / 1024, i;
	size_t np = 0, bad = 0, untagged = 0, old_pages, touched;
	/* the books are outside the heap: their pages do not count */
	struct slot *s = books(cap * sizeof(*s));
	uintptr_t *pages = books(cap * 6 * sizeof(*pages));
	struct counters c0, c1, c2;
	uint64_t rng = 42, mp0, mp1;
	double t0, t1, t2;
	char b[4][24], what[160];
	int series;

	if (!s || !pages)
		return 1;
	/* 4 KiB pages: one fault each (mprotect_lazy tests huge PMDs) */
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	for (; total < want && n < cap; n++) {
		if (!renew(&s[n], &rng))
			return 1;
		total += s[n].size;
		add_pages(pages, &np, s[n].p);
	}
	np = old_pages = distinct(pages, np);
	printf("populated: %zu MiB in %zu chunks of 16 B-4 KiB over %zu pages, "
	       "filled with tagging off\n", mib, n, old_pages);

	c0 = counters_now();
	series = c0.fault >= 0;
	mp0 = stat_of("mprotect_ns");
	t0 = now_ms();
	if (switch_on("populated"))
		return 77;
	t1 = now_ms();
	c1 = counters_now();
	mp1 = stat_of("mprotect_ns");

	for (i = 0; i < n; i++) {	/* the first tagged use of each */
		bad += !intact(&s[i], s[i].size);
		free(s[i].p);
		s[i].p = malloc(s[i].size);
		if (!s[i].p)
			return 1;
		untagged += !mte_ptr_tag(s[i].p);
		fill(&s[i]);
		add_pages(pages, &np, s[i].p);
	}
	t2 = now_ms();
	c2 = counters_now();
	touched = distinct(pages, np);

	printf("populated: mtealloc_set_mode(sync): %.1f ms, %.1f ms of it in "
	       "mprotect(PROT_MTE); %s faults on access, %s blocks reserved\n",
	       t1 - t0, (double)(mp1 - mp0) / 1e6,
	       delta(b[0], c0.fault, c1.fault), delta(b[1], c0.reserve, c1.reserve));
	printf("populated: first tagged use of every chunk: %.1f ms; %s faults "
	       "on access for %zu heap pages touched, %s blocks reserved\n",
	       t2 - t1, delta(b[2], c1.fault, c2.fault), touched,
	       delta(b[3], c1.reserve, c2.reserve));
	printf("flow: populated kernel=%s mib=%zu pages=%zu switch_ms=%.1f "
	       "mprotect_ms=%.1f switch_faults=%s switch_blocks=%s use_ms=%.1f "
	       "use_faults=%s use_blocks=%s\n", series ? "patched" : "stock",
	       mib, touched, t1 - t0, (double)(mp1 - mp0) / 1e6, b[0], b[1],
	       t2 - t1, b[2], b[3]);

	check(bad == 0, "populated: every chunk kept its data across the switch");
	check(untagged == 0, "populated: every chunk allocated after it is tagged");
	if (series) {
		check(c1.fault == c0.fault && c1.reserve == c0.reserve,
		      "populated: nothing reserved and no fault inside the "
		      "heap's mprotect(PROT_MTE) calls");
		/*
		 * Each page the test touched faults once; a few more are
		 * the allocator's own use of its tagged extents, which the
		 * test cannot see.  guest_heap.sh's trace shows that no
		 * page faults twice.
		 */
		snprintf(what, sizeof(what), "populated: a fault on access for "
			 "each heap page touched (%lld for %zu, %lld more for "
			 "the allocator's own)", c2.fault - c1.fault, touched,
			 c2.fault - c1.fault - (long long)touched);
		check(c2.fault - c1.fault >= (long long)touched &&
		      c2.fault - c1.fault <= (long long)(touched + touched / 100 + 16),
		      what);
		check(c2.reserve > c1.reserve,
		      "populated: storage reserved at the first tagged use");
	}
	for (i = 0; i < n; i++)
		free(s[i].p);
	munmap(pages, cap * 6 * sizeof(*pages));
	munmap(s, cap * sizeof(*s));
	return 0;
}

/* ---- inject: a threaded tagged heap under injected faults ---- */

struct worker {
	pthread_t th;
	struct slot *s;
	size_t n;
	uint64_t rng;
	int phase;		/* 1: the first tagged use; then 2, 3... */
	size_t bad_data, bad_tags, untagged;
};

static atomic_int running;

static int keeper(size_t i)
{
	return i % 4 == 0;
}

static void verify(struct worker *w, struct slot *s)
{
	w->bad_data += !intact(s, s->size);
	w->bad_tags += !tags_intact(s);
}

/*
 * One phase: check every chunk, then give every chunk a new one (the
 * keepers only in the first phase, and they remember their page frame),
 * realloc half of the others, and check everything again.
 */
static void *churn(void *arg)
{
	struct worker *w = arg;
	size_t i, keep;

	for (i = 0; i < w->n; i++) {
		struct slot *s = &w->s[i];

		verify(w, s);
		if (keeper(i) && w->phase > 1)
			continue;
		free(s->p);
		if (!renew(s, &w->rng)) {
			w->bad_data++;
			break;
		}
		w->untagged += !mte_ptr_tag(s->p);
		if (keeper(i))
			s->pfn = pfn_of(s->p);
	}
	for (i = 0; i < w->n; i++) {
		struct slot *s = &w->s[i];
		size_t size = 16 + next(&w->rng) % (MAX_CHUNK - 16) / 8 * 8;
		uint64_t *q;

		verify(w, s);
		if (keeper(i) || next(&w->rng) & 1)
			continue;
		q = realloc(s->p, size);
		if (!q) {
			w->bad_data++;
			continue;
		}
		s->p = q;
		keep = size < s->size ? size : s->size;
		w->bad_data += !intact(s, keep);
		s->size = size;
		fill(s);
		verify(w, s);
	}
	atomic_fetch_sub(&running, 1);
	return NULL;
}

/* Feed fail_next 3 at a time while the workers run; the failures used. */
static long inject_failures(int series)
{
	long used = 0, left;

	while (atomic_load(&running) > 0) {
		if (!series || used >= FAILS) {
			usleep(1000);
			continue;
		}
		write_knob("fail_next", 3);
		while ((left = read_knob("fail_next")) > 0 &&
		       atomic_load(&running) > 0)
			usleep(200);
		write_knob("fail_next", 0);
		used += 3 - (left > 0 ? left : 0);
	}
	return used;
}

/* Run one churn phase in all workers, with failures and pins injected. */
static void phase(struct worker *w, int series, const char *name)
{
	struct counters c0, c1;
	long fails, pins = 0;
	char b[3][24], what[160];
	int i;

	for (i = 0; i < WORKERS; i++)
		w[i].phase++;
	/* first: this thread's own stdio touches the heap, and may fault */
	c0 = counters_now();
	if (series)
		write_knob("pin_next", PINS);
	atomic_store(&running, WORKERS);
	for (i = 0; i < WORKERS; i++)
		if ((errno = pthread_create(&w[i].th, NULL, churn, &w[i]))) {
			perror("heap_flow: pthread_create");
			exit(1);
		}
	fails = inject_failures(series);
	for (i = 0; i < WORKERS; i++)
		pthread_join(w[i].th, NULL);
	if (series) {
		pins = PINS - read_knob("pin_next");
		write_knob("pin_next", 0);
	}
	c1 = counters_now();
	printf("inject: %s: injected %ld failed reservations and %ld pinned "
	       "blocks; the kernel counted %s faults on access, %s replays, "
	       "%s migrations\n", name, fails, pins,
	       delta(b[0], c0.fault, c1.fault), delta(b[1], c0.replay, c1.replay),
	       delta(b[2], c0.migrate, c1.migrate));
	if (!series)
		return;
	/* a block can also be busy by itself: those replays come on top */
	snprintf(what, sizeof(what), "inject: %s: each injected failure and "
		 "pin is a replay (%lld = %ld + %ld + %lld by themselves)", name,
		 c1.replay - c0.replay, fails, pins,
		 c1.replay - c0.replay - fails - pins);
	check(c1.replay - c0.replay >= fails + pins, what);
	snprintf(what, sizeof(what), "inject: %s: each pinned block is a "
		 "migration (%lld >= %ld)", name, c1.migrate - c0.migrate, pins);
	check(c1.migrate - c0.migrate >= pins && pins > 0, what);
}

/* Write 1 to /proc/sys/vm/compact_memory: move pages, tagged ones too. */
static int compact(void)
{
	FILE *f = fopen("/proc/sys/vm/compact_memory", "w");

	if (!f)
		return -1;
	fputs("1\n", f);
	return fclose(f);
}

/*
 * Make the chunk s go wrong in a child (overflow: one byte past its end;
 * else a read after free); 1 when the child died of SIGSEGV with the
 * right report.
 */
static int caught_in_child(struct slot *s, int overflow)
{
	const char *want = overflow ? "ERROR: mtealloc: heap-buffer-overflow"
				    : "ERROR: mtealloc: use-after-free";
	char out[8192] = "";
	int fd[2], st;
	ssize_t got, len = 0;
	pid_t pid;

	if (pipe(fd))
		return 0;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		volatile char *p = (volatile char *)s->p;

		dup2(fd[1], 2);
		if (overflow) {
			(void)p[malloc_usable_size(s->p)];
		} else {
			free(s->p);
			(void)p[0];
		}
		_exit(0);
	}
	close(fd[1]);
	while ((got = read(fd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += got;
	close(fd[0]);
	out[len] = 0;
	waitpid(pid, &st, 0);
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV && strstr(out, want);
}

static int inject(size_t mib)
{
	size_t per = (mib << 20) / 2048 / WORKERS, i, j, moved = 0;
	size_t bad_data = 0, bad_tags = 0, untagged = 0;
	struct worker w[WORKERS];
	struct slot *victim = NULL;
	uint64_t rng = 7;
	int series = read_knob("pin_next") >= 0, st;
	char what[160];

	printf("inject: %d threads, %zu chunks of 16 B-4 KiB each, filled with "
	       "tagging off; %s\n", WORKERS, per, series ?
	       "the series' knobs are there" : "no series here: nothing injected");
	for (i = 0; i < WORKERS; i++) {
		w[i] = (struct worker){ .n = per, .rng = 1000 + i };
		w[i].s = calloc(per, sizeof(*w[i].s));
		for (j = 0; w[i].s && j < per; j++)
			if (!renew(&w[i].s[j], &rng))
				return 1;
		if (!w[i].s)
			return 1;
	}
	if ((st = switch_on("inject")))
		return st;

	phase(w, series, "first tagged use");
	if (compact())
		printf("inject: cannot write /proc/sys/vm/compact_memory: %s\n",
		       strerror(errno));
	for (i = 0; i < WORKERS; i++)	/* the keepers compaction moved */
		for (j = 0; j < per; j += 4)
			moved += pfn_of(w[i].s[j].p) != w[i].s[j].pfn;
	printf("inject: compaction moved %zu of the %zu tagged chunks kept\n",
	       moved, WORKERS * ((per + 3) / 4));
	phase(w, series, "after compaction");

	for (i = 0; i < WORKERS; i++) {
		for (j = 0; j < per; j++) {
			struct slot *s = &w[i].s[j];

			bad_data += !intact(s, s->size);
			bad_tags += !tags_intact(s);
			if (keeper(j) && !victim && pfn_of(s->p) != s->pfn &&
			    mte_ptr_tag(s->p))
				victim = s;
		}
		bad_data += w[i].bad_data;
		bad_tags += w[i].bad_tags;
		untagged += w[i].untagged;
	}
	snprintf(what, sizeof(what), "inject: no byte lost (%zu bad chunks), "
		 "and every granule kept its tag (%zu bad chunks)",
		 bad_data, bad_tags);
	check(bad_data == 0 && bad_tags == 0, what);
	check(untagged == 0, "inject: every chunk allocated tagged is tagged");
	check(moved > 0, "inject: compaction moved tagged chunks (their tags "
	      "checked after the move)");
	check(stat_of("faults_reported") == 0 && stat_of("faults_replayed") == 0,
	      "inject: libmtealloc saw no tag-check fault: no false report, "
	      "nothing replayed to it (faults_reported=0, faults_replayed=0)");
	if (victim) {
		printf("inject: a moved chunk: %#lx, tag %u, page frame %#llx -> "
		       "%#llx\n", (unsigned long)(uintptr_t)mte_untag(victim->p),
		       mte_ptr_tag(victim->p), (unsigned long long)victim->pfn,
		       (unsigned long long)pfn_of(victim->p));
		check(caught_in_child(victim, 1),
		      "inject: an overflow of a moved chunk is reported (SIGSEGV)");
		check(caught_in_child(victim, 0),
		      "inject: a use after free of a moved chunk is reported (SIGSEGV)");
	} else {
		check(0, "inject: a moved tagged chunk to make go wrong");
	}
	for (i = 0; i < WORKERS; i++) {
		for (j = 0; j < per; j++)
			free(w[i].s[j].p);
		free(w[i].s);
	}
	return 0;
}

static int usage(void)
{
	fputs("usage: heap_flow populated [MiB] | inject [MiB]\n", stderr);
	return 2;
}

int main(int argc, char **argv)
{
	size_t mib;
	char *end;
	int st;

	if (argc < 2 || argc > 3)
		return usage();
	mib = strcmp(argv[1], "populated") ? 8 : 32;
	if (argc == 3) {
		errno = 0;
		mib = strtoul(argv[2], &end, 10);
		if (errno || *end || mib == 0 || mib > 1024) {
			fprintf(stderr, "heap_flow: MiB must be 1-1024, not '%s'\n",
				argv[2]);
			return 2;
		}
	}
	if (mtealloc_get_mode() != MTEALLOC_MODE_OFF) {
		fputs("heap_flow: start it untagged: MTEALLOC_OPTIONS=mode=off\n",
		      stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getenv("HF_PINS")) PINS = atol(getenv("HF_PINS"));
	if (getenv("HF_FAILS")) FAILS = atol(getenv("HF_FAILS"));
	if (!strcmp(argv[1], "populated"))
		st = populated(mib);
	else if (!strcmp(argv[1], "inject"))
		st = inject(mib);
	else
		return usage();
	if (st)
		return st;
	printf("heap_flow: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
