/*
 * heap_model.h - a random sequence of allocation calls checked against a
 * model of the heap.
 *
 * The driver draws each step (which call, which slot, which size or
 * alignment) from a step source: a seeded PRNG for the stress test, or a
 * byte buffer for the fuzz target, so both check the same model.  The
 * model is a shadow table of every live chunk (where, how big, how
 * aligned, what was written); after every step it checks that no two
 * live chunks overlap, that the chunk's contents are exactly what was
 * written, that its whole usable size can be written, and that it is
 * aligned as asked.  A failure prints the seed, the thread and the step.
 */
#ifndef MTEALLOC_TESTS_HEAP_MODEL_H
#define MTEALLOC_TESTS_HEAP_MODEL_H

#include <stddef.h>
#include <stdint.h>

/* The calls under test: the C library's names, or another heap's. */
struct model_api {
	void *(*malloc)(size_t);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	void *(*reallocarray)(void *, size_t, size_t);
	void (*free)(void *);
	int (*posix_memalign)(void **, size_t, size_t);
	void *(*aligned_alloc)(size_t, size_t);
	void *(*memalign)(size_t, size_t);
	void *(*valloc)(size_t);
	void *(*pvalloc)(size_t);
	size_t (*usable)(void *);
};

struct model_config {
	uint64_t seed;
	unsigned long steps;		/* in all, over every thread */
	unsigned threads;		/* 1: the calling thread alone */
	unsigned slots;			/* live chunks per thread, at most */
	unsigned long fork_at;		/* thread 0 forks at this step; 0: never */
	unsigned long switch_at;	/* thread 0 calls set_mode() here; 0: never */
	int (*set_mode)(void);		/* for switch_at */
	size_t max_size;		/* the largest request (bytes) */
	size_t live_limit;		/* bytes live at most, over all threads */
	const uint8_t *bytes;		/* steps from here instead of the PRNG */
	size_t nbytes;
	int quiet;
	int keep_signals;		/* leave SIGSEGV & co. to the caller */
	const struct model_api *api;
};

struct model_result {
	unsigned long steps;		/* done, in all */
	unsigned long calls[16];	/* per call, enum in heap_model.c */
	unsigned long forks;
	unsigned long peak_live;	/* chunks */
};

/* The API of the process (whatever malloc() the program links). */
extern const struct model_api model_libc_api;

void model_default_config(struct model_config *cfg);

/*
 * Run the sequence; 0 when every check passed, else 1 after printing
 * what failed to stderr (a signal kills the process, and the handler
 * installed here names the step first).  Frees every chunk at the end.
 */
int model_run(const struct model_config *cfg, struct model_result *res);

/* The names of the calls counted in model_result.calls. */
extern const char *const model_call_names[16];

#endif
