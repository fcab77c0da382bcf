/*
 * stress.c - the model-based heap test (heap_model.h) as a program: a
 * seeded random sequence of allocation calls over several threads, with
 * a fork in the middle, checked against the model after every step.  It
 * tests whatever malloc() the process has: run it with libmtealloc
 * preloaded (tests/stress.sh, make stress), or without, to check the
 * model against another heap.
 *
 * Exit status: 0 when every check passed, 1 when one failed (the seed and
 * step are printed), 2 for bad options.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap_model.h"

static const char usage[] =
"usage: stress [options]\n"
"  --seed N        the sequence's seed (default 1)\n"
"  --steps N       steps in all, over every thread (default 200000)\n"
"  --threads N     threads, 1..64 (default 4)\n"
"  --slots N       live chunks per thread at most, 1..65536 (default 1024)\n"
"  --fork-at N     thread 0 forks at its step N; 0: never (default: middle)\n"
"  --switch-at N   thread 0 turns tagging on with mtealloc_set_mode() at its\n"
"                  step N, for a run that starts with mode=off; 0: never\n"
"  --max-size N    the largest request in bytes (default 8388608)\n"
"  --quiet         print nothing when all is well\n";

/* An unsigned decimal option in [lo, hi], or exit 2 saying why. */
static unsigned long number(const char *opt, const char *arg,
			    unsigned long lo, unsigned long hi)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (!*arg || *end || errno || arg[0] == '-' || v < lo || v > hi) {
		fprintf(stderr, "stress: bad value '%s' for --%s: want a "
			"number from %lu to %lu\n", arg, opt, lo, hi);
		exit(2);
	}
	return v;
}

static int (*set_mode_fn)(int);

static int set_sync(void)
{
	return set_mode_fn ? set_mode_fn(1) : -1;	/* MTEALLOC_MODE_SYNC */
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "steps", required_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 't' },
		{ "slots", required_argument, NULL, 'l' },
		{ "fork-at", required_argument, NULL, 'f' },
		{ "switch-at", required_argument, NULL, 'w' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct model_config cfg;
	struct model_result res;
	long fork_at = -1;
	int c, rc, k;

	model_default_config(&cfg);
	cfg.threads = 4;
	cfg.slots = 1024;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's': cfg.seed = number("seed", optarg, 0, ULONG_MAX); break;
		case 'n': cfg.steps = number("steps", optarg, 1, ULONG_MAX); break;
		case 't': cfg.threads = (unsigned)number("threads", optarg, 1, 64); break;
		case 'l': cfg.slots = (unsigned)number("slots", optarg, 1, 65536); break;
		case 'f': fork_at = (long)number("fork-at", optarg, 0, LONG_MAX); break;
		case 'w': cfg.switch_at = number("switch-at", optarg, 0, ULONG_MAX); break;
		case 'm': cfg.max_size = number("max-size", optarg, 1, 1UL << 30); break;
		case 'q': cfg.quiet = 1; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "stress: unexpected argument '%s'\n%s",
			argv[optind], usage);
		return 2;
	}
	cfg.fork_at = fork_at >= 0 ? (unsigned long)fork_at :
		      cfg.steps / cfg.threads / 2;
	if (cfg.switch_at) {
		*(void **)&set_mode_fn = dlsym(RTLD_DEFAULT, "mtealloc_set_mode");
		cfg.set_mode = set_sync;
	}
	rc = model_run(&cfg, &res);
	if (!rc && !cfg.quiet) {
		printf("model: seed=%" PRIu64 " threads=%u steps=%lu forks=%lu "
		       "peak_live=%lu: ok\n  ", cfg.seed, cfg.threads,
		       res.steps, res.forks, res.peak_live);
		for (k = 0; k < 16; k++)
			printf("%s=%lu%s", model_call_names[k], res.calls[k],
			       k == 15 ? "\n" : " ");
	}
	return rc;
}
