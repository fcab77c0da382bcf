/*
 * cmd_tags.c - mtectl tags <pid> <addr> [len]: the allocation tags of a
 * range of another process, through PTRACE_PEEKMTETAGS, one per 16-byte
 * granule, laid out like the fault report's "tags around the address".
 * inspect --address uses the same dump, with the report's three rows.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtectl.h"

#define MAX_LEN (1UL << 20)

int tags_read(pid_t pid, const struct mapping *maps, int n, uint64_t addr,
	      uint64_t from, uint64_t len, struct tag_dump *d)
{
	const struct mapping *m = find_mapping(maps, n, addr);
	uint64_t end;
	int err;

	if (!m)
		fail(EXIT_INPUT, "address 0x%llx is not mapped in process %d",
		     (unsigned long long)addr, (int)pid);
	if (!m->mt)
		fail(EXIT_NOMTE, "address 0x%llx is in 0x%llx-0x%llx %s, which "
		     "is not tagged (no 'mt' in its VmFlags)",
		     (unsigned long long)addr, (unsigned long long)m->start,
		     (unsigned long long)m->end,
		     m->path[0] ? m->path : "[anon]");
	d->m = *m;
	d->addr = addr;
	d->start = from & ~(uint64_t)(TAG_ROW - 1);
	end = (from + len + TAG_ROW - 1) & ~(uint64_t)(TAG_ROW - 1);
	if (d->start < m->start)
		d->start = m->start;
	if (end > m->end)
		end = m->end;
	d->n = (size_t)(end - d->start) / 16;
	if (!(d->tags = calloc(d->n, 1)))
		fail(EXIT_INPUT, "out of memory for %zu tags", d->n);
	if ((err = peek_tags(pid, d->start, d->tags, d->n))) {
		free(d->tags);
		d->tags = NULL;
	}
	return err;
}

void tags_show(struct tag_dump *d)
{
	static const struct col cols[] = {
		{ "address", "ADDRESS", COL_STR, false },
		{ "tag", "TAG", COL_NUM, true },
	};
	uint64_t granule = d->addr & ~(uint64_t)15, a;
	size_t i;

	out_begin("tags", "Allocation tags (one per 16-byte granule; [] marks "
		  "the address)");
	out_strf("address", "address", "0x%llx", (unsigned long long)d->addr);
	out_strf("mapping", "in mapping", "0x%llx-0x%llx %s",
		 (unsigned long long)d->m.start, (unsigned long long)d->m.end,
		 d->m.path[0] ? d->m.path : "[anon]");
	if (out_json()) {
		out_table("granules", "", cols, 2);
		for (i = 0; i < d->n; i++) {
			char ab[32], tb[8];
			const char *cells[2] = { ab, tb };

			snprintf(ab, sizeof(ab), "0x%llx",
				 (unsigned long long)(d->start + 16 * i));
			snprintf(tb, sizeof(tb), "%u", d->tags[i] & 0xf);
			out_row(cells);
		}
		out_table_end();
	} else {
		/* as the fault report prints them: 16 granules a row */
		for (a = d->start, i = 0; i < d->n; a += 16, i++) {
			if (!(i % 16))
				printf("%s  0x%llx:", i ? "\n" : "",
				       (unsigned long long)a);
			printf(a == granule ? " [%x]" : "  %x ",
			       d->tags[i] & 0xf);
		}
		printf("\n");
	}
	out_end();
	free(d->tags);
	d->tags = NULL;
}

int cmd_tags(int argc, char **argv)
{
	const struct cli_cmd *c = find_command("tags");
	uint64_t addr, len = TAG_ROW;
	struct mapping *maps;
	struct tag_dump d;
	bool json = false;
	char *arg;
	pid_t pid;
	int k, n, err;

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
	n = need_mappings(pid, &maps);
	if ((err = tags_read(pid, maps, n, addr, addr, len, &d)))
		ptrace_refused(pid, err);
	free(maps);
	out_init(json);
	tags_show(&d);
	out_finish();
	return EXIT_OK;
}
