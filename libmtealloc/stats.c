/*
 * stats.c - counters, kept where another process can read them live.
 *
 * The page layout is in stats_page.h.  At start-up the counters move from
 * a static early area into a memfd mapping; a forked child gets a memfd of
 * its own (else parent and child would count into one page), starting
 * from the values it inherited.  Each thread adds to its stripe, so
 * threads do not fight over cache lines: a plain load and store on a
 * stripe of its own, an atomic add on the one stripe that late threads
 * share (internal.h, mte_stat_add()).
 */
#define _GNU_SOURCE
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "stats_page.h"

static const char *const stat_names[MTE_STAT_COUNT] = {
#define STAT(name, help) #name,
#include "stats.inc"
#undef STAT
};

#define VALUES_BYTES (MTE_STATS_NSTRIPES * MTE_STATS_STRIDE * 8)
#define NAMES_OFF    ((sizeof(struct mte_stats_page) + 63) & ~(size_t)63)
#define VALUES_OFF   ((NAMES_OFF + MTE_STAT_COUNT * MTE_STATS_NAME_LEN + 63) \
		      & ~(size_t)63)
#define PAGE_BYTES   ((VALUES_OFF + VALUES_BYTES + 4095) & ~(size_t)4095)

static union {
	struct mte_stats_page hdr;
	char bytes[PAGE_BYTES];
} static_page __attribute__((aligned(64)));

static struct mte_stats_page *page = &static_page.hdr;
_Atomic uint64_t *mte_stats_stripes =
	(_Atomic uint64_t *)(static_page.bytes + VALUES_OFF);
static _Atomic unsigned next_stripe;

static void fill_header(struct mte_stats_page *pg)
{
	unsigned i;

	memcpy(pg->magic, MTE_STATS_MAGIC, 8);
	pg->version = MTE_STATS_VERSION;
	pg->page_size = (uint32_t)PAGE_BYTES;
	pg->nstats = MTE_STAT_COUNT;
	pg->nstripes = MTE_STATS_NSTRIPES;
	pg->names_off = (uint32_t)NAMES_OFF;
	pg->values_off = (uint32_t)VALUES_OFF;
	pg->stride = MTE_STATS_STRIDE;
	pg->pid = (int32_t)getpid();
	strncpy(pg->lib_version, MTEALLOC_VERSION_STRING,
		sizeof(pg->lib_version) - 1);
	for (i = 0; i < MTE_STAT_COUNT; i++)
		strncpy((char *)pg + NAMES_OFF + i * MTE_STATS_NAME_LEN,
			stat_names[i], MTE_STATS_NAME_LEN - 1);
}

/* A fresh shared page holding a copy of the current one; NULL on failure. */
static struct mte_stats_page *new_shared_page(void)
{
	struct mte_stats_page *pg;
	int fd = memfd_create(MTE_STATS_MEMFD_NAME, MFD_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (ftruncate(fd, (off_t)PAGE_BYTES) < 0) {
		close(fd);
		return NULL;
	}
	pg = mmap(NULL, PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);		/* the mapping keeps the memfd alive */
	if (pg == MAP_FAILED)
		return NULL;
	memcpy(pg, page, PAGE_BYTES);
	fill_header(pg);
	return pg;
}

static void switch_page(struct mte_stats_page *pg)
{
	struct mte_stats_page *old = page;

	page = pg;
	mte_stats_stripes = (_Atomic uint64_t *)((char *)pg + VALUES_OFF);
	mte_stats_use_stripe(mte_t.stripe);	/* the calling thread's */
	if (old != &static_page.hdr)
		munmap(old, PAGE_BYTES);
}

void mte_stats_init(void)
{
	struct mte_stats_page *pg;

	fill_header(page);
	pg = new_shared_page();
	if (pg)
		switch_page(pg);
	/* else the counters stay private; mtectl then says it cannot find them */
}

void mte_stats_after_fork_child(void)
{
	struct mte_stats_page *pg = new_shared_page();

	if (pg)
		switch_page(pg);
	else if (page != &static_page.hdr) {
		memcpy(&static_page, page, PAGE_BYTES);
		switch_page(&static_page.hdr);
	}
	page->pid = (int32_t)getpid();
}

void mte_stats_set_state(unsigned mode, bool tagging)
{
	page->mode = mode;
	page->tagging = tagging;
	page->hw_mte = mte_g.hw_mte;
}

void mte_stats_use_stripe(unsigned stripe)
{
	mte_t.stripe = stripe;
	mte_t.stats = stripe ? mte_stats_stripes + stripe * MTE_STATS_STRIDE
			     : NULL;
}

/* The first threads get a stripe of their own; the rest share stripe 0. */
void mte_stats_thread_init(void)
{
	unsigned s = atomic_fetch_add_explicit(&next_stripe, 1,
					       memory_order_relaxed) + 1;

	mte_stats_use_stripe(s < MTE_STATS_NSTRIPES ? s : 0);
}

uint64_t mte_stats_get(enum mte_stat_id id)
{
	return mte_stats_page_value(page, (uint32_t)id);
}

size_t mte_stats_format(char *buf, size_t size)
{
	size_t n;
	unsigned i;

	n = mte_fmt(buf, size, "mtealloc: stats: mode=%s tagging=%d",
		    mte_mode_name(page->mode), (int)page->tagging);
	for (i = 0; i < MTE_STAT_COUNT && n < size; i++)
		n += mte_fmt(buf + n, size - n, " %s=%llu", stat_names[i],
			     (unsigned long long)mte_stats_get(i));
	if (n + 1 < size) {
		buf[n++] = '\n';
		buf[n] = '\0';
	}
	return n;
}

int mtealloc_stats_print(int fd)
{
	char buf[1024];
	size_t n = mte_stats_format(buf, sizeof(buf));

	return write(fd, buf, n) == (ssize_t)n ? 0 : -1;
}

int mtealloc_stat(const char *name, uint64_t *value)
{
	unsigned i;

	for (i = 0; i < MTE_STAT_COUNT; i++)
		if (!strcmp(name, stat_names[i])) {
			*value = mte_stats_get(i);
			return 0;
		}
	return -1;
}
