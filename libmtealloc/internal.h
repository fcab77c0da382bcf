/*
 * internal.h - declarations shared between libmtealloc's source files,
 * grouped by the file that defines them.  Names with a leading "mte_" are
 * internal and hidden by the version script; only mtealloc.h is public.
 */
#ifndef MTEALLOC_INTERNAL_H
#define MTEALLOC_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mtealloc.h"
#include "memtag.h"

/* Everything declared from here on is the library's own: no GOT entry. */
#pragma GCC visibility push(hidden)

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define MTE_TLS		__thread __attribute__((tls_model("initial-exec")))
/*
 * For code that runs only while MTE is in use: MTE is ARMv8.5, which
 * includes the LSE atomics, so they can be inline instructions there
 * instead of calls to libgcc's run-time dispatch (outline atomics).
 */
#if defined(__aarch64__)
#define MTE_WITH_LSE	__attribute__((target("+lse")))
#else
#define MTE_WITH_LSE
#endif

/*
 * The code a cached malloc() runs, and the code a free() runs, each in a
 * 4 KiB page of its own: under qemu-user a branch to another page is
 * never chained to its target, it looks the target up (so does every
 * return), and the two paths used to cross pages a dozen times a pair.
 * The linker gathers .text.sorted.* from every file, sorted by name, so
 * a page is its unchecked entry, 4 KiB aligned (section "<page>_0"),
 * then the functions marked MTE_HOT_PAGE(<page>) ("<page>_1"), from
 * whichever files.  (GNU ld 2.34 on; another linker may keep the files'
 * order, which is as correct, only slower under qemu.)  Off aarch64 the
 * attribute is empty.
 */
#define MTE_HOT_SECTION(page)	".text.sorted.mte_hot_" #page
#if defined(__aarch64__)
#define MTE_HOT_PAGE(page)	__attribute__((section(MTE_HOT_SECTION(page) "_1")))
#else
#define MTE_HOT_PAGE(page)
#endif

/*
 * What malloc() and free() read on every call, for this thread, in one
 * thread-local block: a library reaches each thread-local variable through
 * a GOT entry of its own, so one block costs one load, not four.
 */
struct mte_thread_hot {
	unsigned fast;		/* api.c: armed fast-path generation, 0 off */
	unsigned stripe;	/* stats.c: own counter stripe; 0 is shared */
	_Atomic uint64_t *stats;	/* ... its counters, NULL if shared */
	void *api_frame;	/* api.c, trace.h: the API's frame record */
};
extern MTE_TLS struct mte_thread_hot mte_t;	/* init.c */

/* ---- options.c: MTEALLOC_OPTIONS, declared once in options.inc ---- */

enum mte_opt_kind { MTE_OPT_BOOL, MTE_OPT_ENUM, MTE_OPT_UINT, MTE_OPT_STRING };

#define MTE_OPTION_PATH_MAX 512
typedef char mte_path_t[MTE_OPTION_PATH_MAX];

struct mte_options {
#define OPTION(kind, type, name, def, accepted, help) type name;
#include "options.inc"
#undef OPTION
};

struct mte_option_desc {
	const char *name;
	enum mte_opt_kind kind;
	const char *def;
	const char *accepted;	/* "a|b|c" for enums, "lo..hi" for uints */
	const char *help;
	size_t offset;
};

enum { MTE_REPORT_TEXT, MTE_REPORT_JSON };	/* report_format= */

extern const struct mte_option_desc mte_option_table[];
extern const size_t mte_option_count;

typedef void (*mte_warn_fn)(const char *msg);

void mte_options_defaults(struct mte_options *o);
/* Parse "k=v:k=v"; every problem is one call to warn; never fails. */
void mte_options_parse(struct mte_options *o, const char *str, mte_warn_fn warn);
/* Index of value in an "a|b|c" list, or -1. */
int mte_enum_index(const char *accepted, const char *value, size_t len);
/* Name of entry idx in an "a|b|c" list, copied into buf. */
const char *mte_enum_name(const char *accepted, unsigned idx, char *buf,
			  size_t size);

/* ---- stats.c: counters in a shared, versioned page (stats_page.h) ---- */

enum mte_stat_id {
#define STAT(name, help) MTE_STAT_##name,
#include "stats.inc"
#undef STAT
	MTE_STAT_COUNT
};

/* A stripe is padded to whole cache lines so threads never share one. */
#define MTE_STATS_STRIDE	((MTE_STAT_COUNT + 15) & ~15)

extern _Atomic uint64_t *mte_stats_stripes;	/* [stripe][STRIDE] */

void mte_stats_init(void);
void mte_stats_thread_init(void);	/* on a thread's first allocation */
void mte_stats_use_stripe(unsigned stripe);	/* this thread's, 0 shared */
void mte_stats_after_fork_child(void);
void mte_stats_set_state(unsigned mode, bool tagging);
uint64_t mte_stats_get(enum mte_stat_id id);
/* Format "mtealloc: stats: k=v ..." into buf; returns the length. */
size_t mte_stats_format(char *buf, size_t size);

/*
 * A thread that owns its stripe adds with a plain load and store (a
 * reader may see the old value, never a torn one); threads beyond the
 * stripes share stripe 0 and add atomically.  stripe is the thread's
 * mte_t.stats: a hot path that adds to several counters loads it once
 * and passes it to each, so that the compiler tests it once, not after
 * every store (under emulation each test ends a translation block).
 */
static inline __attribute__((always_inline))
void mte_stat_add_to(_Atomic uint64_t *stripe, enum mte_stat_id id, uint64_t n)
{
	if (likely(stripe))
		atomic_store_explicit(&stripe[id],
				atomic_load_explicit(&stripe[id],
					memory_order_relaxed) + n,
				memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&mte_stats_stripes[id], n,
					  memory_order_relaxed);
}

static inline void mte_stat_add(enum mte_stat_id id, uint64_t n)
{
	mte_stat_add_to(mte_t.stats, id, n);
}

/* ---- fmt.c: a small async-signal-safe formatter ---- */

size_t mte_vfmt(char *buf, size_t size, const char *fmt, va_list ap);
size_t mte_fmt(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- log.c: where messages go (stderr or log_path.<pid>) ---- */

void mte_log_init(void);
void mte_log_write(const char *buf, size_t len);
void mte_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mte_warn_line(const char *msg);	/* "mtealloc: warning: msg\n" */
void mte_log_after_fork_child(void);

/* ---- tags.c: tag choice, pure logic shared with the stubs and tests ---- */

/*
 * Tag 0 is never handed out: chunk headers and untagged memory carry it,
 * so an access that runs off a chunk into its header always faults.  The
 * neighbours' tags are excluded so that a linear overflow or underflow
 * into the next chunk always faults, and the chunk's previous tag so that
 * a stale pointer never matches the memory again.  Arguments < 0 mean
 * "unknown" and exclude nothing.  (heap.c adds the parity that keeps a
 * slab's neighbours apart without reading their tags.)
 */
static inline uint16_t mte_exclude_mask(int prev_tag, int next_tag, int old_tag)
{
	uint16_t mask = 1;

	if (prev_tag >= 0)
		mask |= (uint16_t)(1u << (prev_tag & 0xf));
	if (next_tag >= 0)
		mask |= (uint16_t)(1u << (next_tag & 0xf));
	if (old_tag >= 0)
		mask |= (uint16_t)(1u << (old_tag & 0xf));
	return mask;
}

unsigned mte_choose_tag(uint16_t exclude, uint64_t random);

/* ---- extent.c: jemalloc extent hooks, units, lazy PROT_MTE ---- */

struct mte_unit {
	uintptr_t base;
	size_t size;
	_Atomic unsigned state;		/* enum mte_unit_state */
};

enum mte_unit_state {
	MTE_UNIT_UNTAGGED, MTE_UNIT_ENABLING, MTE_UNIT_ENABLED, MTE_UNIT_FAILED,
};

#define MTE_VA_BITS	48
#define MTE_MAP_SHIFT	12	/* the page map's unit: 4 KiB, the smallest page */
#define MTE_LEAF_BITS	16

extern struct extent_hooks_s mte_extent_hooks;
extern unsigned mte_lg_page;
/* [address >> (MTE_MAP_SHIFT + LEAF_BITS)] -> leaf; NULL until start-up */
extern _Atomic(_Atomic uint32_t *) *mte_pagemap;
extern struct mte_unit *mte_units;	/* page-map entry n names unit n - 1 */
bool mte_extent_init(size_t page);

/*
 * The page-map entry of untagged address a: its unit index + 1, or 0 if
 * it is not heap memory of ours.  Read relaxed: the leaf, and then the
 * unit, are reached through what was read, address dependencies, which
 * order those reads after it (as the kernel's READ_ONCE); a leaf and the
 * entries in it are published with release stores.
 *
 * The _ready form is for paths that only run after start-up (the map
 * exists) and have checked that a is below 1 << MTE_VA_BITS: the
 * pass-through free(), where every instruction shows.
 */
static inline uint32_t mte_page_entry_ready(uintptr_t a)
{
	uintptr_t pg = a >> MTE_MAP_SHIFT;
	_Atomic uint32_t *leaf;

	leaf = atomic_load_explicit(&mte_pagemap[pg >> MTE_LEAF_BITS],
				    memory_order_relaxed);
	return leaf ? atomic_load_explicit(&leaf[pg &
			((1u << MTE_LEAF_BITS) - 1)], memory_order_relaxed) : 0;
}

static inline uint32_t mte_page_entry(uintptr_t a)
{
	if (unlikely(!mte_pagemap || a >> MTE_VA_BITS))
		return 0;
	return mte_page_entry_ready(a);
}

/* Is addr in memory our hooks mapped?  The free() path's check. */
static inline bool mte_in_heap(const void *addr)
{
	return mte_page_entry((uintptr_t)mte_untag(addr)) != 0;
}

/* The unit holding addr, or NULL if it is not heap memory of ours. */
static inline struct mte_unit *mte_unit_of(const void *addr)
{
	uint32_t idx = mte_page_entry((uintptr_t)mte_untag(addr));

	return idx ? &mte_units[idx - 1] : NULL;
}
/* Make [p, p + len) PROT_MTE if it is not yet; false if it cannot be. */
bool mte_extent_enable_slow(const void *p, size_t len);
/* Add PROT_MTE to every unit mapped so far; returns bytes enabled. */
size_t mte_extent_enable_all(void);

static inline bool mte_extent_enable(const void *p, size_t len)
{
	struct mte_unit *u = mte_unit_of(p);

	/*
	 * Relaxed: ENABLED is stored after mprotect() returned, and what
	 * follows here, tag stores, depends on this branch, so it cannot
	 * come first (an acquire is a barrier each time under emulation).
	 */
	if (likely(u && atomic_load_explicit(&u->state, memory_order_relaxed)
		   == MTE_UNIT_ENABLED &&
		   (uintptr_t)p + len <= u->base + u->size))
		return true;
	return mte_extent_enable_slow(p, len);
}

/* ---- backend.c: arenas and mallocx flags (with extent.c, the only
 * users of jemalloc.h) ---- */

bool mte_backend_init(unsigned narenas, const char **why);
/*
 * jemalloc sends requests from 8 MiB up (its default oversize_threshold)
 * to a huge arena of its own when no arena is named; ours must name one,
 * so its plain malloc() serves only sizes below this.
 */
#define MTE_JE_FAST_MAX (4UL << 20)
extern void *(*mte_je_malloc_fn)(size_t);	/* jemalloc's malloc(), or NULL */
extern void (*mte_je_free_fn)(void *);		/* jemalloc's free(), or NULL */
extern void *(*mte_je_calloc_fn)(size_t, size_t);	/* ... calloc() */
extern void *(*mte_je_realloc_fn)(void *, size_t);	/* ... realloc() */
bool mte_je_thread_fast(void);	/* bind this thread; may it use them? */
unsigned mte_je_narenas(void);
void *mte_je_alloc(size_t size, size_t align, bool zero);
void mte_je_free(void *p);
void mte_je_free_sized(void *p, size_t size, size_t align);
void *mte_je_realloc(void *p, size_t size);
/*
 * Resize p in place to hold size bytes (xallocx(): jemalloc can for a
 * large chunk only); returns its usable size after.
 */
size_t mte_je_expand(void *p, size_t size);
/* jemalloc's smallest large class: only large chunks resize in place. */
extern size_t mte_je_large_min;
size_t mte_je_usable(const void *p);
size_t mte_je_good_size_slow(size_t size, size_t align);
#define MTE_JE_CLASS_TABLE_MAX 32768	/* sizes below: from a table */
extern uint32_t mte_je_class_size[MTE_JE_CLASS_TABLE_MAX / 16 + 1];

/* jemalloc's usable size for a request: nallocx(), without the call. */
static inline size_t mte_je_good_size(size_t size, size_t align)
{
	if (likely(align <= 16 && size <= MTE_JE_CLASS_TABLE_MAX))
		return mte_je_class_size[(size + 15) / 16];
	return mte_je_good_size_slow(size, align);
}

/* ---- chunk.h / heap.c: chunks, tagged or not; pc is the caller's ---- */

void *mte_heap_alloc(size_t size, size_t align, bool zero, const void *pc);
void mte_heap_free(void *p, const void *pc);
void *mte_heap_realloc(void *p, size_t size, const void *pc);
size_t mte_heap_usable(const void *p, const void *pc);
struct mte_region;
/* The chunk whose header is the granule at g, if there is one. */
bool mte_chunk_at(uintptr_t g, struct mte_region *out);
uint32_t mte_chunk_alloc_ctx(const void *p);

/* ---- depot.c: deduplicated stacks; ids fit a chunk header's 28 bits ---- */

#define MTE_MAX_FRAMES	64
#define MTE_CTX_BITS	28
#define MTE_CTX_MASK	((1u << MTE_CTX_BITS) - 1)
#define CHUNK_CTX_LIMIT	MTE_CTX_MASK

struct mte_depot_rec {
	uint32_t hash;
	uint32_t tid;		/* the thread that was there */
	uint16_t depth;
	uint16_t pad[3];
	uintptr_t pcs[];
};

bool mte_depot_init(size_t bytes);
uint32_t mte_depot_put(uint32_t tid, const uintptr_t *pcs, unsigned n);
const struct mte_depot_rec *mte_depot_get(uint32_t id);

/* ---- trace.c: recording, unwinding and naming stacks (libunwind) ---- */

struct mte_frame {
	uintptr_t pc;
	char module[64];
	uintptr_t module_off;
	char function[128];	/* empty when unknown */
	uintptr_t function_off;
};

extern MTE_TLS uint32_t mte_tid;
void mte_trace_init(void);
uint32_t mte_thread_id_slow(void);

static inline uint32_t mte_thread_id(void)
{
	return likely(mte_tid) ? mte_tid : mte_thread_id_slow();
}

/* mte_trace_here(), which records a stack, is in trace.h */
unsigned mte_trace_current(uintptr_t *pcs, unsigned max, const void *caller);
unsigned mte_trace_signal(void *ucontext, uintptr_t *pcs, unsigned max);
void mte_symbolize(uintptr_t pc, bool return_addr, struct mte_frame *f);

/* ---- history.c: recently freed chunks ---- */

struct mte_region {
	bool known;
	bool freed;
	uintptr_t start;	/* untagged user address */
	size_t size;		/* requested size */
	size_t usable;		/* bytes tagged for it */
	unsigned tag;		/* the tag it had while live */
	uint32_t alloc_ctx, free_ctx;
};

bool mte_history_init(size_t entries);
/* mte_history_record() is in history.h */
bool mte_history_find(uintptr_t addr, unsigned tag, struct mte_region *out);

/* ---- classify.c / report.c / render.c: what went wrong, and saying it ---- */

enum mte_cause {
	MTE_CAUSE_USE_AFTER_FREE, MTE_CAUSE_OVERFLOW, MTE_CAUSE_UNDERFLOW,
	MTE_CAUSE_DOUBLE_FREE, MTE_CAUSE_INVALID_FREE, MTE_CAUSE_TAG_MISMATCH,
};

enum mte_access { MTE_ACCESS_UNKNOWN, MTE_ACCESS_READ, MTE_ACCESS_WRITE };

struct mte_report {
	enum mte_cause cause;
	uintptr_t addr;			/* as the program had it, tag included */
	bool addr_known;		/* false in async mode */
	uintptr_t pc;
	enum mte_access access;
	unsigned size;			/* bytes accessed; 0 when unknown */
	unsigned ptr_tag, mem_tag;
	bool mem_tag_known;
	struct mte_region region;
	const char *op;			/* "free", "realloc"... for bad frees */
	const char *why;		/* one sentence of detail */
	uint32_t tid;
	uintptr_t stack[MTE_MAX_FRAMES];
	unsigned depth;
	bool stack_from_signal;		/* stack[0] is the faulting pc itself */
	int si_code;
};

const char *mte_cause_name(enum mte_cause c);
/* Fill cause and region from addr and ptr_tag. */
void mte_classify(struct mte_report *r);
bool mte_chunk_containing(uintptr_t a, struct mte_region *c, uintptr_t *hdr);
/* Render r as text or JSON into buf; returns the length. */
size_t mte_render(const struct mte_report *r, bool json, char *buf,
		  size_t size);
/* Write a finished report, one at a time across threads. */
void mte_report_emit(struct mte_report *r);

/* ---- report.c: one function per error kind ---- */

/* While set, this thread's allocations come from api.c's detour buffer. */
extern MTE_TLS bool mte_detour;
#define MTE_FAST_OFF (~0u)	/* mte_g.fast_gen when no thread may use it */
#define MTE_FAST_TAGGED (~1u)	/* ... and when tagging is on (api.c) */

/* Start detouring this thread's allocations; returns the old state. */
static inline bool mte_detour_enter(void)
{
	bool was = mte_detour;

	mte_detour = true;
	mte_t.fast = 0;		/* the fast path does not look at mte_detour */
	return was;
}

/* Bad frees: report, then abort (or, with recover=1, return). */
void mte_report_invalid_free(const void *p, const void *pc, const char *op,
			     const char *why, const struct mte_region *chunk);
void mte_report_double_free(const void *p, const void *pc, const char *op,
			    const char *why, const struct mte_region *chunk);
void mte_report_tag_fault(struct mte_report *r);

/* ---- fault.c: the SIGSEGV handler ---- */

extern MTE_TLS bool mte_thread_recovered;	/* recover=1 turned checks off */
bool mte_fault_init(void);
void mte_fault_thread_init(void);

/* ---- init.c: start-up, capability detection, modes ---- */

enum mte_init_state { MTE_INIT_NONE, MTE_INIT_RUNNING, MTE_INIT_DONE };

struct mte_global {
	_Atomic int init_state;
	_Atomic pid_t init_owner;
	bool hw_mte;		/* the CPU and kernel offer MTE */
	bool hw_mte3;		/* ... and asymmetric mode */
	_Atomic bool tagging;	/* new allocations are tagged */
	_Atomic unsigned mode;	/* effective enum mtealloc_mode */
	_Atomic unsigned mode_gen;	/* bumped when threads must re-prctl */
	_Atomic unsigned fast_gen;	/* mode_gen while the fast path may run,
					 * MTE_FAST_TAGGED while tagging is on */
	bool ever_tagged;	/* tagging was on once: tags may be stale */
	const char *why_untagged;
	uint64_t secret;	/* keys chunk header checksums */
	struct mte_options opt;
};

extern struct mte_global mte_g;
extern MTE_TLS unsigned mte_thread_gen;

void mte_init_slow(void);
bool mte_init_reentrant(void);	/* this thread is inside mte_init_slow() */
void mte_thread_apply_mode(void);
const char *mte_mode_name(unsigned mode);

static inline void mte_ensure_init(void)
{
	if (unlikely(atomic_load_explicit(&mte_g.init_state,
			memory_order_acquire) != MTE_INIT_DONE))
		mte_init_slow();
}

static inline void mte_thread_check(void)
{
	if (unlikely(mte_thread_gen != atomic_load_explicit(&mte_g.mode_gen,
			memory_order_relaxed)))
		mte_thread_apply_mode();
}

#pragma GCC visibility pop

#endif /* MTEALLOC_INTERNAL_H */
