/*
 * stats_page.h - the layout of libmtealloc's live statistics, shared by
 * the library (which writes them) and mtectl (which reads them from
 * another process).
 *
 * The counters live in a memfd named "mtealloc-stats", mapped shared, so
 * another process finds it in /proc/<pid>/maps as
 * "/memfd:mtealloc-stats (deleted)" and reads it through /proc/<pid>/mem
 * without stopping the program.  The page describes itself: a header, the
 * counter names, then nstripes rows of nstats little atomic counters
 * (threads add to their own stripe; a reader sums the stripes).  A reader
 * checks magic and version, and takes names from the page, so new
 * counters never break an older reader.
 */
#ifndef MTEALLOC_STATS_PAGE_H
#define MTEALLOC_STATS_PAGE_H

#include <stdint.h>
#include <string.h>

#define MTE_STATS_MAGIC		"MTEALLOC"
#define MTE_STATS_VERSION	1
#define MTE_STATS_NAME_LEN	32
#define MTE_STATS_MEMFD_NAME	"mtealloc-stats"
#define MTE_STATS_NSTRIPES	16

struct mte_stats_page {
	char magic[8];		/* MTE_STATS_MAGIC, no NUL */
	uint32_t version;	/* MTE_STATS_VERSION */
	uint32_t page_size;	/* bytes of the whole mapping */
	uint32_t nstats;	/* counters per stripe */
	uint32_t nstripes;
	uint32_t names_off;	/* nstats names of MTE_STATS_NAME_LEN */
	uint32_t values_off;	/* nstripes rows of stride uint64_t */
	uint32_t stride;	/* counters per row, >= nstats (padding) */
	int32_t pid;		/* the process that owns these counters */
	uint32_t mode;		/* enum mtealloc_mode in force */
	uint32_t tagging;	/* 1 when new allocations are tagged */
	uint32_t hw_mte;	/* 1 when the CPU and kernel offer MTE */
	char lib_version[20];
};

/* Sum counter i over all stripes; page points at a complete copy. */
static inline uint64_t mte_stats_page_value(const struct mte_stats_page *pg,
					    uint32_t i)
{
	const uint64_t *v = (const uint64_t *)((const char *)pg + pg->values_off);
	uint64_t sum = 0;
	uint32_t s;

	for (s = 0; s < pg->nstripes; s++)
		sum += v[(size_t)s * pg->stride + i];
	return sum;
}

static inline const char *mte_stats_page_name(const struct mte_stats_page *pg,
					      uint32_t i)
{
	return (const char *)pg + pg->names_off + (size_t)i * MTE_STATS_NAME_LEN;
}

/* 0 when the buffer of len bytes holds a page this reader understands. */
static inline int mte_stats_page_check(const struct mte_stats_page *pg,
				       size_t len)
{
	if (len < sizeof(*pg) || memcmp(pg->magic, MTE_STATS_MAGIC, 8))
		return -1;
	if (pg->version != MTE_STATS_VERSION || pg->page_size > len)
		return -1;
	if (pg->names_off + (uint64_t)pg->nstats * MTE_STATS_NAME_LEN > len ||
	    pg->stride < pg->nstats ||
	    pg->values_off + (uint64_t)pg->stride * pg->nstripes * 8 > len)
		return -1;
	return 0;
}

#endif /* MTEALLOC_STATS_PAGE_H */
