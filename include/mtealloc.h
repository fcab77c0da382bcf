/*
 * mtealloc.h - the public API of libmtealloc, an MTE-tagging heap built on
 * jemalloc.
 *
 * Programs need none of this to be protected: preloading the library, or
 * linking with -lmtealloc, replaces malloc() and friends.  This header is
 * for programs that want to steer or observe the heap.  See
 * libmtealloc(3).
 */
#ifndef MTEALLOC_H
#define MTEALLOC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MTEALLOC_VERSION_STRING "0.1.0"

/* The library is built with hidden visibility; its API is marked here. */
#define MTEALLOC_API __attribute__((visibility("default")))

/* Tag-check modes; the order matches MTEALLOC_OPTIONS mode=. */
enum mtealloc_mode {
	MTEALLOC_MODE_OFF = 0,		/* no new tags, no checks */
	MTEALLOC_MODE_SYNC = 1,		/* precise fault on the access */
	MTEALLOC_MODE_ASYNC = 2,	/* fault reported later, no address */
	MTEALLOC_MODE_ASYMM = 3,	/* sync reads, async writes (MTE3) */
};

/*
 * Switch the tag-check mode at run time.  Turning tagging on adds
 * PROT_MTE to every heap extent mapped so far (live allocations keep tag 0
 * and stay valid; new ones are tagged).  The calling thread switches at
 * once, every other thread at its next allocation or free.
 * Returns 0, or -1 with errno EINVAL (no such mode) or ENOTSUP (tagging
 * is unavailable on this machine; mtealloc_why_untagged() says why).
 */
MTEALLOC_API int mtealloc_set_mode(enum mtealloc_mode mode);
MTEALLOC_API enum mtealloc_mode mtealloc_get_mode(void);

/* 1 when new allocations are tagged, else 0. */
MTEALLOC_API int mtealloc_tagging(void);

/* Why tagging is off, in one sentence; NULL when it is on. */
MTEALLOC_API const char *mtealloc_why_untagged(void);

/* A counter by name (see libmtealloc(3)); 0, or -1 for an unknown name. */
MTEALLOC_API int mtealloc_stat(const char *name, uint64_t *value);

/* Write the "mtealloc: stats:" line to fd; 0, or -1 if the write failed. */
MTEALLOC_API int mtealloc_stats_print(int fd);

MTEALLOC_API const char *mtealloc_version(void);

#ifdef __cplusplus
}
#endif

#endif /* MTEALLOC_H */
