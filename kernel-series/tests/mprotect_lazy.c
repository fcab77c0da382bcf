/*
 * mprotect_lazy.c - the kernel-side scenario of the series, run inside
 * the emulated MTE machine on the stock and the patched kernel alike:
 * populate a region, mprotect(PROT_MTE) it, touch part of it, and check
 * that the data survived and that tag-check faults still fire.  With the
 * series it also injects failed reservations and a pinned block (for a
 * small page and for one of a THP), and tags pages that came back from
 * freed tag storage, reads and writes the tags of an untouched page
 * through ptrace, and makes a huge PMD PROT_MTE.  It prints
 * the timings and the series' /proc/vmstat counters around each step, and
 * "mprotect_lazy: N passed, N failed".
 *
 *   mprotect_lazy [MiB]      (default 64)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "series.h"

static sigjmp_buf jmp;
static volatile int fault_code;

static void counters(const char *when)
{
	printf("  counters %s: reserve=%lld fault_on_access=%lld replay=%lld "
	       "migrate=%lld\n", when, vmstat("mte_tag_storage_reserve"),
	       vmstat("mte_fault_on_access"), vmstat("mte_fault_replay"),
	       vmstat("mte_fault_migrate"));
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	fault_code = si->si_code;
	siglongjmp(jmp, 1);
	(void)sig;
	(void)uc;
}

/*
 * With the series: make reservations fail through debugfs, on a fresh
 * tagged region.  A few failures are replayed and the access succeeds;
 * too many end the access with SIGBUS, in a child, and no byte is lost.
 */
static void injected_failures(void)
{
	size_t n = 16, i;
	long long replays = vmstat("mte_fault_replay"), migrated;
	unsigned char *q = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int status;
	pid_t pid;

	if (q == MAP_FAILED)
		return;
	madvise(q, n * PAGE, MADV_NOHUGEPAGE);
	for (i = 0; i < n; i++)
		q[i * PAGE] = (unsigned char)(i + 11);
	mprotect(q, n * PAGE, PROT_READ | PROT_WRITE | 0x20);
	if (write_knob("fail_next", 3)) {	/* the series has it */
		check(0, "injected: /sys/kernel/debug/mte_tag_storage/fail_next "
		      "is there");
		return;
	}
	check(q[0] == 11, "injected: 3 failed reservations, then the access "
	      "succeeds with its data");
	check(vmstat("mte_fault_replay") - replays == 3,
	      "injected: each failure counted in mte_fault_replay");
	/*
	 * The block fails for good: after its bounded tries the fault moves
	 * the page to one whose storage can be had (the knob fails only the
	 * faulting page's reservations), and the access goes on.
	 */
	replays = vmstat("mte_fault_replay");
	migrated = vmstat("mte_fault_migrate");
	write_knob("fail_next", 1000);
	pid = fork();
	if (pid == 0)
		_exit(*(volatile unsigned char *)(q + 5 * PAGE) == 16 ? 0 : 3);
	waitpid(pid, &status, 0);
	write_knob("fail_next", 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "injected: endless failures: no hang, no SIGBUS; the access "
	      "reads its byte");
	check(vmstat("mte_fault_replay") - replays == 8 &&
	      vmstat("mte_fault_migrate") - migrated == 1,
	      "injected: 8 replays, then the page migrated");
	for (i = 0; i < n && q[i * PAGE] == (unsigned char)(i + 11); i++)
		;
	check(i == n, "injected: every byte is still there afterwards");
}

/* Read p: the si_code of the SIGSEGV or SIGBUS it ends in, 0 if none. */
static int touch(const void *p)
{
	fault_code = 0;
	if (!sigsetjmp(jmp, 1))
		(void)*(const volatile unsigned char *)p;
	return fault_code;
}

/*
 * Give the granule at g tag t, then read g through a tag-0 pointer: the
 * si_code of the fault that follows, 0 if none (the SIGSEGV handler is
 * on_segv).
 */
static int tag_then_touch_untagged(unsigned char *g, unsigned long t)
{
	volatile unsigned char *tagged = (void *)((uintptr_t)g | (t << 56));

#if defined(__aarch64__)
	__asm__ volatile(".arch armv8.5-a+memtag\n\tstg %0, [%0]"
			 : : "r"(tagged) : "memory");
#else
	(void)tagged;	/* built natively only to be packed, never run */
#endif
	return touch(g);
}

/*
 * With the series: a page whose storage block acts pinned (debugfs
 * pin_next) is not retried in vain but migrated to a page whose storage
 * can be had; its data, all of it, and its tag checks come along.
 */
static void pinned_block_migrates(void)
{
	size_t n = 4, i;
	long long migrated = vmstat("mte_fault_migrate");
	unsigned char *q = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile unsigned char *tagged;
	uint64_t before, after;
	char what[160];

	if (q == MAP_FAILED)
		return;
	madvise(q, n * PAGE, MADV_NOHUGEPAGE);
	for (i = 0; i < n * PAGE; i++)
		q[i] = (unsigned char)(i * 13 + 5);
	before = pfn_of(q);
	mprotect(q, n * PAGE, PROT_READ | PROT_WRITE | 0x20);
	if (write_knob("pin_next", 1)) {	/* the series has it */
		check(0, "pinned: /sys/kernel/debug/mte_tag_storage/pin_next "
		      "is there");
		return;
	}
	(void)*(volatile unsigned char *)(q + 7);	/* faults, migrates */
	write_knob("pin_next", 0);
	after = pfn_of(q);
	check(vmstat("mte_fault_migrate") - migrated == 1,
	      "pinned: the page was migrated, and mte_fault_migrate counted it");
	snprintf(what, sizeof(what), "pinned: it lives in another page frame "
		 "now (pfn %#llx -> %#llx)", (unsigned long long)before,
		 (unsigned long long)after);
	check(before && after && before != after, what);
	for (i = 0; i < n * PAGE && q[i] == (unsigned char)(i * 13 + 5); i++)
		;
	check(i == n * PAGE, "pinned: every byte came along with the page");
	tagged = (void *)((uintptr_t)q | (3UL << 56));
	check(tag_then_touch_untagged(q, 3) == 9 && *tagged == 5,
	      "pinned: tag checks work on the migrated page");
}

/* A 2 MiB THP at a 2 MiB boundary inside the 4 MiB at *m, filled. */
static unsigned char *thp_region(unsigned char **m)
{
	size_t huge = 2UL << 20, i;
	unsigned char *q;

	*m = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*m == MAP_FAILED)
		return NULL;
	q = (unsigned char *)(((uintptr_t)*m + huge - 1) & ~(huge - 1));
	madvise(q, huge, MADV_HUGEPAGE);
	for (i = 0; i < huge; i += 64)
		q[i] = (unsigned char)(i / 64 * 5 + 3);
	return q;
}

static size_t thp_bad_bytes(const unsigned char *q)
{
	size_t i, bad = 0;

	for (i = 0; i < (2UL << 20); i += 64)
		bad += q[i] != (unsigned char)(i / 64 * 5 + 3);
	return bad;
}

/*
 * With the series: a page of a large folio whose block acts pinned is
 * migrated too.  A 2 MiB THP, its PMD split when one of its pages is
 * made PROT_MTE, is still one large folio mapped by PTEs: the fault
 * splits it, and only that page moves.
 */
static void large_folio_migrates(void)
{
	size_t huge = 2UL << 20, n = huge / PAGE, i, thp = 1;
	long long migrated = vmstat("mte_fault_migrate");
	unsigned char *m, *q = thp_region(&m), *pg;
	uint64_t first, before, after;
	struct sigaction sa, old;
	char what[160];
	int bus;

	if (!q)
		return;
	first = pfn_of(q);
	for (i = 1; i < n && thp; i++)		/* one folio: contiguous */
		thp = pfn_of(q + i * PAGE) == first + i;
	check(thp && first && !(first & (n - 1)),
	      "large: the region is one 2 MiB THP");
	pg = q + 5 * PAGE;
	before = pfn_of(pg);
	mprotect(pg, PAGE, PROT_READ | PROT_WRITE | 0x20);
	if (write_knob("pin_next", 1))
		return;
	sigaction(SIGSEGV, NULL, &sa);		/* on_segv, for SIGBUS too */
	sigaction(SIGBUS, &sa, &old);
	bus = touch(pg + 1);			/* faults, migrates */
	sigaction(SIGBUS, &old, NULL);
	write_knob("pin_next", 0);
	check(bus == 0, "large: the access went on (no SIGBUS)");
	after = pfn_of(pg);
	check(vmstat("mte_fault_migrate") - migrated == 1,
	      "large: the page was migrated, and mte_fault_migrate counted it");
	snprintf(what, sizeof(what), "large: it lives in another page frame "
		 "now (pfn %#llx -> %#llx), its neighbours stay (%#llx)",
		 (unsigned long long)before, (unsigned long long)after,
		 (unsigned long long)pfn_of(pg + PAGE));
	check(before && after && before != after &&
	      pfn_of(pg + PAGE) == before + 1, what);
	check(thp_bad_bytes(q) == 0,
	      "large: every byte of the 2 MiB is still there");
	check(tag_then_touch_untagged(pg, 6) == 9,
	      "large: tag checks work on the migrated page");
	munmap(m, 2 * huge);
}

/* The tag of the granule at p, as LDG reads it (0 off aarch64). */
static unsigned ldg_tag(const void *p)
{
	uintptr_t t = (uintptr_t)p;

#if defined(__aarch64__)
	__asm__ volatile(".arch armv8.5-a+memtag\n\tldg %0, [%0]"
			 : "+r"(t) : : "memory");
#endif
	return (unsigned)(t >> 56) & 0xf;
}

/*
 * With the series: ptrace's tag access to a page that is still
 * fault-on-access first faults it in, so that its storage is reserved
 * and its tags initialised before they are read or written.  Otherwise
 * PTRACE_POKEMTETAGS writes tags that the page's first access then
 * clears.  The child tags nothing itself: it maps, fills and mprotects
 * two pages, stops, and once continued reports the tag of its first
 * granule by its exit status.
 */
static void ptrace_tags_fault_in(void)
{
	unsigned char *q = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char tag = 7, peeked = 0xff;
	char what[120];
	struct iovec iov;
	long long f0;
	int status, peek, poke;
	pid_t pid;

	if (q == MAP_FAILED)
		return;
	pid = fork();
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);	/* no jump into the parent's past */
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		q[0] = q[16] = q[PAGE] = 42;
		mprotect(q, 2 * PAGE, PROT_READ | PROT_WRITE | 0x20);
		raise(SIGSTOP);
		/* (granule 0 has tag 7 now: read the data around it) */
		_exit(q[16] == 42 && q[PAGE] == 42 ? (int)ldg_tag(q) : 100);
	}
	waitpid(pid, &status, 0);
	if (!WIFSTOPPED(status)) {
		check(0, "ptrace: the child stopped for its parent");
		return;
	}
	f0 = vmstat("mte_fault_on_access");
	iov.iov_base = &peeked;
	iov.iov_len = 1;
	peek = (int)ptrace(33 /* PTRACE_PEEKMTETAGS */, pid, q + PAGE, &iov);
	check(peek == 0 && peeked == 0 &&
	      vmstat("mte_fault_on_access") - f0 == 1,
	      "ptrace: peeking at an untouched page faults it in first, "
	      "and reads its initialised tag 0");
	iov.iov_base = &tag;
	iov.iov_len = 1;
	poke = (int)ptrace(34 /* PTRACE_POKEMTETAGS */, pid, q, &iov);
	ptrace(PTRACE_CONT, pid, NULL, NULL);
	waitpid(pid, &status, 0);
	snprintf(what, sizeof(what), "ptrace: a tag poked into an untouched "
		 "page is still there when the page is first used (%d)",
		 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	check(poke == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 7,
	      what);
	munmap(q, 2 * PAGE);
}

/* AnonHugePages of the mapping that holds p, in KiB; -1 if not found. */
static long anon_huge_kb(const void *p)
{
	char line[256];
	unsigned long lo, hi;
	long kb = -1;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, ' ') &&
		    line[strcspn(line, " ") - 1] != ':')
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	if (f)
		fclose(f);
	return kb;
}

/*
 * With the series: a THP mapped by a huge PMD is lazy too.  mprotect()
 * reserves nothing; the first access reserves the storage of all of it
 * (16 blocks) in one fault and keeps the huge mapping; no other access
 * faults.  When reservations keep failing, the fault splits the PMD and
 * the page goes the PTE way.
 */
static void huge_pmd_lazy(void)
{
	size_t huge = 2UL << 20;
	unsigned char *m, *q = thp_region(&m);
	long long r0, f0;
	char what[160];

	if (!q)
		return;
	check(anon_huge_kb(q) >= 2048, "huge: the region is mapped by a huge PMD");
	r0 = vmstat("mte_tag_storage_reserve");
	f0 = vmstat("mte_fault_on_access");
	mprotect(q, huge, PROT_READ | PROT_WRITE | 0x20);
	check(vmstat("mte_tag_storage_reserve") == r0 &&
	      vmstat("mte_fault_on_access") == f0,
	      "huge: mprotect(PROT_MTE) of a 2 MiB THP reserved nothing");
	(void)*(volatile unsigned char *)(q + 100);
	(void)*(volatile unsigned char *)(q + huge - 100);
	snprintf(what, sizeof(what), "huge: its first access reserved 16 "
		 "blocks in one fault (%lld, %lld), and later ones none",
		 vmstat("mte_tag_storage_reserve") - r0,
		 vmstat("mte_fault_on_access") - f0);
	check(vmstat("mte_tag_storage_reserve") - r0 == 16 &&
	      vmstat("mte_fault_on_access") - f0 == 1, what);
	check(anon_huge_kb(q) >= 2048, "huge: it is still one huge mapping");
	check(thp_bad_bytes(q) == 0, "huge: every byte is still there");
	check(tag_then_touch_untagged(q + huge / 2, 4) == 9,
	      "huge: tag checks work across it");
	munmap(m, 2 * huge);

	/* 9 failures: more than the tries of the first page, so it splits */
	q = thp_region(&m);
	if (!q)
		return;
	mprotect(q, huge, PROT_READ | PROT_WRITE | 0x20);
	if (write_knob("fail_next", 9))
		return;
	(void)*(volatile unsigned char *)(q + 100);
	write_knob("fail_next", 0);
	check(anon_huge_kb(q) == 0 && thp_bad_bytes(q) == 0,
	      "huge: failed reservations split the PMD, and the access "
	      "then succeeds, every byte kept");
	munmap(m, 2 * huge);
}

/* The guest's tag storage, from its device tree: [*base, *base + *size). */
static int storage_range(uint64_t *base, uint64_t *size)
{
	const char *dir = "/proc/device-tree/reserved-memory";
	unsigned char reg[16];
	char path[300];
	struct dirent *e;
	DIR *d = opendir(dir);
	int fd, i, found = 0;

	while (d && !found && (e = readdir(d)))
		if (!strncmp(e->d_name, "tag-storage@", 12)) {
			snprintf(path, sizeof(path), "%s/%s/reg", dir, e->d_name);
			fd = open(path, O_RDONLY);
			found = fd >= 0 && read(fd, reg, 16) == 16;
			if (fd >= 0)
				close(fd);
		}
	if (d)
		closedir(d);
	if (!found)
		return -1;
	*base = *size = 0;
	for (i = 0; i < 8; i++) {		/* two big-endian cells each */
		*base = *base << 8 | reg[i];
		*size = *size << 8 | reg[8 + i];
	}
	return 0;
}

static int in_range(const void *p, uint64_t base, uint64_t size)
{
	uint64_t pa = pfn_of(p) * PAGE;

	return pa >= base && pa - base < size;
}

/*
 * With the series: tag storage that is not reserved holds movable pages,
 * and the storage blocks freed when the first region went (its pages
 * released their references) are the first pages the next allocation
 * gets.  Such a page cannot be tagged where it is (its tags would live in
 * the storage it occupies), so its first tagged access must move it out,
 * one fault per page as for any other.
 */
static void storage_pages_move_out(void)
{
	size_t n = 1024, i, pass, before = 0, stayed = 0, bad = 0;
	unsigned char in_storage[1024];
	long long f0;
	uint64_t base, size;
	unsigned char *q;
	char what[160];

	if (storage_range(&base, &size)) {
		check(0, "storage: the device tree names the tag storage");
		return;
	}
	q = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (q == MAP_FAILED)
		return;
	madvise(q, n * PAGE, MADV_NOHUGEPAGE);
	for (i = 0; i < n; i++) {
		q[i * PAGE] = q[i * PAGE + 99] = (unsigned char)(i * 3 + 1);
		in_storage[i] = (unsigned char)in_range(q + i * PAGE, base, size);
		before += in_storage[i];
	}
	f0 = vmstat("mte_fault_on_access");
	mprotect(q, n * PAGE, PROT_READ | PROT_WRITE | 0x20);
	/*
	 * The pages in storage first, before the others' faults reserve
	 * blocks (which moves whatever occupies them); each page is looked
	 * at right after its first tagged access.
	 */
	for (pass = 1; pass <= 2; pass++)
		for (i = 0; i < n; i++) {
			if (in_storage[i] != (pass == 1))
				continue;
			if (q[i * PAGE] != (unsigned char)(i * 3 + 1) ||
			    q[i * PAGE + 99] != q[i * PAGE])
				bad++;
			stayed += in_range(q + i * PAGE, base, size);
		}
	printf("  storage: %zu of %zu pages were in tag storage before "
	       "mprotect, %zu after their first access\n", before, n, stayed);
	check(before > 0, "storage: the freed blocks came back as pages of "
	      "the next region (the case to test is there)");
	snprintf(what, sizeof(what), "storage: no page stays in tag storage "
		 "once tagged (%zu were there)", before);
	check(stayed == 0, what);
	check(vmstat("mte_fault_on_access") - f0 == (long long)n,
	      "storage: one fault-on-access per page, moved or not");
	check(bad == 0, "storage: every byte came along");
	munmap(q, n * PAGE);
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
	long long r0, f0;
	int series;
	size_t len = mib << 20, i, bad = 0, touched;
	struct sigaction sa = { 0 };
	unsigned char *p;
	double t0, t1;

	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(0, &one);
	sched_setaffinity(0, sizeof(one), &one);	/* see the storage test */
	if (prctl(55, 1UL | (1UL << 1) | (0xfffeUL << 3), 0, 0, 0)) {
		puts("mprotect_lazy: this kernel has no MTE");
		return 1;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED)
		return 1;
	/* 4 KiB pages here: huge PMDs have a test of their own */
	madvise(p, len, MADV_NOHUGEPAGE);
	for (i = 0; i < len; i += PAGE)		/* populate, with a pattern */
		p[i] = p[i + 100] = (unsigned char)(i / PAGE * 7 + 1);
	counters("before mprotect");
	r0 = vmstat("mte_tag_storage_reserve");
	f0 = vmstat("mte_fault_on_access");
	t0 = now_ms();
	check(mprotect(p, len, PROT_READ | PROT_WRITE | 0x20) == 0,
	      "mprotect(PROT_MTE) on the populated region");
	t1 = now_ms();
	printf("  mprotect(PROT_MTE) of %zu MiB populated: %.2f ms\n", mib, t1 - t0);
	counters("after mprotect");
	series = r0 >= 0;
	if (series)
		check(vmstat("mte_tag_storage_reserve") - r0 <= 1,
		      "lazy: mprotect reserved (almost) no tag storage");
	touched = len / 4;			/* a realistic pattern: a quarter */
	t0 = now_ms();
	for (i = 0; i < touched; i += PAGE)
		if (p[i] != (unsigned char)(i / PAGE * 7 + 1))
			bad++;
	t1 = now_ms();
	printf("  first touch of %zu pages: %.2f ms, %.2f us a page\n",
	       touched / PAGE, t1 - t0, (t1 - t0) * 1e3 / (touched / PAGE));
	counters("after touching a quarter");
	if (series)
		check(vmstat("mte_fault_on_access") - f0 == (long long)(touched / PAGE),
		      "lazy: one fault-on-access per page touched");
	for (i = touched; i < len; i += PAGE)
		if (p[i] != (unsigned char)(i / PAGE * 7 + 1) ||
		    p[i + 100] != p[i])
			bad++;
	check(bad == 0, "every byte kept its value across mprotect and touch");

	/* tag-check faults still fire: tag a granule, touch it untagged */
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	{
		unsigned char *g = p + len / 2;
		volatile unsigned char *tagged = (void *)((uintptr_t)g | (5UL << 56));

		check(tag_then_touch_untagged(g, 5) == 9,
		      "a tag mismatch faults with SEGV_MTESERR");
		fault_code = 0;
		if (!sigsetjmp(jmp, 1))
			(void)*tagged;
		check(fault_code == 0, "the matching tag does not fault");
	}
	if (series) {
		injected_failures();
		pinned_block_migrates();
		large_folio_migrates();
		ptrace_tags_fault_in();
		huge_pmd_lazy();
		/*
		 * Its storage blocks go free, onto this CPU's free lists
		 * (the process is pinned to one CPU), where the next
		 * region's pages come from.
		 */
		munmap(p, len);
		storage_pages_move_out();
	}
	printf("mprotect_lazy: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
