/*
 * cmd_run.c - mtectl run: a program with libmtealloc preloaded and
 * MTEALLOC_OPTIONS set, and the library found without the user naming
 * its path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mtectl.h"

static const char *const modes[] = { "off", "sync", "async", "asymm", NULL };

/*
 * $MTECTL_LIB; else the installed library; else, for a build tree,
 * ../libmtealloc/.libs next to this mtectl, or ../lib for a relocated
 * install.  NULL when none is readable.
 */
const char *find_library(void)
{
	static char found[PATH_MAX];
	const char *env = getenv("MTECTL_LIB");
	char self[PATH_MAX], *dir;
	ssize_t n;
	const char *rel[] = { "../libmtealloc/.libs/libmtealloc.so",
			      "../lib/libmtealloc.so", NULL };
	int i;

	if (env && *env)
		return access(env, R_OK) == 0 ? env : NULL;
	snprintf(found, sizeof(found), "%s/libmtealloc.so", MTEALLOC_LIBDIR);
	if (access(found, R_OK) == 0)
		return found;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = '\0';
	dir = dirname(self);
	for (i = 0; rel[i]; i++) {
		snprintf(found, sizeof(found), "%s/%s", dir, rel[i]);
		if (access(found, R_OK) == 0)
			return found;
	}
	return NULL;
}

static void append(char *buf, size_t size, const char *kv)
{
	size_t n = strlen(buf);

	snprintf(buf + n, size - n, "%s%s", n ? ":" : "", kv);
}

int cmd_run(int argc, char **argv)
{
	const struct cli_cmd *c = find_command("run");
	char opts[8192] = "", kv[PATH_MAX + 16], preload[PATH_MAX * 2];
	const char *lib, *old, *mode = NULL, *log = NULL, *env_lib;
	bool stats = false, json = false;
	char *arg;
	int k, i;

	while ((k = next_opt(c, argc, argv, &arg)) != -1) {
		switch (k) {
		case 'm':
			for (i = 0; modes[i] && strcmp(modes[i], arg); i++)
				;
			if (!modes[i])
				fail(EXIT_USAGE, "unknown mode '%s'; use sync, async, "
				     "asymm or off", arg);
			mode = arg;
			break;
		case 'l':
			if (!*arg || strchr(arg, ':'))
				fail(EXIT_USAGE, "--log '%s': give a path without ':'",
				     arg);
			log = arg;
			break;
		case 's':
			stats = true;
			break;
		case 'J':
			json = true;
			break;
		}
	}
	if (optind >= argc)
		fail(EXIT_USAGE, "run needs a program to run; try '%s run --help'",
		     prog_name);
	lib = find_library();
	if (!lib) {
		env_lib = getenv("MTECTL_LIB");
		if (env_lib && *env_lib)
			fail(EXIT_RUN, "MTECTL_LIB=%s is not a readable file",
			     env_lib);
		fail(EXIT_RUN, "cannot find libmtealloc.so (looked in %s and next "
		     "to mtectl): install it, or set MTECTL_LIB to its path",
		     MTEALLOC_LIBDIR);
	}
	if ((old = getenv("MTEALLOC_OPTIONS")) && *old)
		snprintf(opts, sizeof(opts), "%s", old);
	if (mode) {
		snprintf(kv, sizeof(kv), "mode=%s", mode);
		append(opts, sizeof(opts), kv);
	}
	if (log) {
		snprintf(kv, sizeof(kv), "log_path=%s", log);
		append(opts, sizeof(opts), kv);
	}
	if (stats)
		append(opts, sizeof(opts), "print_stats=1");
	if (json)
		append(opts, sizeof(opts), "report_format=json");
	if (*opts)
		setenv("MTEALLOC_OPTIONS", opts, 1);
	old = getenv("LD_PRELOAD");
	snprintf(preload, sizeof(preload), "%s%s%s", lib, old && *old ? " " : "",
		 old && *old ? old : "");
	setenv("LD_PRELOAD", preload, 1);
	execvp(argv[optind], argv + optind);
	k = errno;
	fprintf(stderr, "%s: cannot run '%s': %s\n", prog_name, argv[optind],
		strerror(k));
	return k == ENOENT ? 127 : 126;
}
