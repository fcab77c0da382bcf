/*
 * fault.c - the SIGSEGV handler: a tag-check fault becomes a report, and
 * every other SIGSEGV goes where it would have gone without us.
 *
 * Our handler stays installed in the kernel for the life of the process.
 * A program (or library) that installs its own SIGSEGV handler with
 * sigaction() or signal() reaches our versions of those, which keep its
 * handler as "the program's" and chain to it, instead of letting it
 * replace ours and hide the reports.  A handler installed before us is
 * chained in the same way.
 *
 * After a tag-check fault has been reported:
 *   - recover=1: tag checks are switched off for the faulting thread
 *     (prctl TCF_NONE), and the access is performed unchecked;
 *   - else, if the program has a handler, it is called (it may longjmp);
 *   - else the default action runs: the process dies of SIGSEGV, with a
 *     core dump where enabled, as it would without us.
 * A sync fault that comes back (same thread, pc and address) because a
 * handler returned is not reported again; after MAX_REPLAYS returns the
 * default action runs, so the process never loops forever.
 *
 * The handler runs on a per-thread alternate stack, allocates nothing and
 * uses no stdio.  A fault inside it prints one line and ends the process.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"

#ifndef SA_EXPOSE_TAGBITS
#define SA_EXPOSE_TAGBITS	0x00000800	/* keep the tag in si_addr */
#endif
#define ALTSTACK_SIZE		(256 * 1024)
#define MAX_REPLAYS		8
#define ESR_MAGIC		0x45535201
#define ESR_WNR			(1UL << 6)

#define EXPORT __attribute__((visibility("default")))

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

static sigaction_fn real_sigaction;
static struct sigaction program_action;	/* the program's SIGSEGV handler */
static _Atomic bool installed;
static pthread_key_t altstack_key;

static MTE_TLS unsigned depth;		/* > 0 while in our handler */
static MTE_TLS uintptr_t last_pc, last_addr;
static MTE_TLS unsigned replays;
MTE_TLS bool mte_thread_recovered;

static sigaction_fn get_real_sigaction(void)
{
	if (!real_sigaction)
		real_sigaction = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
	return real_sigaction;
}

static void say(const char *msg)
{
	mte_log_write(msg, strlen(msg));
}

/* End the process with the default action of SIGSEGV. */
static void die(const siginfo_t *si)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	get_real_sigaction()(SIGSEGV, &dfl, NULL);
	/* A synchronous fault comes back by itself when we return. */
	if (si->si_code <= 0 || si->si_code == MTE_SEGV_MTEAERR)
		raise(SIGSEGV);
}

static bool program_has_handler(void)
{
	return (program_action.sa_flags & SA_SIGINFO) ?
	       program_action.sa_sigaction != NULL :
	       program_action.sa_handler != SIG_DFL &&
	       program_action.sa_handler != SIG_IGN;
}

/* Call the program's handler as the kernel would have. */
static void call_program(int sig, siginfo_t *si, void *uc)
{
	struct sigaction pa = program_action;
	sigset_t mask, old;

	if (pa.sa_flags & SA_RESETHAND) {
		memset(&program_action, 0, sizeof(program_action));
		program_action.sa_handler = SIG_DFL;
	}
	mask = pa.sa_mask;
	if (!(pa.sa_flags & SA_NODEFER))
		sigaddset(&mask, sig);
	pthread_sigmask(SIG_BLOCK, &mask, &old);
	if (pa.sa_flags & SA_SIGINFO)
		pa.sa_sigaction(sig, si, uc);
	else
		pa.sa_handler(sig);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static uintptr_t pc_of(void *uc)
{
#if defined(__aarch64__)
	return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.pc;
#elif defined(__x86_64__)
	return (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
#else
	(void)uc;
	return 0;
#endif
}

/* The ESR the kernel put in the signal frame, or 0. */
static uint64_t esr_of(void *uc)
{
#if defined(__aarch64__)
	struct ctx { uint32_t magic, size; };
	mcontext_t *mc = &((ucontext_t *)uc)->uc_mcontext;
	char *p = (char *)mc->__reserved, *end = p + sizeof(mc->__reserved);

	while (p + sizeof(struct ctx) <= end) {
		struct ctx *h = (struct ctx *)p;

		if (!h->magic || h->size < sizeof(*h))
			break;
		if (h->magic == ESR_MAGIC)
			return *(uint64_t *)(p + sizeof(*h));
		p += h->size;
	}
#endif
	(void)uc;
	return 0;
}

/*
 * The faulting load or store's direction and size, decoded from the
 * instruction (the ESR of a tag-check fault carries no size).  Covers the
 * single-register and pair load/store classes (Arm ARM C4.1.66).
 */
static void decode_access(uint32_t insn, enum mte_access *acc, unsigned *size)
{
	unsigned sz = insn >> 30, opc = (insn >> 22) & 3, v = (insn >> 26) & 1;

	if ((insn & 0x3b000000) == 0x39000000 ||	/* unsigned offset */
	    (insn & 0x3b200000) == 0x38000000 ||	/* unscaled, pre, post */
	    (insn & 0x3b200c00) == 0x38200800) {	/* register offset */
		*size = v && (opc & 2) ? 16 : 1u << sz;
		*acc = (v ? (opc & 1) : opc != 0) ? MTE_ACCESS_READ
						  : MTE_ACCESS_WRITE;
	} else if ((insn & 0x3a000000) == 0x28000000) {	/* pairs */
		*size = 2 * (v ? 4u << sz : (sz & 2) ? 8 : 4);
		*acc = (insn >> 22) & 1 ? MTE_ACCESS_READ : MTE_ACCESS_WRITE;
	} else if ((insn & 0x3f000000) == 0x08000000) {	/* exclusive, acq/rel */
		*size = 1u << sz;
		*acc = (insn >> 22) & 1 ? MTE_ACCESS_READ : MTE_ACCESS_WRITE;
	}
}

static void handle_tag_fault(int sig, siginfo_t *si, void *uc)
{
	bool sync = si->si_code == MTE_SEGV_MTESERR;
	uintptr_t pc = pc_of(uc), addr = (uintptr_t)si->si_addr;
	struct mte_report r;
	uint64_t esr;

	if (sync && pc == last_pc && addr == last_addr) {
		mte_stat_add(MTE_STAT_faults_replayed, 1);
		if (++replays >= MAX_REPLAYS) {
			say("mtealloc: the same tag-check fault came back "
			    "8 times; ending the process\n");
			die(si);
			return;
		}
	} else {
		last_pc = pc;
		last_addr = addr;
		replays = 0;
		memset(&r, 0, sizeof(r));
		r.addr = addr;
		r.addr_known = sync && addr;
		r.ptr_tag = mte_ptr_tag((void *)addr);
		r.pc = pc;
		r.si_code = si->si_code;
		r.tid = mte_thread_id();
		if (sync) {
			decode_access(*(const uint32_t *)pc, &r.access, &r.size);
			if ((esr = esr_of(uc)))
				r.access = esr & ESR_WNR ? MTE_ACCESS_WRITE
							 : MTE_ACCESS_READ;
		}
		r.depth = mte_trace_signal(uc, r.stack, mte_g.opt.stack_depth);
		r.stack_from_signal = true;
		mte_report_tag_fault(&r);
	}
	if (mte_g.opt.recover) {
		/* This thread goes on unchecked; see libmtealloc(3), recover. */
		mte_thread_recovered = true;
		prctl(MTE_PR_SET_TAGGED_ADDR_CTRL, MTE_PR_TAGGED_ADDR_ENABLE |
		      MTE_PR_TCF_NONE | (0xfffeUL << MTE_PR_TAG_SHIFT), 0, 0, 0);
		return;
	}
	if (program_has_handler()) {
		depth--;	/* it may longjmp out and never come back */
		mte_detour = false;
		call_program(sig, si, uc);
		depth++;
		return;
	}
	die(si);
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	bool detour = mte_detour;	/* as it was: restored on the way out */

	if (depth++) {
		char line[160];

		mte_fmt(line, sizeof(line), "mtealloc: SIGSEGV (code %d, address "
			"%p) inside the fault handler; ending the process\n",
			si->si_code, si->si_addr);
		say(line);
		die(si);
		return;
	}
	if (si->si_code == MTE_SEGV_MTESERR || si->si_code == MTE_SEGV_MTEAERR) {
		mte_detour_enter();
		handle_tag_fault(sig, si, uc);
		mte_detour = detour;
	}
	else if (program_has_handler()) {
		depth--;
		call_program(sig, si, uc);	/* not ours: the program's */
		depth++;
	} else if (program_action.sa_handler == SIG_IGN && si->si_code <= 0) {
		/* a SIGSEGV sent by kill(), and the program ignores it */
	} else {
		die(si);
	}
	depth--;
	errno = saved;
}

static void free_altstack(void *mem)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	sigaltstack(&ss, NULL);
	munmap(mem, ALTSTACK_SIZE);
}

/* Give this thread an alternate signal stack, unless it has one. */
void mte_fault_thread_init(void)
{
	stack_t ss, old;
	void *mem;

	if (!atomic_load(&installed) || sigaltstack(NULL, &old) ||
	    !(old.ss_flags & SS_DISABLE))
		return;
	mem = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return;
	ss.ss_sp = mem;
	ss.ss_size = ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) == 0)
		pthread_setspecific(altstack_key, mem);
	else
		munmap(mem, ALTSTACK_SIZE);
}

bool mte_fault_init(void)
{
	struct sigaction sa;

	if (!get_real_sigaction() ||
	    pthread_key_create(&altstack_key, free_altstack))
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART |
		      SA_EXPOSE_TAGBITS;
	sigemptyset(&sa.sa_mask);
	if (real_sigaction(SIGSEGV, &sa, &program_action)) {
		sa.sa_flags &= ~SA_EXPOSE_TAGBITS;	/* kernel before 5.11 */
		if (real_sigaction(SIGSEGV, &sa, &program_action))
			return false;
	}
	atomic_store(&installed, true);
	mte_fault_thread_init();
	return true;
}

/* ---- the program's view of SIGSEGV ---- */

EXPORT int sigaction(int sig, const struct sigaction *act,
		     struct sigaction *old)
{
	if (sig != SIGSEGV || !atomic_load(&installed)) {
		if (!get_real_sigaction()) {
			errno = ENOSYS;
			return -1;
		}
		return real_sigaction(sig, act, old);
	}
	if (old)
		*old = program_action;
	if (act)
		program_action = *act;
	return 0;
}

/* As glibc's signal(): BSD semantics, through our sigaction(). */
EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sig > 0 && sig < NSIG)
		sigaddset(&sa.sa_mask, sig);
	if (sigaction(sig, &sa, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}
