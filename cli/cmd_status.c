/*
 * cmd_status.c - mtectl status: does this machine do MTE, and how is its
 * kernel managing tag storage?  The CPU and kernel (HWCAP2, cpuinfo), each
 * CPU's preferred mode, the lazy tag-storage series' counters in
 * /proc/vmstat, the tag-storage regions of the device tree, and where
 * libmtealloc is.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "mtectl.h"

#define HWCAP2_MTE_	(1UL << 18)
#define HWCAP2_MTE3_	(1UL << 22)

const char *find_library(void);

/* Does the first "Features" line of cpuinfo list word? */
static bool cpu_feature(const char *cpuinfo, const char *word)
{
	const char *l = cpuinfo ? strstr(cpuinfo, "Features") : NULL;
	size_t n = strlen(word);

	if (!l)
		return false;
	for (l = strchr(l, ':'); l && *l && *l != '\n'; l++)
		if ((l[-1] == ' ' || l[-1] == ':') && !strncmp(l, word, n) &&
		    (l[n] == ' ' || l[n] == '\n' || l[n] == '\0'))
			return true;
	return false;
}

static void cpus_table(void)
{
	static const struct col cols[] = {
		{ "cpu", "CPU", COL_NUM, true },
		{ "mte_tcf_preferred", "PREFERRED MODE", COL_STR, false },
	};
	char path[256], num[16];
	int cpu;

	out_table("cpus", "Preferred tag-check mode per CPU", cols, 2);
	for (cpu = 0;; cpu++) {
		char *v;
		const char *cells[2];

		snprintf(path, sizeof(path), "%s/devices/system/cpu/cpu%d",
			 sys_root(), cpu);
		if (access(path, F_OK))
			break;
		strcat(path, "/mte_tcf_preferred");
		v = read_file(path, NULL);
		if (v)
			v[strcspn(v, "\n")] = '\0';
		snprintf(num, sizeof(num), "%d", cpu);
		cells[0] = num;
		cells[1] = v ? v : NULL;
		out_row(cells);
		free(v);
	}
	out_table_end();
}

/* The series' counters: every "mte_*" line of /proc/vmstat. */
static bool vmstat_counters(void)
{
	char path[256], *text, *line, *save = NULL;
	bool series = false;

	snprintf(path, sizeof(path), "%s/vmstat", proc_root());
	text = read_file(path, NULL);
	out_begin("tag_storage", "Lazy tag storage (kernel series)");
	series = text && strstr(text, "mte_tag_storage_reserve ");
	out_bool("series", "counters in /proc/vmstat", series);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char key[64];
		unsigned long long v;

		if (!strncmp(line, "mte_", 4) &&
		    sscanf(line, "%63s %llu", key, &v) == 2)
			out_num(key, key, v);
	}
	if (!series)
		out_note("(no mte_* counters in %s/vmstat: the kernel reserves tag "
			 "storage the usual way)", proc_root());
	out_end();
	free(text);
	return series;
}

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)ntohl(*(const uint32_t *)p) << 32 |
	       ntohl(*(const uint32_t *)(p + 4));
}

/* reserved-memory children whose compatible is "arm,mte-tag-storage". */
static void regions_table(void)
{
	static const struct col cols[] = {
		{ "node", "NODE", COL_STR, false },
		{ "base", "BASE", COL_STR, false },
		{ "size", "SIZE", COL_NUM, true },
		{ "block_size", "BLOCK", COL_NUM, true },
	};
	char dir[256], path[1024];
	struct dirent *d;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/device-tree/reserved-memory", proc_root());
	out_table("regions", "Tag-storage regions (device tree)", cols, 4);
	if ((dp = opendir(dir))) {
		while ((d = readdir(dp))) {
			char *compat, *reg, *bs, base[32], size[32], block[32];
			size_t reglen = 0, bslen = 0;
			const char *cells[4];

			snprintf(path, sizeof(path), "%s/%s/compatible", dir,
				 d->d_name);
			compat = read_file(path, NULL);
			if (!compat || strcmp(compat, "arm,mte-tag-storage")) {
				free(compat);
				continue;
			}
			snprintf(path, sizeof(path), "%s/%s/reg", dir, d->d_name);
			reg = read_file(path, &reglen);
			snprintf(path, sizeof(path), "%s/%s/block-size", dir,
				 d->d_name);
			bs = read_file(path, &bslen);
			cells[0] = d->d_name;
			cells[1] = cells[2] = cells[3] = NULL;
			if (reg && reglen >= 16) {
				snprintf(base, sizeof(base), "0x%llx",
					 (unsigned long long)be64((unsigned char *)reg));
				snprintf(size, sizeof(size), "%llu", (unsigned long long)
					 be64((unsigned char *)reg + 8));
				cells[1] = base;
				cells[2] = size;
			}
			if (bs && bslen >= 4) {
				snprintf(block, sizeof(block), "%u",
					 ntohl(*(uint32_t *)bs));
				cells[3] = block;
			}
			out_row(cells);
			free(compat);
			free(reg);
			free(bs);
		}
		closedir(dp);
	}
	out_table_end();
}

int cmd_status(int argc, char **argv)
{
	const struct cli_cmd *c = find_command("status");
	bool json = false, hw_mte = false, hw_mte3 = false, mte;
	char path[256], *cpuinfo, *arg;
	struct utsname u;
	const char *lib;
	int k;

	while ((k = next_opt(c, argc, argv, &arg)) != -1)
		json |= k == 'J';
	if (optind < argc)
		fail(EXIT_USAGE, "status takes no arguments, not '%s'; try "
		     "'%s status --help'", argv[optind], prog_name);
#if defined(__aarch64__)
	hw_mte = getauxval(AT_HWCAP2) & HWCAP2_MTE_;
	hw_mte3 = getauxval(AT_HWCAP2) & HWCAP2_MTE3_;
#endif
	snprintf(path, sizeof(path), "%s/cpuinfo", proc_root());
	cpuinfo = read_file(path, NULL);
	uname(&u);
	mte = hw_mte || cpu_feature(cpuinfo, "mte");

	out_init(json);
	out_begin("machine", "Machine");
	out_str("arch", "architecture", u.machine);
	out_str("kernel", "kernel", u.release);
	out_bool("mte", "MTE offered", mte);
	out_bool("hwcap2_mte", "HWCAP2_MTE (this process)", hw_mte);
	out_bool("hwcap2_mte3", "HWCAP2_MTE3 (asymm mode)", hw_mte3);
	out_bool("cpuinfo_mte", "cpuinfo feature mte", cpu_feature(cpuinfo, "mte"));
	out_bool("cpuinfo_mte3", "cpuinfo feature mte3",
		 cpu_feature(cpuinfo, "mte3"));
	out_end();
	cpus_table();
	vmstat_counters();
	regions_table();
	lib = find_library();
	out_begin("libmtealloc", "libmtealloc");
	out_str("path", "library", lib);
	out_end();
	out_finish();
	free(cpuinfo);
	if (!mte) {
		fprintf(stderr, "%s: this machine has no MTE: %s\n", prog_name,
			strcmp(u.machine, "aarch64") ? "it is not arm64" :
			"neither HWCAP2_MTE nor the cpuinfo feature 'mte' is there");
		return EXIT_NOMTE;
	}
	return EXIT_OK;
}
