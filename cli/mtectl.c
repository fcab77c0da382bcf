/*
 * mtectl.c - the command line: the table of subcommands, option parsing
 * declared once per subcommand (for getopt and for --help alike), and
 * the error and exit conventions of util-linux: usage on stdout for
 * --help, one line and a pointer to --help on stderr for bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mtectl.h"

const char *prog_name = "mtectl";

/* One line on stderr, after whatever stdout has so far. */
static void message(const char *kind, const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: %s", prog_name, kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void fail(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	message("", fmt, ap);
	va_end(ap);
	exit(status);
}

void warnx_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	message("warning: ", fmt, ap);
	va_end(ap);
}

/* ---- the subcommands and their options ---- */

#define OPT_JSON { "json", 'J', NULL, "machine-readable output (JSON)" }
#define OPT_END { NULL, 0, NULL, NULL }

static const struct cli_opt status_opts[] = { OPT_JSON, OPT_END };
static const struct cli_opt inspect_opts[] = {
	{ "address", 'a', "ADDR", "also show the allocation tags around ADDR" },
	{ "no-ptrace", 'n', NULL, "do not attach: skip thread modes and tags" },
	OPT_JSON, OPT_END
};
static const struct cli_opt tags_opts[] = { OPT_JSON, OPT_END };
static const struct cli_opt run_opts[] = {
	{ "mode", 'm', "MODE", "tag-check mode: sync, async, asymm or off" },
	{ "log", 'l', "PATH", "write reports to PATH.<pid> (log_path)" },
	{ "stats", 's', NULL, "print the allocator's stats at exit" },
	{ "json", 'J', NULL, "reports as JSON (report_format=json)" },
	OPT_END
};
static const struct cli_opt help_opts[] = { OPT_END };

const struct cli_cmd commands[] = {
	{ "status", cmd_status, "", "does this machine do MTE, and how",
	  status_opts, "Exit status 4 when the CPU or the kernel has no MTE.",
	  false },
	{ "inspect", cmd_inspect, "<pid>",
	  "a live process's tagged memory, thread modes and heap stats",
	  inspect_opts, NULL, false },
	{ "tags", cmd_tags, "<pid> <addr> [len]",
	  "the allocation tags of a range, one per 16-byte granule", tags_opts,
	  "ADDR and LEN are decimal or 0x-hex; a tag in ADDR's top byte is "
	  "ignored.\nLEN defaults to 256 bytes.", false },
	{ "run", cmd_run, "[options] [--] <program> [args...]",
	  "run a program with libmtealloc preloaded", run_opts,
	  "Options in MTEALLOC_OPTIONS are kept; those given here come last and "
	  "win.\nThe library is $MTECTL_LIB, or the installed one.", true },
	{ "help", cmd_help, "[command]", "help on mtectl or on one command",
	  help_opts, NULL, false },
	{ NULL, NULL, NULL, NULL, NULL, NULL, false }
};

const struct cli_cmd *find_command(const char *name)
{
	const struct cli_cmd *c;

	for (c = commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

void print_usage(const struct cli_cmd *c, FILE *f)
{
	const struct cli_opt *o;

	fprintf(f, "Usage:\n %s %s %s\n\n%s.\n", prog_name, c->name, c->args,
		c->summary);
	fprintf(f, "\nOptions:\n");
	for (o = c->opts; o->name; o++) {
		char left[64];

		snprintf(left, sizeof(left), "-%c, --%s%s%s", o->key, o->name,
			 o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(f, " %-24s %s\n", left, o->help);
	}
	fprintf(f, " %-24s %s\n", "-h, --help", "display this help");
	if (c->more)
		fprintf(f, "\n%s\n", c->more);
	fprintf(f, "\nFor more details see mtectl(1).\n");
}

static void main_usage(FILE *f)
{
	const struct cli_cmd *c;

	fprintf(f, "Usage:\n %s <command> [options] [arguments]\n\n"
		"See and drive Arm MTE on a live system.\n\nCommands:\n",
		prog_name);
	for (c = commands; c->name; c++)
		fprintf(f, " %-9s %s\n", c->name, c->summary);
	fprintf(f, "\nOptions:\n %-24s %s\n %-24s %s\n", "-h, --help",
		"display this help", "-V, --version", "display version");
	fprintf(f, "\n'%s help <command>' is '%s <command> --help'.\n"
		"For more details see mtectl(1).\n", prog_name, prog_name);
}

int next_opt(const struct cli_cmd *c, int argc, char **argv, char **arg)
{
	struct option lo[16];
	char so[48];
	const struct cli_opt *o;
	int n = 0, k;

	/* '+': getopt stops at the first argument instead of permuting */
	snprintf(so, sizeof(so), "%sh", c->options_end_at_program ? "+" : "");

	for (o = c->opts; o->name && n < 14; o++, n++) {
		lo[n] = (struct option){ o->name, o->arg ? required_argument
				: no_argument, NULL, o->key };
		snprintf(so + strlen(so), sizeof(so) - strlen(so), "%c%s",
			 o->key, o->arg ? ":" : "");
	}
	lo[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	opterr = 0;
	k = getopt_long(argc, argv, so, lo, NULL);
	if (k == 'h') {
		print_usage(c, stdout);
		exit(EXIT_OK);
	}
	if (k == '?' || k == ':') {
		if (optopt && strchr(so, optopt) && optopt != '?')
			fprintf(stderr, "%s %s: option '-%c' needs an argument\n",
				prog_name, c->name, optopt);
		else
			fprintf(stderr, "%s %s: unknown or incomplete option '%s'\n",
				prog_name, c->name, argv[optind - 1]);
		fprintf(stderr, "Try '%s %s --help' for more information.\n",
			prog_name, c->name);
		exit(EXIT_USAGE);
	}
	*arg = optarg;
	return k;
}

pid_t parse_pid(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v <= 0 || v > INT_MAX)
		fail(EXIT_INPUT, "'%s' is not a process id (a positive decimal "
		     "number)", s);
	if (!pid_exists((pid_t)v))
		fail(EXIT_INPUT, "no process %ld (nothing in %s/%ld)", v,
		     proc_root(), v);
	return (pid_t)v;
}

int need_mappings(pid_t pid, struct mapping **maps)
{
	int n = pid_mappings(pid, maps);

	if (n < 0)
		fail(errno == ENOENT ? EXIT_INPUT : EXIT_PERM, "cannot read "
		     "%s/%d/smaps: %s%s", proc_root(), (int)pid,
		     strerror(errno), errno == ENOENT ? "" :
		     " (run as the process's owner or root)");
	return n;
}

uint64_t parse_addr(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!*s || *s == '-')
		goto bad;
	v = strtoull(s, &end, 0);
	if (*end || errno)
		goto bad;
	return v;
bad:
	fail(EXIT_INPUT, "%s '%s' is not a number (decimal, or hex with 0x)",
	     what, s);
}

int cmd_help(int argc, char **argv)
{
	const struct cli_cmd *c;

	if (argc < 2) {
		main_usage(stdout);
		return EXIT_OK;
	}
	if (!(c = find_command(argv[1])))
		fail(EXIT_USAGE, "unknown command '%s'; try '%s --help'", argv[1],
		     prog_name);
	print_usage(c, stdout);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	const struct cli_cmd *c;

	if (argc < 2) {
		fprintf(stderr, "%s: no command given\n", prog_name);
		fprintf(stderr, "Try '%s --help' for more information.\n", prog_name);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		main_usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("%s from %s\n", prog_name, PACKAGE_STRING);
		return EXIT_OK;
	}
	if (!(c = find_command(argv[1]))) {
		fprintf(stderr, "%s: unknown command '%s'\n", prog_name, argv[1]);
		fprintf(stderr, "Try '%s --help' for more information.\n", prog_name);
		return EXIT_USAGE;
	}
	optind = 1;
	return c->run(argc - 1, argv + 1);
}
