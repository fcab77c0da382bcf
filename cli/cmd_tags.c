/*
 * cmd_tags.c - mtectl tags <pid> <addr> [len]: the allocation tags of a
 * range of another process, through PTRACE_PEEKMTETAGS, one per 16-byte
 * granule, laid out like the fault report's "tags around the address".
 * inspect --address uses the same dump.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtectl.h"

#define ROW 256			/* bytes per row: 16 granules */
#define MAX_LEN (1UL << 20)

/* Tags of [addr, addr + len) rounded out to whole rows, inside mapping m. */
static int dump(pid_t pid, const struct mapping *m, uint64_t addr, uint64_t len)
{
	static const struct col cols[] = {
		{ "address", "ADDRESS", COL_STR, false },
		{ "tag", "TAG", COL_NUM, true },
	};
	uint64_t start = addr & ~(uint64_t)(ROW - 1), end, a;
	uint64_t granule = addr & ~(uint64_t)15;
	unsigned char *tags;
	size_t n, i;
	int err;

	end = (addr + len + ROW - 1) & ~(uint64_t)(ROW - 1);
	if (start < m->start)
		start = m->start;
	if (end > m->end)
		end = m->end;
	n = (size_t)(end - start) / 16;
	tags = calloc(n, 1);
	if ((err = peek_tags(pid, start, tags, n)))
		ptrace_refused(pid, err);
	out_begin("tags", "Allocation tags (one per 16-byte granule; [] marks "
		  "the address)");
	out_strf("address", "address", "0x%llx", (unsigned long long)addr);
	out_strf("mapping", "in mapping", "0x%llx-0x%llx %s",
		 (unsigned long long)m->start, (unsigned long long)m->end,
		 m->path[0] ? m->path : "[anon]");
	if (out_json()) {
		out_table("granules", "", cols, 2);
		for (i = 0; i < n; i++) {
			char ab[32], tb[8];
			const char *cells[2] = { ab, tb };

			snprintf(ab, sizeof(ab), "0x%llx",
				 (unsigned long long)(start + 16 * i));
			snprintf(tb, sizeof(tb), "%u", tags[i] & 0xf);
			out_row(cells);
		}
		out_table_end();
	} else {
		/* as the fault report prints them: 16 granules a row */
		for (a = start, i = 0; i < n; a += 16, i++) {
			if (!(i % 16))
				printf("%s  0x%llx:", i ? "\n" : "",
				       (unsigned long long)a);
			printf(a == granule ? " [%x]" : "  %x ", tags[i] & 0xf);
		}
		printf("\n");
	}
	out_end();
	free(tags);
	return EXIT_OK;
}

int show_tags(pid_t pid, uint64_t addr, uint64_t len)
{
	struct mapping *maps;
	const struct mapping *m;
	int n = pid_mappings(pid, &maps);

	if (n < 0)
		fail(EXIT_PERM, "cannot read %s/%d/smaps: run as the process's "
		     "owner or as root", proc_root(), (int)pid);
	if (!(m = find_mapping(maps, n, addr)))
		fail(EXIT_INPUT, "address 0x%llx is not mapped in process %d",
		     (unsigned long long)addr, (int)pid);
	if (!m->mt)
		fail(EXIT_NOMTE, "address 0x%llx is in 0x%llx-0x%llx %s, which is "
		     "not tagged (no 'mt' in its VmFlags)", (unsigned long long)addr,
		     (unsigned long long)m->start, (unsigned long long)m->end,
		     m->path[0] ? m->path : "[anon]");
	n = dump(pid, m, addr, len);
	free(maps);
	return n;
}

int cmd_tags(int argc, char **argv)
{
	const struct cli_cmd *c = find_command("tags");
	uint64_t addr, len = ROW;
	bool json = false;
	char *arg;
	pid_t pid;
	int k, rc;

	while ((k = next_opt(c, argc, argv, &arg)) != -1)
		json |= k == 'J';
	if (argc - optind < 2 || argc - optind > 3)
		fail(EXIT_USAGE, "tags needs <pid> <addr> [len]; try '%s tags "
		     "--help'", prog_name);
	pid = parse_pid(argv[optind]);
	/* a tag in the top byte is the pointer's, not part of the address */
	addr = parse_addr(argv[optind + 1], "address") & ((1ULL << 56) - 1);
	if (argc - optind == 3) {
		len = parse_addr(argv[optind + 2], "length");
		if (!len || len > MAX_LEN)
			fail(EXIT_INPUT, "length %s: give 1 to %lu bytes",
			     argv[optind + 2], MAX_LEN);
	}
	out_init(json);
	rc = show_tags(pid, addr, len);
	out_finish();
	return rc;
}
