/*
 * trace.c - stacks: recording them at malloc and free, unwinding the
 * faulting thread from its signal frame, and naming their frames.
 * Recording walks AArch64 frame records where it can (fast, bounded by
 * the thread's stack), and uses libunwind otherwise; signal frames and
 * names are libunwind's, plus dladdr() for the module of a frame.
 *
 * Recorded stacks start at the program's own frame: the leading frames
 * down to the API's caller are dropped, so the depot holds only what a
 * reader wants.  Recording is skipped on a thread that is already inside
 * it, so an unwinder that allocates cannot recurse.
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <link.h>
#include <libunwind.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "trace.h"

static uintptr_t self_start, self_end;	/* our own text */
static uintptr_t bt_adjust;	/* added to unw_backtrace()'s pcs, see below */
static _Atomic bool bt_probed;
MTE_TLS bool mte_trace_busy;
MTE_TLS uint32_t mte_tid;

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t here = (uintptr_t)arg;
	int i;

	(void)size;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) &&
		    here >= lo && here < lo + ph->p_memsz) {
			self_start = lo;
			self_end = lo + ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

/*
 * Some libunwind ports (aarch64) report a caller's frame as its return
 * address minus one, others as the return address.  Find out once, so
 * that every recorded pc is a true return address.
 */
__attribute__((noinline)) static void probe_backtrace(void)
{
	void *pcs[4], *ra = __builtin_return_address(0);

	if (unw_backtrace(pcs, 4) >= 2 && (char *)pcs[1] + 1 == (char *)ra)
		bt_adjust = 1;
	atomic_store(&bt_probed, true);
}

/* unw_backtrace(), on first use finding out how it reports callers. */
static unsigned backtrace_unw(void **pcs, unsigned max)
{
	if (unlikely(!atomic_load(&bt_probed))) {
		probe_backtrace();
		__asm__ volatile("" ::: "memory");	/* keep our frame */
	}
	return (unsigned)unw_backtrace(pcs, (int)max);
}

void mte_trace_init(void)
{
	dl_iterate_phdr(find_self, (void *)(uintptr_t)mte_trace_init);
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

uint32_t mte_thread_id_slow(void)
{
	mte_tid = (uint32_t)syscall(SYS_gettid);
	return mte_tid;
}

static bool ours(uintptr_t pc)
{
	return pc >= self_start && pc < self_end;
}

#if defined(__aarch64__)
/*
 * The fast path for recording: walk the frame records (x29, x30) that
 * AArch64 code keeps in every function that calls another (GCC's default
 * at every optimisation level), from our own frame up.  Reads stay inside
 * this thread's stack, found once per thread (find_stack_end()), so a
 * broken chain ends the walk instead of faulting.  A thread whose
 * stack is unknown, or that runs on another stack (a signal stack, a
 * coroutine), uses libunwind.
 */
MTE_TLS uintptr_t mte_stack_hi;		/* trace.h */

/* The end of the mapping that holds sp, from /proc/self/maps; 1 if none. */
static uintptr_t maps_stack_end(uintptr_t sp)
{
	char buf[4096];
	size_t have = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 1;
	while ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		char *line = buf, *nl;

		have += (size_t)n;
		buf[have] = '\0';
		while ((nl = strchr(line, '\n'))) {
			uintptr_t lo = 0, hi = 0;
			char *p = line;

			for (; *p && *p != '-'; p++)
				lo = lo * 16 + (uintptr_t)(*p <= '9' ? *p - '0' : (*p | 32) - 'a' + 10);
			for (p++; *p && *p != ' '; p++)
				hi = hi * 16 + (uintptr_t)(*p <= '9' ? *p - '0' : (*p | 32) - 'a' + 10);
			if (sp >= lo && sp < hi) {
				close(fd);
				return hi;
			}
			line = nl + 1;
		}
		have -= (size_t)(line - buf);	/* keep the partial line */
		memmove(buf, line, have);
	}
	close(fd);
	return 1;
}

extern void *__libc_stack_end __attribute__((weak));	/* glibc's ld.so */

/*
 * The end of this thread's stack, which holds sp; 1 if unknown.  Reading
 * /proc/self/maps costs milliseconds under qemu-user, which makes it up
 * line by line, so it is the last resort: the initial thread's stack ends
 * at the page that holds glibc's __libc_stack_end (the stack pointer at
 * start-up; above it are only the arguments and environment), and a
 * thread glibc made knows its own stack (pthread_getattr_np() may
 * allocate; it runs under the recording guard).
 */
static uintptr_t find_stack_end(uintptr_t sp)
{
	uintptr_t page = (uintptr_t)1 << mte_lg_page, hi;
	pthread_attr_t a;
	size_t size;
	void *lo;

	if (mte_thread_id() == (uint32_t)getpid()) {
		if (&__libc_stack_end && __libc_stack_end) {
			hi = ((uintptr_t)__libc_stack_end + page) & ~(page - 1);
			if (sp < hi)
				return hi;
		}
	} else if (!pthread_getattr_np(pthread_self(), &a)) {
		int err = pthread_attr_getstack(&a, &lo, &size);

		pthread_attr_destroy(&a);
		if (!err && sp >= (uintptr_t)lo && sp - (uintptr_t)lo < size)
			return (uintptr_t)lo + size;
	}
	return maps_stack_end(sp);
}

/*
 * Walk the frame records into pcs.  With a caller, the frames before it
 * (the allocator's own, at most 8 of them) are dropped as the walk goes,
 * and max counts only the frames kept; *found says whether the caller
 * was met.  Without one, every frame is kept.
 */
static unsigned fp_backtrace(void **pcs, unsigned max, const void *caller,
			     bool *found)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0), hi;
	/* our own frame record is the lowest; the API's, when it said */
	uintptr_t fp = caller && mte_t.api_frame ? (uintptr_t)mte_t.api_frame
						 : sp;
	unsigned n = 0, dropped = 0;
	bool keep = !caller;

	if (!mte_stack_hi)
		mte_stack_hi = find_stack_end(sp);
	hi = mte_stack_hi;
	if (hi == 1 || sp >= hi || hi - sp > (64UL << 20))
		return 0;			/* not on the thread's stack */
	if (fp < sp || fp + 16 > hi || (fp & 15))
		return 0;
	while (n < max) {
		uintptr_t next = ((uintptr_t *)fp)[0], lr = ((uintptr_t *)fp)[1];

		if (!lr)
			break;
		if (!keep && (void *)lr == caller)
			keep = true;
		if (keep)
			pcs[n++] = (void *)lr;
		else if (++dropped > 8)
			break;
		if (!mte_fp_next_ok(next, fp, hi))
			break;
		fp = next;
	}
	*found = keep;
	return n;
}

/* (trace.h) */
unsigned mte_fp_walk_from(void **pcs, unsigned max, uintptr_t fp)
{
	uintptr_t hi = mte_stack_hi, next;
	unsigned n = 0;

	do {
		uintptr_t lr = ((uintptr_t *)fp)[1];

		if (!lr)
			break;
		pcs[n++] = (void *)lr;
		next = ((uintptr_t *)fp)[0];
		if (!mte_fp_next_ok(next, fp, hi))
			break;
		fp = next;
	} while (n < max);
	return n;
}

MTE_TLS const struct mte_depot_rec *mte_trace_last_rec[MTE_TRACE_LAST_SLOTS];
MTE_TLS uint32_t mte_trace_last_id[MTE_TRACE_LAST_SLOTS];
#endif

/*
 * Drop the leading frames that are the allocator's own: up to the frame
 * of the caller of the API (its return address, when the API passed it),
 * or else every frame inside our module.  If neither rule leaves a frame
 * (a static link puts us in the program's module), keep them all.
 */
static unsigned first_frame(void **pcs, unsigned n, const void *caller,
			    uintptr_t adjust)
{
	unsigned i;

	for (i = 0; i < n; i++)
		pcs[i] = (char *)pcs[i] + adjust;
	for (i = 0; caller && i < n; i++)
		if (pcs[i] == caller)
			return i;
	for (i = 0; i < n && ours((uintptr_t)pcs[i]); i++)
		;
	return i < n ? i : 0;
}

uint32_t mte_trace_record(const void *caller)
{
	void *pcs[MTE_MAX_FRAMES + 8];
	unsigned skip, n, depth = mte_g.opt.stack_depth;
	uint32_t id;

	mte_stat_add(MTE_STAT_stacks_walked, 1);
#if defined(__aarch64__)
	{
		/* a new stack at a call site: walked again, stored, remembered */
		uintptr_t fp = mte_fp_start(caller);	/* 0 for a NULL caller */

		n = fp ? mte_fp_walk_from(pcs, depth, fp) : 0;
		if (likely(n)) {	/* the depot never allocates: no guard */
			unsigned s = mte_trace_slot(fp, mte_stack_hi);

			id = mte_depot_put(mte_thread_id(), (uintptr_t *)pcs, n);
			mte_trace_last_rec[s] = mte_depot_get(id);
			mte_trace_last_id[s] = id;
			return id;
		}
	}
#endif
	mte_trace_busy = true;
	n = 0;
#if defined(__aarch64__)
	{
		bool found;

		skip = 0;
		n = caller ? fp_backtrace(pcs, depth, caller, &found) : 0;
		if (n && found)
			goto recorded;	/* already starts at the caller */
		/* no caller, or not met: drop our own frames by address */
		n = fp_backtrace(pcs, depth + 8, NULL, &found);
		skip = first_frame(pcs, n, NULL, 0);
		if (skip)
			goto recorded;
	}
#endif
	n = backtrace_unw(pcs, depth + 8);
	skip = first_frame(pcs, n, caller, bt_adjust);
#if defined(__aarch64__)
recorded:
#endif
	n -= skip;
	if (n > depth)
		n = depth;
	id = mte_depot_put(mte_thread_id(), (uintptr_t *)pcs + skip, n);
	mte_trace_busy = false;
	return id;
}

unsigned mte_trace_signal(void *ucontext, uintptr_t *pcs, unsigned max)
{
	unw_cursor_t c;
	unw_word_t ip;
	unsigned n = 0;

	if (unw_init_local2(&c, (unw_context_t *)ucontext,
			    UNW_INIT_SIGNAL_FRAME) < 0)
		return 0;
	do {
		if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || !ip)
			break;
		pcs[n++] = (uintptr_t)ip;
	} while (n < max && unw_step(&c) > 0);
	return n;
}

unsigned mte_trace_current(uintptr_t *pcs, unsigned max, const void *caller)
{
	void *raw[MTE_MAX_FRAMES + 8];
	unsigned skip, n, i;

	n = backtrace_unw(raw, max + 8 < MTE_MAX_FRAMES + 8 ?
				max + 8 : MTE_MAX_FRAMES + 8);
	skip = first_frame(raw, n, caller, bt_adjust);
	for (i = 0; skip + i < n && i < max; i++)
		pcs[i] = (uintptr_t)raw[skip + i];
	return i;
}

/*
 * Name the code at pc.  A return address is looked up one byte back, so
 * that a call at the very end of a function is not blamed on the next.
 * A cursor made by unw_init_local() itself looks up "ip - 1", so it is
 * given look + 1, and the offset it returns is made relative to pc.
 */
void mte_symbolize(uintptr_t pc, bool return_addr, struct mte_frame *f)
{
	unw_context_t uc;
	unw_cursor_t c;
	unw_word_t off = 0;
	uintptr_t look = return_addr ? pc - 1 : pc;
	Dl_info info;
	bool have = dladdr((void *)look, &info) != 0;

	memset(f, 0, sizeof(*f));
	f->pc = pc;
	if (have && info.dli_fname) {
		const char *slash = strrchr(info.dli_fname, '/');

		strncpy(f->module, slash ? slash + 1 : info.dli_fname,
			sizeof(f->module) - 1);
		f->module_off = pc - (uintptr_t)info.dli_fbase;
	}
	if (unw_getcontext(&uc) == 0 && unw_init_local(&c, &uc) == 0 &&
	    unw_set_reg(&c, UNW_REG_IP, (unw_word_t)look + 1) == 0 &&
	    unw_get_proc_name(&c, f->function, sizeof(f->function), &off) == 0) {
		f->function_off = off + pc - (look + 1);
		return;
	}
	f->function[0] = '\0';
	if (have && info.dli_sname) {
		strncpy(f->function, info.dli_sname, sizeof(f->function) - 1);
		f->function_off = pc - (uintptr_t)info.dli_saddr;
	}
}
