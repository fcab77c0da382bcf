/*
 * cmd_inspect.c - mtectl inspect <pid>: what a live process does with
 * tags.  Each thread's tagged-address control (ptrace), the tagged
 * mappings (smaps VmFlags "mt") with totals beside the untagged memory,
 * and, when libmtealloc is loaded, its live stats read from its memfd
 * page through /proc/<pid>/mem, without stopping the program.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtectl.h"
#include "stats_page.h"

/* 1 when some thread checks tags, 0 when none does, -1 when unknown. */
static int threads_table(pid_t pid, bool use_ptrace, int *perm_err)
{
	static const struct col cols[] = {
		{ "tid", "TID", COL_NUM, true },
		{ "tagged_addr", "TAGGED ADDR", COL_BOOL, false },
		{ "mode", "MODE", COL_STR, false },
		{ "tag_mask", "TAGS ALLOWED", COL_STR, false },
		{ "ctrl", "CTRL", COL_STR, false },
	};
	pid_t *tids = NULL;
	int n = pid_tids(pid, &tids), i, checks = use_ptrace ? 0 : -1;

	out_table("threads", "Threads (tagged-address control)", cols, 5);
	for (i = 0; i < n; i++) {
		char tid[16], mask[16], ctrl_s[24];
		const char *cells[5] = { tid, NULL, NULL, NULL, NULL };
		uint64_t ctrl = 0;
		int err = use_ptrace ? thread_tagged_ctrl(tids[i], &ctrl) : -1;

		snprintf(tid, sizeof(tid), "%d", (int)tids[i]);
		if (err == 0) {
			cells[1] = ctrl & 1 ? "true" : "false";
			cells[2] = ctrl_mode(ctrl);
			snprintf(mask, sizeof(mask), "0x%04llx",
				 (unsigned long long)(ctrl >> 3 & 0xffff));
			cells[3] = mask;
			snprintf(ctrl_s, sizeof(ctrl_s), "0x%llx",
				 (unsigned long long)ctrl);
			cells[4] = ctrl_s;
			if ((ctrl >> 1) & 3)
				checks = 1;
		} else if (err > 0) {
			cells[2] = err == EIO || err == EINVAL ? "no MTE" :
				   strerror(err);
			if (err == EPERM || err == EACCES)
				*perm_err = err;
			if (err != EIO && err != EINVAL)
				checks = checks == 1 ? 1 : -1;
		}
		out_row(cells);
	}
	out_table_end();
	free(tids);
	return checks;
}

/* Tagged mappings, and totals; returns how many mappings are tagged. */
static int mappings(pid_t pid, struct mapping *m, int n)
{
	static const struct col cols[] = {
		{ "start", "START", COL_STR, false },
		{ "end", "END", COL_STR, false },
		{ "size_kb", "SIZE(kB)", COL_NUM, true },
		{ "rss_kb", "RSS(kB)", COL_NUM, true },
		{ "perms", "PERM", COL_STR, false },
		{ "backing", "BACKING", COL_STR, false },
	};
	uint64_t t_size = 0, t_rss = 0, u_size = 0, u_rss = 0;
	int i, tagged = 0;

	out_table("tagged_mappings", "Tagged mappings (VmFlags mt)", cols, 6);
	for (i = 0; i < n; i++) {
		char s[24], e[24], sz[24], rss[24];
		const char *cells[6] = { s, e, sz, rss, m[i].perms,
					 m[i].path[0] ? m[i].path : "[anon]" };

		if (!m[i].mt) {
			u_size += m[i].size_kb;
			u_rss += m[i].rss_kb;
			continue;
		}
		tagged++;
		t_size += m[i].size_kb;
		t_rss += m[i].rss_kb;
		snprintf(s, sizeof(s), "0x%llx", (unsigned long long)m[i].start);
		snprintf(e, sizeof(e), "0x%llx", (unsigned long long)m[i].end);
		snprintf(sz, sizeof(sz), "%llu", (unsigned long long)m[i].size_kb);
		snprintf(rss, sizeof(rss), "%llu", (unsigned long long)m[i].rss_kb);
		out_row(cells);
	}
	out_table_end();
	out_begin("totals", "Totals");
	out_num("tagged_mappings", "tagged mappings", (uint64_t)tagged);
	out_num("tagged_kb", "tagged size (kB)", t_size);
	out_num("tagged_rss_kb", "tagged RSS (kB)", t_rss);
	out_num("untagged_kb", "untagged size (kB)", u_size);
	out_num("untagged_rss_kb", "untagged RSS (kB)", u_rss);
	out_end();
	(void)pid;
	return tagged;
}

/* libmtealloc: is it loaded, and what do its live counters say? */
static void allocator(pid_t pid, struct mapping *m, int n)
{
	const struct mapping *page = NULL;
	bool loaded = false;
	const char *why;
	char path[256], *buf;
	ssize_t got = 0;
	size_t len;
	int i, fd;

	for (i = 0; i < n; i++) {
		if (strstr(m[i].path, "libmtealloc.so"))
			loaded = true;
		if (!strncmp(m[i].path, "/memfd:" MTE_STATS_MEMFD_NAME,
			     strlen("/memfd:" MTE_STATS_MEMFD_NAME)))
			page = &m[i];
	}
	out_begin("libmtealloc", "libmtealloc");
	out_bool("loaded", "loaded", loaded || page);
	if (!page) {
		out_str("stats", "live stats", NULL);
		out_note("(no /memfd:%s mapping)", MTE_STATS_MEMFD_NAME);
		out_end();
		return;
	}
	len = (size_t)(page->end - page->start);
	snprintf(path, sizeof(path), "%s/%d/mem", proc_root(), (int)pid);
	why = (buf = calloc(1, len)) ? NULL : "out of memory";
	fd = why ? -1 : open(path, O_RDONLY | O_CLOEXEC);
	if (!why && fd < 0)
		why = strerror(errno);
	if (!why)
		got = pread(fd, buf, len, (off_t)page->start);
	if (!why && got != (ssize_t)len)
		why = got < 0 ? strerror(errno) : "short read";
	if (!why && mte_stats_page_check((void *)buf, len))
		why = "unknown layout";
	if (why) {
		warnx_("cannot read libmtealloc's stats page in process %d (%s)",
		       (int)pid, why);
		out_str("stats", "live stats", NULL);
	} else {
		const struct mte_stats_page *pg = (const void *)buf;
		static const char *const mode[] = { "off", "sync", "async", "asymm" };
		uint32_t s;

		out_str("version", "version", pg->lib_version);
		out_str("mode", "mode", pg->mode < 4 ? mode[pg->mode] : "?");
		out_bool("tagging", "tagging", pg->tagging);
		out_begin("stats", "stats");
		for (s = 0; s < pg->nstats; s++)
			out_num(mte_stats_page_name(pg, s),
				mte_stats_page_name(pg, s),
				mte_stats_page_value(pg, s));
		out_end();
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	out_end();
}

int cmd_inspect(int argc, char **argv)
{
	const struct cli_cmd *c = find_command("inspect");
	bool json = false, use_ptrace = true, have_addr = false;
	int k, n, tagged, checks, perm_err = 0, tags_err = 0, rc = EXIT_OK;
	struct tag_dump d;
	uint64_t addr = 0;
	struct mapping *maps;
	char *arg, *comm;
	pid_t pid;

	while ((k = next_opt(c, argc, argv, &arg)) != -1) {
		if (k == 'J')
			json = true;
		else if (k == 'n')
			use_ptrace = false;
		else if (k == 'a') {
			addr = parse_addr(arg, "address") & ((1ULL << 56) - 1);
			have_addr = true;
		}
	}
	if (have_addr && !use_ptrace)
		fail(EXIT_USAGE, "--address reads tags with ptrace; it cannot "
		     "go with --no-ptrace");
	if (optind >= argc)
		fail(EXIT_USAGE, "inspect needs a process id; try '%s inspect "
		     "--help'", prog_name);
	if (argc - optind > 1)
		fail(EXIT_USAGE, "inspect takes one process id, not '%s'",
		     argv[optind + 1]);
	pid = parse_pid(argv[optind]);
	n = need_mappings(pid, &maps);
	if (have_addr) {
		/*
		 * The tags around it as a fault report shows them: its row,
		 * and the rows before and after (within its mapping).
		 */
		uint64_t row = addr & ~(uint64_t)(TAG_ROW - 1);
		uint64_t from = row >= TAG_ROW ? row - TAG_ROW : 0;

		tags_err = tags_read(pid, maps, n, addr, from,
				     row + 2 * TAG_ROW - from, &d);
	}
	comm = pid_comm(pid);
	out_init(json);
	out_begin("process", "Process");
	out_num("pid", "pid", (uint64_t)pid);
	out_str("command", "command", comm);
	out_end();
	checks = threads_table(pid, use_ptrace, &perm_err);
	tagged = mappings(pid, maps, n);
	allocator(pid, maps, n);
	if (have_addr && !tags_err)
		tags_show(&d);
	out_finish();
	if (perm_err)
		ptrace_refused(pid, perm_err);
	if (tags_err)
		ptrace_refused(pid, tags_err);
	if (!tagged && checks <= 0) {
		fprintf(stderr, "%s: process %d uses no MTE: no tagged mappings%s\n",
			prog_name, (int)pid, checks == 0 ? " and no thread checks "
			"tags" : "");
		rc = EXIT_NOMTE;
	}
	free(maps);
	free(comm);
	return rc;
}
