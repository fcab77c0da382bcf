/*
 * series.h - what the guest programs (mprotect_lazy, heap_flow) share:
 * the series' counters in /proc/vmstat and its debugfs knobs, a page's
 * frame from /proc/self/pagemap, a clock, and the PASS/FAIL lines.
 * Header-only: each program is one file and this.
 */
#ifndef MTEALLOC_SERIES_H
#define MTEALLOC_SERIES_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

static int passed, failed;

static inline void check(int ok, const char *what)
{
	printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
	ok ? passed++ : failed++;
}

static inline double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/*
 * The series' counters, or -1 where this kernel has none.  Read without
 * stdio, whose buffers would be heap chunks: under a tagged heap the
 * reading itself would fault on heap pages, and count in what it reads.
 */
static inline long long vmstat(const char *key)
{
	static char buf[1 << 16];
	size_t n = strlen(key), len = 0;
	ssize_t got;
	char *line;
	int fd = open("/proc/vmstat", O_RDONLY);

	if (fd < 0)
		return -1;
	while (len < sizeof(buf) - 1 &&
	       (got = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)got;
	close(fd);
	buf[len] = 0;
	for (line = buf; line && *line; line = strchr(line, '\n'),
	     line = line ? line + 1 : NULL)
		if (!strncmp(line, key, n) && line[n] == ' ')
			return atoll(line + n + 1);
	return -1;
}

/* The series' debugfs knob mte_tag_storage/<name>, opened; NULL if none. */
static inline FILE *knob(const char *name, const char *mode)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/kernel/debug/mte_tag_storage/%s",
		 name);
	return fopen(path, mode);
}

/* Write n to the knob <name>: 0, or -1 where this kernel has none. */
static inline int write_knob(const char *name, long n)
{
	FILE *f = knob(name, "w");

	if (!f)
		return -1;
	fprintf(f, "%ld\n", n);
	return fclose(f);
}

/* The value of the knob <name>, or -1. */
static inline long read_knob(const char *name)
{
	FILE *f = knob(name, "r");
	long n = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

/*
 * The page frame behind p (its tag ignored), from /proc/self/pagemap (root
 * only); 0 if none.
 */
static inline uint64_t pfn_of(const void *p)
{
	uintptr_t page = ((uintptr_t)p & ((1UL << 56) - 1)) / PAGE;
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (off_t)(page * sizeof(e))) !=
	    (ssize_t)sizeof(e))
		e = 0;
	close(fd);
	return e >> 63 ? e & ((1ULL << 55) - 1) : 0;
}

#endif /* MTEALLOC_SERIES_H */
