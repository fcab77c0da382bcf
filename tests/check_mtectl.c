/*
 * check_mtectl.c - mtectl against fixture trees: a /proc and a /sys built
 * here (MTECTL_PROC_ROOT, MTECTL_SYS_ROOT), holding cpuinfo, vmstat, a
 * device tree, and processes with smaps, tasks and a /proc/<pid>/mem that
 * carries a real libmtealloc stats page.  The mtectl binary is run as a
 * user would, and its output, its JSON (checked by a small validator) and
 * its exit status for every error path are asserted.  ptrace itself is
 * exercised live, inside the emulated MTE machine (make check-kernel).
 */
#define _GNU_SOURCE
#include <check.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stats_page.h"
#include "runner.h"

static char root[256], mtectl[512];

struct result {
	int status;
	char out[32768], err[8192];
};

static struct result res;

/* ---- a JSON validator: enough to say "this parses" ---- */

static const char *ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

static const char *value(const char *p);

static const char *string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p && *p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\' && !*++p)
			return NULL;
		p++;
	}
	return *p == '"' ? p + 1 : NULL;
}

static const char *value(const char *p)
{
	p = ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';

		p = ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				if (!(p = string(ws(p))) || *(p = ws(p)) != ':')
					return NULL;
				p++;
			}
			if (!(p = value(p)))
				return NULL;
			p = ws(p);
			if (*p == close)
				return p + 1;
			if (*p++ != ',')
				return NULL;
		}
	}
	if (*p == '"')
		return string(p);
	if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	if (*p == '-' || (*p >= '0' && *p <= '9')) {
		p++;
		while ((*p >= '0' && *p <= '9') || *p == '.')
			p++;
		return p;
	}
	return NULL;
}

static int json_valid(const char *s)
{
	const char *end = value(s);

	return end && !*ws(end);
}

/* ---- fixtures ---- */

static void put(const char *rel, const char *text, size_t len)
{
	char path[512], *slash;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (slash = path + strlen(root) + 1; (slash = strchr(slash, '/'));
	     slash++) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static void puts_(const char *rel, const char *text)
{
	put(rel, text, strlen(text));
}

#define STATS_AT 0x10000000UL	/* where pid 4242 maps its stats page */

static void stats_page(void)
{
	static char buf[4096];
	struct mte_stats_page *pg = (void *)buf;
	uint64_t *v;
	char path[512];
	int fd;

	memcpy(pg->magic, MTE_STATS_MAGIC, 8);
	pg->version = MTE_STATS_VERSION;
	pg->page_size = sizeof(buf);
	pg->nstats = 2;
	pg->nstripes = 2;
	pg->stride = 16;
	pg->names_off = 128;
	pg->values_off = 256;
	pg->pid = 4242;
	pg->mode = 1;
	pg->tagging = 1;
	strcpy(pg->lib_version, "0.1.0");
	strcpy(buf + 128, "allocs");
	strcpy(buf + 128 + MTE_STATS_NAME_LEN, "tagged_allocs");
	v = (uint64_t *)(buf + 256);
	v[0] = 10, v[1] = 7;		/* stripe 0 */
	v[16] = 5, v[17] = 4;		/* stripe 1 */
	snprintf(path, sizeof(path), "%s/proc/4242/mem", root);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, buf, sizeof(buf), STATS_AT), (ssize_t)sizeof(buf));
	close(fd);
}

static const char smaps_4242[] =
	"aaaa00000000-aaaa00021000 r-xp 00000000 08:01 123 /usr/bin/app\n"
	"Size:                132 kB\nRss:                  64 kB\n"
	"VmFlags: rd ex mr mw me\n"
	"ffff80000000-ffff80200000 rw-p 00000000 00:00 0 \n"
	"Size:               2048 kB\nRss:                 512 kB\n"
	"VmFlags: rd wr mr mw me ac mt\n"
	"ffff90000000-ffff90400000 rw-p 00000000 00:00 0 \n"
	"Size:               4096 kB\nRss:                1024 kB\n"
	"VmFlags: rd wr mr mw me ac mt sd\n"
	"10000000-10001000 rw-s 00000000 00:01 9 /memfd:mtealloc-stats (deleted)\n"
	"Size:                  4 kB\nRss:                   4 kB\n"
	"VmFlags: rd wr sh mr mw me ms sd\n"
	"ffffa0000000-ffffa0021000 r-xp 00000000 08:01 77 /usr/local/lib/libmtealloc.so\n"
	"Size:                132 kB\nRss:                 100 kB\n"
	"VmFlags: rd ex mr mw me sd\n";

static void setup(void)
{
	char *b = getenv("top_builddir"), dir[] = "/tmp/mtectl-fixture.XXXXXX";
	const char *t;

	snprintf(mtectl, sizeof(mtectl), "%s/cli/mtectl", b ? b : ".");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(root, sizeof(root), "%s", dir);
	puts_("proc/cpuinfo", "processor\t: 0\nFeatures\t: fp asimd mte mte3 bti\n\n"
	      "processor\t: 1\nFeatures\t: fp asimd mte mte3 bti\n");
	puts_("proc/vmstat", "nr_free_pages 1000\nmte_tag_storage_reserve 42\n"
	      "mte_fault_on_access 7\nmte_fault_replay 1\nmte_fault_migrate 0\n");
	puts_("proc/device-tree/reserved-memory/tag-storage@7e000000/compatible",
	      "arm,mte-tag-storage");
	put("proc/device-tree/reserved-memory/tag-storage@7e000000/reg",
	    "\0\0\0\0\x7e\0\0\0\0\0\0\0\x02\0\0\0", 16);
	put("proc/device-tree/reserved-memory/tag-storage@7e000000/block-size",
	    "\0\0\x10\0", 4);
	puts_("proc/device-tree/reserved-memory/other@1/compatible", "shared-dma-pool");
	puts_("sys/devices/system/cpu/cpu0/mte_tcf_preferred", "async\n");
	puts_("sys/devices/system/cpu/cpu1/mte_tcf_preferred", "sync\n");
	/* 4242: a tagged process under libmtealloc, two threads */
	puts_("proc/4242/status", "Name:\tapp\n");
	puts_("proc/4242/comm", "app\n");
	puts_("proc/4242/smaps", smaps_4242);
	puts_("proc/4242/task/4242/stat", "");
	puts_("proc/4242/task/4250/stat", "");
	stats_page();
	/* 4343: nothing tagged, no allocator */
	puts_("proc/4343/status", "Name:\tplain\n");
	puts_("proc/4343/comm", "plain\n");
	puts_("proc/4343/smaps", "aaaa00000000-aaaa00021000 r-xp 00000000 08:01 1 "
	      "/usr/bin/plain\nSize:   132 kB\nRss:   64 kB\nVmFlags: rd ex\n");
	puts_("proc/4343/task/4343/stat", "");
	t = getenv("TEST_EMULATOR");
	(void)t;
}

static void teardown(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
}

/* Run mtectl ARGS (NULL-terminated) against the fixtures. */
static void run(const char *arg0, ...)
{
	const char *argv[24];
	char proc[300], sys[300];
	int out[2], err[2], n = 0, i;
	const char *emu = getenv("TEST_EMULATOR");
	va_list ap;
	pid_t pid;

	if (emu && *emu)	/* "qemu-aarch64 -cpu max" */
		argv[n++] = "/bin/sh", argv[n++] = "-c",
		argv[n++] = "exec $TEST_EMULATOR \"$0\" \"$@\"";
	argv[n++] = mtectl;
	argv[n++] = arg0;
	va_start(ap, arg0);
	while (arg0 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	snprintf(proc, sizeof(proc), "MTECTL_PROC_ROOT=%s/proc", root);
	snprintf(sys, sizeof(sys), "MTECTL_SYS_ROOT=%s/sys", root);
	ck_assert_int_eq(pipe(out), 0);
	ck_assert_int_eq(pipe(err), 0);
	pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		putenv(proc);
		putenv(sys);
		execv(argv[0], (char **)argv);
		_exit(99);
	}
	close(out[1]);
	close(err[1]);
	for (i = 0; i < 2; i++) {
		int fd = i ? err[0] : out[0];
		char *buf = i ? res.err : res.out;
		size_t size = i ? sizeof(res.err) : sizeof(res.out), len = 0;
		ssize_t got;

		while ((got = read(fd, buf + len, size - 1 - len)) > 0)
			len += (size_t)got;
		buf[len] = '\0';
		close(fd);
	}
	waitpid(pid, &res.status, 0);
	res.status = WIFEXITED(res.status) ? WEXITSTATUS(res.status) : 128;
}

#define OUT_HAS(s) ck_assert_msg(strstr(res.out, s), "no \"%s\" in stdout:\n%s\nstderr:\n%s", s, res.out, res.err)
#define ERR_HAS(s) ck_assert_msg(strstr(res.err, s), "no \"%s\" in stderr:\n%s", s, res.err)
#define STATUS(n) ck_assert_msg(res.status == (n), "status %d, want %d; stdout:\n%s\nstderr:\n%s", res.status, n, res.out, res.err)
#define ONE_LINE_ERR() ck_assert_msg(strchr(res.err, '\n') == res.err + strlen(res.err) - 1 || \
	strstr(res.err, "Try '"), "not one line: %s", res.err)

/* ---- status ---- */

START_TEST(status_reads_the_fixtures)
{
	run("status", NULL);
	STATUS(0);
	OUT_HAS("MTE offered                  yes");
	OUT_HAS("cpuinfo feature mte3         yes");
	OUT_HAS("    0  async");
	OUT_HAS("    1  sync");
	OUT_HAS("counters in /proc/vmstat     yes");
	OUT_HAS("mte_tag_storage_reserve      42");
	OUT_HAS("mte_fault_on_access          7");
	OUT_HAS("tag-storage@7e000000  0x7e000000  33554432   4096");
	ck_assert(!strstr(res.out, "other@1"));
}
END_TEST

START_TEST(status_json_is_valid_and_complete)
{
	run("status", "--json", NULL);
	STATUS(0);
	ck_assert_msg(json_valid(res.out), "invalid JSON:\n%s", res.out);
	OUT_HAS("\"mte\": true");
	OUT_HAS("\"cpuinfo_mte3\": true");
	OUT_HAS("{\"cpu\": 1, \"mte_tcf_preferred\": \"sync\"}");
	OUT_HAS("\"series\": true");
	OUT_HAS("\"mte_fault_replay\": 1");
	OUT_HAS("\"base\": \"0x7e000000\", \"size\": 33554432, \"block_size\": 4096");
	OUT_HAS("\"libmtealloc\": {");
}
END_TEST

START_TEST(status_without_mte)
{
	puts_("proc/cpuinfo", "processor\t: 0\nFeatures\t: fp asimd bti\n");
	puts_("proc/vmstat", "nr_free_pages 1\n");
	run("status", NULL);
	OUT_HAS("counters in /proc/vmstat     no");
	/* mtectl also asks its own auxiliary vector, which no fixture changes */
	if (getauxval(AT_HWCAP2) & (1UL << 18)) {
		STATUS(0);
		return;
	}
	STATUS(4);
	OUT_HAS("MTE offered                  no");
	ERR_HAS("has no MTE");
}
END_TEST

/* ---- inspect ---- */

START_TEST(inspect_a_tagged_process)
{
	run("inspect", "--no-ptrace", "4242", NULL);
	STATUS(0);
	OUT_HAS("command                      app");
	OUT_HAS("0xffff80000000  0xffff80200000      2048      512  rw-p  [anon]");
	OUT_HAS("0xffff90000000  0xffff90400000      4096     1024  rw-p  [anon]");
	ck_assert(!strstr(res.out, "0xaaaa00000000  "));	/* untagged: not listed */
	OUT_HAS("tagged mappings              2");
	OUT_HAS("tagged size (kB)             6144");
	OUT_HAS("tagged RSS (kB)              1536");
	OUT_HAS("untagged size (kB)           268");
	OUT_HAS("untagged RSS (kB)            168");
	OUT_HAS("loaded                       yes");
	OUT_HAS("mode                         sync");
	OUT_HAS("allocs                       15");	/* 10 + 5, two stripes */
	OUT_HAS("tagged_allocs                11");
	OUT_HAS("  4242");
	OUT_HAS("  4250");
}
END_TEST

START_TEST(inspect_json_is_valid_and_complete)
{
	static char before[sizeof(res.out)];

	run("inspect", "--json", "--no-ptrace", "4242", NULL);
	STATUS(0);
	snprintf(before, sizeof(before), "%s", res.out);
	/* options may follow the pid, as in util-linux */
	run("inspect", "4242", "--no-ptrace", "--json", NULL);
	STATUS(0);
	ck_assert_str_eq(res.out, before);
	ck_assert_msg(json_valid(res.out), "invalid JSON:\n%s", res.out);
	OUT_HAS("\"pid\": 4242");
	OUT_HAS("\"tid\": 4250, \"tagged_addr\": null");
	OUT_HAS("{\"start\": \"0xffff80000000\", \"end\": \"0xffff80200000\", "
		"\"size_kb\": 2048, \"rss_kb\": 512, \"perms\": \"rw-p\", "
		"\"backing\": \"[anon]\"}");
	OUT_HAS("\"tagged_kb\": 6144");
	OUT_HAS("\"untagged_rss_kb\": 168");
	OUT_HAS("\"tagging\": true");
	OUT_HAS("\"tagged_allocs\": 11");
}
END_TEST

START_TEST(inspect_process_without_mte)
{
	run("inspect", "--no-ptrace", "4343", NULL);
	STATUS(4);
	OUT_HAS("command                      plain");	/* what it can, first */
	OUT_HAS("loaded                       no");
	ERR_HAS("process 4343 uses no MTE");
}
END_TEST

/* ---- bad input, each with one line and its status ---- */

START_TEST(error_paths)
{
	run("inspect", "abc", NULL);
	STATUS(2); ERR_HAS("'abc' is not a process id"); ONE_LINE_ERR();
	run("inspect", "-5", NULL);
	STATUS(1); ERR_HAS("unknown or incomplete option '-5'");
	run("inspect", "99999", NULL);
	STATUS(2); ERR_HAS("no process 99999"); ONE_LINE_ERR();
	run("inspect", NULL);
	STATUS(1); ERR_HAS("inspect needs a process id");
	run("inspect", "4242", "4343", NULL);
	STATUS(1); ERR_HAS("takes one process id");
	run("inspect", "--bogus", "4242", NULL);
	STATUS(1); ERR_HAS("unknown or incomplete option '--bogus'");
	ERR_HAS("Try 'mtectl inspect --help'");
	run("inspect", "--address", NULL);
	STATUS(1); ERR_HAS("needs an argument");
	run("inspect", "--address", "0xzz", "4242", NULL);
	STATUS(2); ERR_HAS("address '0xzz' is not a number");
	/* options after the pid */
	run("inspect", "4242", "--address", "0xzz", NULL);
	STATUS(2); ERR_HAS("address '0xzz' is not a number");
	run("inspect", "--no-ptrace", "--address", "0xffff80000000", "4242",
	    NULL);
	STATUS(1); ERR_HAS("cannot go with --no-ptrace");
	/* a bad address ends the command before anything is printed */
	run("inspect", "--json", "--address", "0x1234", "4242", NULL);
	STATUS(2); ERR_HAS("address 0x1234 is not mapped in process 4242");
	ck_assert_str_eq(res.out, "");
	run("inspect", "--address", "0xaaaa00000100", "4242", NULL);
	STATUS(4); ERR_HAS("which is not tagged");
	ck_assert_str_eq(res.out, "");
	run("frobnicate", NULL);
	STATUS(1); ERR_HAS("unknown command 'frobnicate'");
	run(NULL);
	STATUS(1); ERR_HAS("no command given");
	run("status", "extra", NULL);
	STATUS(1); ERR_HAS("status takes no arguments");
	run("tags", "4242", NULL);
	STATUS(1); ERR_HAS("tags needs <pid> <addr> [len]");
	run("tags", "4242", "zz", NULL);
	STATUS(2); ERR_HAS("address 'zz' is not a number");
	run("tags", "4242", "0x1234", "--json", NULL);
	STATUS(2); ERR_HAS("address 0x1234 is not mapped in process 4242");
	ck_assert_str_eq(res.out, "");
	run("tags", "4242", "0xaaaa00000100", NULL);
	STATUS(4); ERR_HAS("which is not tagged");
	run("tags", "4242", "0xffff80000000", "0", NULL);
	STATUS(2); ERR_HAS("length 0: give 1 to");
	run("tags", "nope", "0x10", NULL);
	STATUS(2); ERR_HAS("'nope' is not a process id");
	run("run", NULL);
	STATUS(1); ERR_HAS("run needs a program");
	run("run", "--mode", "fast", "true", NULL);
	STATUS(1); ERR_HAS("unknown mode 'fast'");
	run("help", "nothing", NULL);
	STATUS(1); ERR_HAS("unknown command 'nothing'");
}
END_TEST

START_TEST(help_and_version)
{
	static char inspect_help[sizeof(res.out)];

	run("--help", NULL);
	STATUS(0); OUT_HAS("Usage:\n mtectl <command>"); OUT_HAS(" inspect ");
	ck_assert_str_eq(res.err, "");
	run("inspect", "--help", NULL);
	STATUS(0); OUT_HAS("mtectl inspect <pid>"); OUT_HAS("--no-ptrace");
	OUT_HAS("-h, --help");
	snprintf(inspect_help, sizeof(inspect_help), "%s", res.out);
	run("help", "inspect", NULL);
	STATUS(0);
	ck_assert_str_eq(res.out, inspect_help);	/* the same text */
	run("-V", NULL);
	STATUS(0); OUT_HAS("mtectl from mtealloc 0.1.0");
	run("status", "-h", NULL);
	STATUS(0); OUT_HAS("Exit status 4");
}
END_TEST

/* ---- run ---- */

START_TEST(run_sets_the_environment)
{
	char lib[600];

	snprintf(lib, sizeof(lib), "MTECTL_LIB=%s/README.md", getenv("top_srcdir"));
	putenv(lib);
	putenv("MTEALLOC_OPTIONS=verbose=1");
	putenv("LD_PRELOAD=");
	run("run", "--mode", "async", "--stats", "--log", "/tmp/r", "--json",
	    "--", "/usr/bin/env", NULL);
	STATUS(0);
	OUT_HAS("MTEALLOC_OPTIONS=verbose=1:mode=async:log_path=/tmp/r:"
		"print_stats=1:report_format=json\n");
	OUT_HAS("LD_PRELOAD=");
	OUT_HAS("/README.md\n");
	/* options end at the program: what follows is the program's own */
	run("run", "--mode", "sync", "/bin/sh", "-c", "echo \"$0 $1\"",
	    "--mode", "x", NULL);
	STATUS(0); OUT_HAS("--mode x\n");
	run("run", "/no/such/program", NULL);
	STATUS(127); ERR_HAS("cannot run '/no/such/program'");
	putenv("MTECTL_LIB=/no/such/lib.so");
	run("run", "/usr/bin/true", NULL);
	STATUS(5); ERR_HAS("MTECTL_LIB=/no/such/lib.so is not a readable file");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mtectl");
	TCase *tc = tcase_create("fixtures");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, status_reads_the_fixtures);
	tcase_add_test(tc, status_json_is_valid_and_complete);
	tcase_add_test(tc, status_without_mte);
	tcase_add_test(tc, inspect_a_tagged_process);
	tcase_add_test(tc, inspect_json_is_valid_and_complete);
	tcase_add_test(tc, inspect_process_without_mte);
	tcase_add_test(tc, error_paths);
	tcase_add_test(tc, help_and_version);
	if (!getenv("TEST_EMULATOR") || !*getenv("TEST_EMULATOR"))
		tcase_add_test(tc, run_sets_the_environment);	/* runs host env */
	suite_add_tcase(s, tc);
	return run_suites(srunner_create(s));
}
