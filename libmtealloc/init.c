/*
 * init.c - start-up, the capability checks, and the tag-check mode.
 *
 * Start-up runs on the first call into the library (often a malloc() made
 * before our constructor), exactly once.  A malloc() that start-up itself
 * causes on the same thread is served from api.c's bootstrap buffer, so
 * start-up never recurses; other threads wait.
 *
 * Tagging needs three things, checked in this order (as Scudo does): an
 * aarch64 build, a CPU and kernel that offer MTE (HWCAP2_MTE and a working
 * PR_SET_TAGGED_ADDR_CTRL), and a mode other than off.  When one is
 * missing, the library passes straight through to jemalloc, and
 * mtealloc_why_untagged() (and verbose=1) says which.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "cache.h"

struct mte_global mte_g = { .fast_gen = MTE_FAST_OFF };
MTE_TLS unsigned mte_thread_gen;
MTE_TLS struct mte_thread_hot mte_t;

static const char *const mode_list[] = { "off", "sync", "async", "asymm" };

extern char **environ;

const char *mte_mode_name(unsigned mode)
{
	return mode < 4 ? mode_list[mode] : "?";
}

static pid_t this_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* getenv() without libc's state: works before libc is fully up. */
static const char *env_lookup(const char *name)
{
	size_t n = strlen(name);
	char **e;

	if (!environ)
		return NULL;
	for (e = environ; *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static void no_warn(const char *msg)
{
	(void)msg;
}

/*
 * Secure execution (setuid, setgid, file capabilities): the environment
 * belongs to whoever started the program, not to the program.  Then
 * MTEALLOC_OPTIONS is ignored as a whole, as the sanitizer runtimes
 * ignore theirs: the defaults are already the strictest checking, and
 * log_path must never make a privileged process create or append to a
 * file the caller names.  If the ignored options asked for verbose=1,
 * one line says so, naming no value from them.
 */
static bool secure_execution(void)
{
	return getauxval(AT_SECURE) != 0;
}

static void read_options(void)
{
	const char *s = env_lookup("MTEALLOC_OPTIONS");
	struct mte_options asked;

	/* First silently, so that warnings already go to log_path. */
	mte_options_defaults(&mte_g.opt);
	if (!s)
		return;
	if (secure_execution()) {
		mte_options_defaults(&asked);
		mte_options_parse(&asked, s, no_warn);
		if (asked.verbose)
			mte_logf("mtealloc: secure execution (setuid, setgid or "
				 "capabilities): MTEALLOC_OPTIONS ignored; "
				 "running with the defaults\n");
		return;
	}
	mte_options_parse(&mte_g.opt, s, no_warn);
	mte_options_parse(&mte_g.opt, s, mte_warn_line);
}

static bool mode_given(void)
{
	const char *s = env_lookup("MTEALLOC_OPTIONS");

	return s && !secure_execution() &&
	       (!strncmp(s, "mode=", 5) || strstr(s, ":mode="));
}

static unsigned long tcf_bits(unsigned mode)
{
	switch (mode) {
	case MTEALLOC_MODE_SYNC:
		return MTE_PR_TCF_SYNC;
	case MTEALLOC_MODE_ASYNC:
		return MTE_PR_TCF_ASYNC;
	case MTEALLOC_MODE_ASYMM:	/* the kernel picks asymm per CPU */
		return MTE_PR_TCF_SYNC | MTE_PR_TCF_ASYNC;
	}
	return MTE_PR_TCF_NONE;
}

/* Tagged addresses stay enabled even with mode=off: tags may come later. */
static int set_thread_ctrl(unsigned mode)
{
	return prctl(MTE_PR_SET_TAGGED_ADDR_CTRL, MTE_PR_TAGGED_ADDR_ENABLE |
		     tcf_bits(mode) | (0xfffeUL << MTE_PR_TAG_SHIFT), 0, 0, 0);
}

void mte_thread_apply_mode(void)
{
	unsigned gen = atomic_load(&mte_g.mode_gen);

	if (!mte_thread_gen)
		mte_stats_thread_init();
	if (mte_g.hw_mte)
		set_thread_ctrl(mte_thread_recovered ? MTEALLOC_MODE_OFF :
				atomic_load(&mte_g.mode));
	if (!mte_thread_gen)
		mte_fault_thread_init();
	mte_thread_gen = gen;
}

/*
 * The third check: does tag storage keep one tag per 16-byte granule?
 * Debian's qemu-system-aarch64 7.2 keeps two tags per page (every even
 * granule shares one, every odd granule the other), which makes any
 * heap layout fault on correct code; a library that tags there would
 * only crash programs.  So write distinct tags to a scratch page and read
 * them back.
 */
static bool tag_storage_works(char *why, size_t size)
{
	char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | MTE_PROT_MTE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned g, got;

	if (page == MAP_FAILED) {
		mte_fmt(why, size, "mmap(PROT_MTE) failed (errno %d)", errno);
		return false;
	}
	for (g = 0; g < 16; g++)
		mte_stg(mte_with_tag(page + 16 * g, g));
	for (g = 0; g < 16; g++) {
		got = mte_mem_tag(page + 16 * g);
		if (got != g) {
			mte_fmt(why, size, "this machine's tag storage does not "
				"keep a tag per 16-byte granule (granule %u reads "
				"back tag %u, not %u), a defect of some emulators "
				"such as qemu-system-aarch64 7.2; tagging there "
				"would fault on correct code", g, got, g);
			munmap(page, 4096);
			return false;
		}
	}
	munmap(page, 4096);
	return true;
}

static void detect_mte(void)
{
	static char why[320];

	if (!mte_arch_supported()) {
		mte_g.why_untagged = "this build is not for aarch64, which "
				     "alone has MTE";
		return;
	}
	if (!(getauxval(AT_HWCAP2) & MTE_HWCAP2_MTE)) {
		mte_g.why_untagged = "the CPU or kernel does not offer MTE "
				     "(HWCAP2_MTE is not set)";
		return;
	}
	if (set_thread_ctrl(MTEALLOC_MODE_OFF)) {
		mte_fmt(why, sizeof(why), "prctl(PR_SET_TAGGED_ADDR_CTRL) "
			"failed (errno %d): the kernel lacks MTE support", errno);
		mte_g.why_untagged = why;
		return;
	}
	if (!tag_storage_works(why, sizeof(why))) {
		mte_g.why_untagged = why;
		return;
	}
	mte_g.hw_mte = true;
	mte_g.hw_mte3 = !!(getauxval(AT_HWCAP2) & MTE_HWCAP2_MTE3);
}

static unsigned resolve_mode(unsigned mode)
{
	if (mode == MTEALLOC_MODE_OFF) {
		if (!mte_g.why_untagged)
			mte_g.why_untagged = "mode=off was requested";
		return mode;
	}
	if (!mte_g.hw_mte) {
		if (mode_given())
			mte_logf("mtealloc: note: mode=%s requested, but tagging "
				 "is unavailable: %s; passing through to "
				 "jemalloc\n", mte_mode_name(mode),
				 mte_g.why_untagged);
		return MTEALLOC_MODE_OFF;
	}
	if (mode == MTEALLOC_MODE_ASYMM && !mte_g.hw_mte3) {
		mte_logf("mtealloc: note: mode=asymm needs MTE3 (asymmetric "
			 "checks), which this CPU lacks; using sync\n");
		return MTEALLOC_MODE_SYNC;
	}
	return mode;
}

static uint64_t make_secret(void)
{
	const uint64_t *r = (const uint64_t *)getauxval(AT_RANDOM);
	uint64_t s = (uintptr_t)&mte_g ^ ((uint64_t)getpid() << 32);

	if (r)
		s ^= r[0] ^ (r[1] << 1);
	return s | 1;
}

static void after_fork_child(void)
{
	mte_tid = 0;		/* the child is a new thread id */
	mte_stats_after_fork_child();
	mte_log_after_fork_child();
}

static void init_once(void)
{
	const char *why = NULL;
	unsigned mode;

	read_options();
	mte_log_init();
	mte_stats_init();
	mte_g.secret = make_secret();
	detect_mte();
	if (!mte_backend_init(mte_g.opt.narenas, &why)) {
		/* Without our arenas nothing works: say so and stop. */
		mte_logf("mtealloc: fatal: cannot set up the heap: %s\n", why);
		_exit(127);
	}
	if (mte_g.opt.alloc_traces &&
	    !mte_depot_init((size_t)mte_g.opt.depot_mb << 20))
		mte_logf("mtealloc: warning: cannot map %u MiB for the stack "
			 "depot; stacks are not recorded\n", mte_g.opt.depot_mb);
	mte_cache_init();
	if (!mte_history_init(mte_g.opt.history_size))
		mte_logf("mtealloc: warning: cannot map the free history\n");
	mte_trace_init();
	if (mte_g.hw_mte && !mte_fault_init())
		mte_logf("mtealloc: warning: cannot install the SIGSEGV handler; "
			 "tag-check faults will not be reported\n");
	mode = resolve_mode(mte_g.opt.mode);
	atomic_store(&mte_g.mode, mode);
	atomic_store(&mte_g.tagging, mode != MTEALLOC_MODE_OFF);
	mte_stats_set_state(mode, mode != MTEALLOC_MODE_OFF);
	pthread_atfork(NULL, NULL, after_fork_child);
	if (mte_g.opt.verbose) {
		if (mode != MTEALLOC_MODE_OFF)
			mte_logf("mtealloc: tagging on: mode=%s, up to %u arenas, "
				 "extents switch to PROT_MTE when first used\n",
				 mte_mode_name(mode), mte_je_narenas());
		else
			mte_logf("mtealloc: tagging off: %s; passing through "
				 "to jemalloc\n", mte_g.why_untagged);
	}
}

void mte_init_slow(void)
{
	int st = MTE_INIT_NONE;

	if (atomic_compare_exchange_strong(&mte_g.init_state, &st,
					   MTE_INIT_RUNNING)) {
		atomic_store(&mte_g.init_owner, this_tid());
		init_once();
		atomic_store(&mte_g.mode_gen, 1);
		mte_g.ever_tagged = atomic_load(&mte_g.tagging);
		atomic_store(&mte_g.fast_gen, mte_g.ever_tagged ?
			     MTE_FAST_TAGGED : 1);
		atomic_store_explicit(&mte_g.init_state, MTE_INIT_DONE,
				      memory_order_release);
		return;
	}
	while (atomic_load_explicit(&mte_g.init_state, memory_order_acquire)
	       != MTE_INIT_DONE)
		sched_yield();
}

bool mte_init_reentrant(void)
{
	return atomic_load(&mte_g.init_state) == MTE_INIT_RUNNING &&
	       atomic_load(&mte_g.init_owner) == this_tid();
}

__attribute__((constructor)) static void mte_constructor(void)
{
	if (!mte_init_reentrant())
		mte_ensure_init();
}

__attribute__((destructor)) static void mte_destructor(void)
{
	char buf[1024];

	if (atomic_load(&mte_g.init_state) == MTE_INIT_DONE &&
	    mte_g.opt.print_stats)
		mte_log_write(buf, mte_stats_format(buf, sizeof(buf)));
}

/* ---- the public API's view of the mode ---- */

int mtealloc_set_mode(enum mtealloc_mode mode)
{
	unsigned m, gen;

	mte_ensure_init();
	if ((unsigned)mode > MTEALLOC_MODE_ASYMM) {
		errno = EINVAL;
		return -1;
	}
	if (mode != MTEALLOC_MODE_OFF && !mte_g.hw_mte) {
		errno = ENOTSUP;
		return -1;
	}
	m = resolve_mode(mode);
	/* every thread leaves the fast path before anything changes */
	atomic_store(&mte_g.fast_gen, MTE_FAST_OFF);
	if (m != MTEALLOC_MODE_OFF) {
		mte_g.ever_tagged = true;
		mte_extent_enable_all();
	}
	atomic_store(&mte_g.mode, m);
	atomic_store(&mte_g.tagging, m != MTEALLOC_MODE_OFF);
	mte_g.why_untagged = m == MTEALLOC_MODE_OFF ? "mode=off was requested"
						    : NULL;
	mte_stats_set_state(m, m != MTEALLOC_MODE_OFF);
	gen = atomic_fetch_add(&mte_g.mode_gen, 1) + 1;
	mte_thread_apply_mode();
	/* untagged chunks are jemalloc's as they are while no tag is stale */
	if (m != MTEALLOC_MODE_OFF)
		atomic_store(&mte_g.fast_gen, MTE_FAST_TAGGED);
	else if (!mte_g.ever_tagged)
		atomic_store(&mte_g.fast_gen, gen);
	return 0;
}

enum mtealloc_mode mtealloc_get_mode(void)
{
	mte_ensure_init();
	return (enum mtealloc_mode)atomic_load(&mte_g.mode);
}

int mtealloc_tagging(void)
{
	mte_ensure_init();
	return atomic_load(&mte_g.tagging);
}

const char *mtealloc_why_untagged(void)
{
	mte_ensure_init();
	return atomic_load(&mte_g.tagging) ? NULL : mte_g.why_untagged;
}

const char *mtealloc_version(void)
{
	return MTEALLOC_VERSION_STRING;
}
