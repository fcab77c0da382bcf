/*
 * check_stats.c - the counters, their one-line format, and the shared
 * page that mtectl reads: its layout must describe itself correctly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "stats_page.h"
#include "suites.h"

static void setup(void)
{
	mte_ensure_init();	/* moves the counters into the memfd page */
}

START_TEST(line_format)
{
	char buf[1024];
	size_t n;

	mte_stat_add(MTE_STAT_tagged_allocs, 3);
	n = mte_stats_format(buf, sizeof(buf));
	ck_assert_uint_eq(n, strlen(buf));
	ck_assert(!strncmp(buf, "mtealloc: stats: mode=", 22));
	ck_assert_ptr_nonnull(strstr(buf, " tagged_allocs="));
	ck_assert_ptr_nonnull(strstr(buf, " mprotect_calls="));
	ck_assert_int_eq(buf[n - 1], '\n');
}
END_TEST

START_TEST(counts_add_up_across_stripes)
{
	uint64_t before = mte_stats_get(MTE_STAT_double_frees), v;

	mte_stats_use_stripe(0);
	mte_stat_add(MTE_STAT_double_frees, 2);
	mte_stats_use_stripe(MTE_STATS_NSTRIPES - 1);
	mte_stat_add(MTE_STAT_double_frees, 5);
	ck_assert_uint_eq(mte_stats_get(MTE_STAT_double_frees), before + 7);
	ck_assert_int_eq(mtealloc_stat("double_frees", &v), 0);
	ck_assert_uint_eq(v, before + 7);
	ck_assert_int_eq(mtealloc_stat("no_such_counter", &v), -1);
}
END_TEST

/* Find our memfd in /proc/self/maps and read it as mtectl would. */
START_TEST(page_is_self_describing)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], buf[8192];
	unsigned long lo = 0, hi = 0;
	const struct mte_stats_page *pg = (const void *)buf;
	uint32_t i;
	int found = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/memfd:" MTE_STATS_MEMFD_NAME) &&
		    sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
			found = 1;
			break;
		}
	fclose(f);
	if (!found) {
		/* qemu-user shows its own maps; the page is still ours */
		ck_assert_ptr_nonnull(getenv("TEST_EMULATOR"));
		return;
	}
	ck_assert_uint_le(hi - lo, sizeof(buf));
	memcpy(buf, (void *)lo, hi - lo);
	ck_assert_int_eq(mte_stats_page_check(pg, hi - lo), 0);
	ck_assert_int_eq(pg->pid, getpid());
	ck_assert_uint_eq(pg->nstats, MTE_STAT_COUNT);
	for (i = 0; i < pg->nstats; i++)
		if (!strcmp(mte_stats_page_name(pg, i), "tagged_allocs"))
			break;
	ck_assert_uint_lt(i, pg->nstats);
	ck_assert_uint_eq(mte_stats_page_value(pg, i),
			  mte_stats_get(MTE_STAT_tagged_allocs));
	/* a reader rejects what it does not understand */
	buf[0] = 'X';
	ck_assert_int_eq(mte_stats_page_check(pg, hi - lo), -1);
}
END_TEST

Suite *suite_stats(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("stats");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, line_format);
	tcase_add_test(tc, counts_add_up_across_stripes);
	tcase_add_test(tc, page_is_self_describing);
	suite_add_tcase(s, tc);
	return s;
}
