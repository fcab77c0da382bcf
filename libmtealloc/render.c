/*
 * render.c - a report (struct mte_report) as text for a person, or as one
 * JSON object for a crash pipeline, from the same fields.  Everything here
 * formats into a caller's buffer with mte_fmt(): no malloc, no stdio, so
 * it runs inside the SIGSEGV handler.
 */
#include <stdarg.h>
#include <string.h>
#include <sys/prctl.h>

#include "internal.h"

#define TAG_ROWS	3	/* rows of 16 granules around the fault */

struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->len + 1 >= o->size)
		return;
	va_start(ap, fmt);
	o->len += mte_vfmt(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
}

const char *mte_cause_name(enum mte_cause c)
{
	static const char *const names[] = {
		[MTE_CAUSE_USE_AFTER_FREE] = "use-after-free",
		[MTE_CAUSE_OVERFLOW] = "heap-buffer-overflow",
		[MTE_CAUSE_UNDERFLOW] = "heap-buffer-underflow",
		[MTE_CAUSE_DOUBLE_FREE] = "double-free",
		[MTE_CAUSE_INVALID_FREE] = "invalid-free",
		[MTE_CAUSE_TAG_MISMATCH] = "tag-mismatch",
	};
	return names[c];
}

static const char *access_name(enum mte_access a)
{
	return a == MTE_ACCESS_READ ? "read" : a == MTE_ACCESS_WRITE ? "write"
								 : NULL;
}

/* Where a falls relative to the region: inside, right or left, and by how much. */
static const char *relation(const struct mte_report *r, uintptr_t *dist)
{
	uintptr_t a = (uintptr_t)mte_untag((void *)r->addr);
	uintptr_t s = r->region.start, e = s + r->region.size;

	if (a < s) {
		*dist = s - a;
		return "to the left of";
	}
	if (a >= e && !(r->region.size == 0 && a == s)) {
		*dist = a - e;
		return "to the right of";
	}
	*dist = a - s;
	return "inside";
}

static long tagged_addr_ctrl(void)
{
	return prctl(MTE_PR_GET_TAGGED_ADDR_CTRL, 0, 0, 0, 0);
}

/* ---- text ---- */

static void text_stack(struct out *o, const uintptr_t *pcs, unsigned n,
		       bool first_is_pc)
{
	struct mte_frame f;
	unsigned i;

	for (i = 0; i < n; i++) {
		mte_symbolize(pcs[i], !(first_is_pc && i == 0), &f);
		put(o, "    #%u %p in %s", i, (void *)f.pc,
		    f.function[0] ? f.function : "??");
		if (f.function[0])
			put(o, "+%#lx", (unsigned long)f.function_off);
		if (f.module[0])
			put(o, " (%s+%#lx)", f.module,
			    (unsigned long)f.module_off);
		put(o, "\n");
	}
	if (!n)
		put(o, "    (no stack recorded: alloc_traces=0, or the depot "
		    "is full)\n");
}

static void text_ctx(struct out *o, const char *what, uint32_t ctx)
{
	const struct mte_depot_rec *d = mte_depot_get(ctx);

	if (!d) {
		put(o, "%s: (not recorded)\n", what);
		return;
	}
	put(o, "%s by thread T%u here:\n", what, d->tid);
	text_stack(o, d->pcs, d->depth, false);
}

/* The first row (0x100 bytes) of the tag map around the granule g. */
static uintptr_t tag_map_start(uintptr_t g)
{
	return (g & ~(uintptr_t)0xff) - 0x100 * (TAG_ROWS / 2);
}

static void text_tags(struct out *o, uintptr_t a)
{
	uintptr_t g = a & ~(MTE_GRANULE - 1), row, p;
	int i;

	put(o, "memory tags around the fault address (one per 16-byte "
	    "granule; [] marks it, . is not heap):\n");
	row = tag_map_start(g);
	for (i = 0; i < TAG_ROWS; i++, row += 0x100) {
		put(o, "  %p:", (void *)row);
		for (p = row; p < row + 0x100; p += MTE_GRANULE) {
			char t = mte_unit_of((void *)p) ?
				 "0123456789abcdef"[mte_mem_tag((void *)p)] : '.';

			if (p == g)
				put(o, " [%c]", t);
			else
				put(o, "  %c ", t);
		}
		put(o, "\n");
	}
}

static void render_text(const struct mte_report *r, struct out *o)
{
	uintptr_t a = (uintptr_t)mte_untag((void *)r->addr), dist;
	const char *acc = access_name(r->access);

	put(o, "ERROR: mtealloc: %s on address %p at pc %p\n",
	    mte_cause_name(r->cause), (void *)(r->addr_known ? r->addr : 0),
	    (void *)r->pc);
	if (r->op)
		put(o, "%s(%p) by thread T%u: %s.\n", r->op, (void *)r->addr,
		    r->tid, r->why);
	else if (!r->addr_known)
		put(o, "%s by thread T%u at an unknown address: mode=async "
		    "reports tag-check faults without one. Run again with "
		    "MTEALLOC_OPTIONS=mode=sync to find the exact access.\n",
		    acc ? acc : "an access", r->tid);
	else {
		if (acc && r->size)
			put(o, "%s of size %u", acc[0] == 'r' ? "READ" : "WRITE",
			    r->size);
		else if (acc)
			put(o, "%s", acc[0] == 'r' ? "READ" : "WRITE");
		else
			put(o, "access (read or write unknown)");
		put(o, " at %p by thread T%u\n", (void *)r->addr, r->tid);
		if (r->why)
			put(o, "%s.\n", r->why);
	}
	if (r->addr_known && r->mem_tag_known)
		put(o, "pointer tag %#x, memory tag %#x\n", r->ptr_tag, r->mem_tag);
	else if (r->addr_known)
		put(o, "pointer tag %#x\n", r->ptr_tag);
	if (r->region.known) {
		const char *rel = relation(r, &dist);

		put(o, "%p is %lu bytes %s a %lu-byte region [%p, %p)%s\n",
		    (void *)a, (unsigned long)dist, rel,
		    (unsigned long)r->region.size, (void *)r->region.start,
		    (void *)(r->region.start + r->region.size),
		    r->region.freed ? ", freed" : "");
		if (r->region.freed)
			text_ctx(o, "freed", r->region.free_ctx);
		text_ctx(o, r->region.freed ? "previously allocated" :
			 "allocated", r->region.alloc_ctx);
	}
	put(o, "%s thread T%u:\n", r->op ? "called from" : "faulting", r->tid);
	text_stack(o, r->stack, r->depth, r->stack_from_signal);
	if (r->addr_known && mte_unit_of((void *)a))
		text_tags(o, a);
	put(o, "mode: %s; tagged address control %#lx\n",
	    mte_mode_name(atomic_load(&mte_g.mode)), tagged_addr_ctrl());
}

/* ---- JSON ---- */

static void json_str(struct out *o, const char *s)
{
	put(o, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			put(o, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			put(o, "\\u%04x", (unsigned)(unsigned char)*s);
		else
			put(o, "%c", *s);
	}
	put(o, "\"");
}

static void json_opt_str(struct out *o, const char *s)
{
	if (s)
		json_str(o, s);
	else
		put(o, "null");
}

static void json_opt_uint(struct out *o, bool known, unsigned v)
{
	if (known)
		put(o, "%u", v);
	else
		put(o, "null");
}

static void json_stack(struct out *o, const uintptr_t *pcs, unsigned n,
		       bool first_is_pc)
{
	struct mte_frame f;
	unsigned i;

	put(o, "[");
	for (i = 0; i < n; i++) {
		mte_symbolize(pcs[i], !(first_is_pc && i == 0), &f);
		put(o, "%s{\"pc\":\"%p\",\"function\":", i ? "," : "",
		    (void *)f.pc);
		if (f.function[0])
			json_str(o, f.function);
		else
			put(o, "null");
		put(o, ",\"offset\":%lu,\"module\":", (unsigned long)f.function_off);
		json_str(o, f.module);
		put(o, ",\"module_offset\":%lu}", (unsigned long)f.module_off);
	}
	put(o, "]");
}

static void json_ctx(struct out *o, const char *key, uint32_t ctx)
{
	const struct mte_depot_rec *d = mte_depot_get(ctx);

	put(o, ",\"%s\":", key);
	if (!d) {
		put(o, "null");
		return;
	}
	put(o, "{\"thread\":%u,\"stack\":", d->tid);
	json_stack(o, d->pcs, d->depth, false);
	put(o, "}");
}

static void render_json(const struct mte_report *r, struct out *o)
{
	uintptr_t a = (uintptr_t)mte_untag((void *)r->addr), dist, p;
	const char *acc = access_name(r->access);

	put(o, "{\"error\":\"mtealloc\",\"cause\":\"%s\",\"address\":",
	    mte_cause_name(r->cause));
	if (r->addr_known)
		put(o, "\"%p\"", (void *)r->addr);
	else
		put(o, "null");
	put(o, ",\"pc\":\"%p\",\"thread\":%u,\"access\":", (void *)r->pc, r->tid);
	json_opt_str(o, acc);
	put(o, ",\"size\":");
	json_opt_uint(o, r->size != 0, r->size);
	put(o, ",\"pointer_tag\":");
	json_opt_uint(o, r->addr_known, r->ptr_tag);
	put(o, ",\"memory_tag\":");
	json_opt_uint(o, r->mem_tag_known, r->mem_tag);
	put(o, ",\"operation\":");
	json_opt_str(o, r->op);
	put(o, ",\"detail\":");
	json_opt_str(o, r->why);
	put(o, ",\"region\":");
	if (r->region.known) {
		const char *rel = relation(r, &dist);

		put(o, "{\"start\":\"%p\",\"size\":%lu,\"relation\":\"%s\","
		    "\"distance\":%lu,\"freed\":%s}", (void *)r->region.start,
		    (unsigned long)r->region.size,
		    rel[0] == 'i' ? "inside" : rel[3] == 'r' ? "right" : "left",
		    (unsigned long)dist, r->region.freed ? "true" : "false");
		json_ctx(o, "allocated", r->region.alloc_ctx);
		if (r->region.freed)
			json_ctx(o, "freed", r->region.free_ctx);
		else
			put(o, ",\"freed\":null");
	} else {
		put(o, "null,\"allocated\":null,\"freed\":null");
	}
	put(o, ",\"stack\":");
	json_stack(o, r->stack, r->depth, r->stack_from_signal);
	put(o, ",\"tags\":");
	if (r->addr_known && mte_unit_of((void *)a)) {
		uintptr_t g = a & ~(MTE_GRANULE - 1);
		uintptr_t row = tag_map_start(g);

		put(o, "{\"start\":\"%p\",\"fault_index\":%lu,\"granules\":\"",
		    (void *)row, (unsigned long)((g - row) / MTE_GRANULE));
		for (p = row; p < row + 0x100 * TAG_ROWS; p += MTE_GRANULE)
			put(o, "%c", mte_unit_of((void *)p) ?
			    "0123456789abcdef"[mte_mem_tag((void *)p)] : '.');
		put(o, "\"}");
	} else {
		put(o, "null");
	}
	put(o, ",\"mode\":\"%s\",\"tagged_addr_ctrl\":\"%#lx\"}\n",
	    mte_mode_name(atomic_load(&mte_g.mode)), tagged_addr_ctrl());
}

size_t mte_render(const struct mte_report *r, bool json, char *buf,
		  size_t size)
{
	struct out o = { buf, size, 0 };

	if (json)
		render_json(r, &o);
	else
		render_text(r, &o);
	return o.len;
}
