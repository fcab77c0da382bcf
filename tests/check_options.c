/*
 * check_options.c - MTEALLOC_OPTIONS parsing: good input, and every kind
 * of bad input, which must warn once, name the problem, and keep the
 * default.
 */
#include <string.h>

#include "internal.h"
#include "suites.h"

static char warnings[8][512];
static int nwarn;

static void record(const char *msg)
{
	if (nwarn < 8)
		strncpy(warnings[nwarn], msg, sizeof(warnings[0]) - 1);
	nwarn++;
}

static struct mte_options parse(const char *s)
{
	struct mte_options o;

	memset(warnings, 0, sizeof(warnings));
	nwarn = 0;
	mte_options_defaults(&o);
	mte_options_parse(&o, s, record);
	return o;
}

START_TEST(defaults)
{
	struct mte_options o = parse("");

	ck_assert_uint_eq(o.mode, MTEALLOC_MODE_SYNC);
	ck_assert(!o.print_stats);
	ck_assert(!o.verbose);
	ck_assert_str_eq(o.log_path, "");
	ck_assert_uint_eq(o.narenas, 0);
	ck_assert_int_eq(nwarn, 0);
}
END_TEST

START_TEST(good_values)
{
	struct mte_options o = parse("mode=async:print_stats=1:verbose=1:"
				     "log_path=/tmp/x y:narenas=3");

	ck_assert_int_eq(nwarn, 0);
	ck_assert_uint_eq(o.mode, MTEALLOC_MODE_ASYNC);
	ck_assert(o.print_stats);
	ck_assert(o.verbose);
	ck_assert_str_eq(o.log_path, "/tmp/x y");
	ck_assert_uint_eq(o.narenas, 3);
}
END_TEST

START_TEST(every_mode)
{
	ck_assert_uint_eq(parse("mode=off").mode, MTEALLOC_MODE_OFF);
	ck_assert_uint_eq(parse("mode=sync").mode, MTEALLOC_MODE_SYNC);
	ck_assert_uint_eq(parse("mode=async").mode, MTEALLOC_MODE_ASYNC);
	ck_assert_uint_eq(parse("mode=asymm").mode, MTEALLOC_MODE_ASYMM);
	ck_assert_int_eq(nwarn, 0);
}
END_TEST

START_TEST(unknown_key)
{
	struct mte_options o = parse("colour=blue:mode=async");

	ck_assert_int_eq(nwarn, 1);
	ck_assert_ptr_nonnull(strstr(warnings[0], "unknown key 'colour'"));
	ck_assert_ptr_nonnull(strstr(warnings[0], "mode"));	/* lists keys */
	ck_assert_uint_eq(o.mode, MTEALLOC_MODE_ASYNC);	/* the rest applies */
}
END_TEST

START_TEST(bad_enum_keeps_default)
{
	struct mte_options o = parse("mode=fast");

	ck_assert_int_eq(nwarn, 1);
	ck_assert_ptr_nonnull(strstr(warnings[0], "bad value 'fast' for mode"));
	ck_assert_ptr_nonnull(strstr(warnings[0], "off|sync|async|asymm"));
	ck_assert_uint_eq(o.mode, MTEALLOC_MODE_SYNC);
}
END_TEST

START_TEST(bad_bool_and_uint)
{
	struct mte_options o = parse("print_stats=yes:narenas=65:narenas=x1");

	ck_assert_int_eq(nwarn, 3);
	ck_assert_ptr_nonnull(strstr(warnings[0], "print_stats"));
	ck_assert_ptr_nonnull(strstr(warnings[1], "0..64"));
	ck_assert(!o.print_stats);
	ck_assert_uint_eq(o.narenas, 0);
}
END_TEST

START_TEST(later_bad_value_resets_earlier_good)
{
	/* The last word on a key wins, even when it is wrong. */
	struct mte_options o = parse("mode=async:mode=bogus");

	ck_assert_int_eq(nwarn, 1);
	ck_assert_uint_eq(o.mode, MTEALLOC_MODE_SYNC);
}
END_TEST

START_TEST(not_key_value_and_empty_items)
{
	struct mte_options o = parse("::verbose:print_stats=1:");

	ck_assert_int_eq(nwarn, 1);
	ck_assert_ptr_nonnull(strstr(warnings[0], "'verbose' is not key=value"));
	ck_assert(o.print_stats);
}
END_TEST

START_TEST(overlong_path_rejected)
{
	char s[MTE_OPTION_PATH_MAX + 32] = "log_path=";
	struct mte_options o;

	memset(s + 9, 'a', MTE_OPTION_PATH_MAX);
	s[9 + MTE_OPTION_PATH_MAX] = '\0';
	o = parse(s);
	ck_assert_int_eq(nwarn, 1);
	ck_assert_str_eq(o.log_path, "");
}
END_TEST

START_TEST(table_is_complete)
{
	size_t i;

	/* Every option has a name, a default that parses, and help. */
	for (i = 0; i < mte_option_count; i++) {
		const struct mte_option_desc *d = &mte_option_table[i];
		char s[256];
		struct mte_options o;

		ck_assert(d->name[0] && d->help[0] && d->accepted[0]);
		mte_fmt(s, sizeof(s), "%s=%s", d->name, d->def);
		o = parse(s);
		(void)o;
		ck_assert_msg(nwarn == 0 || d->def[0] == '\0',
			      "default of %s does not parse", d->name);
	}
	ck_assert_int_ge((int)mte_option_count, 4);
}
END_TEST

START_TEST(enum_helpers)
{
	char buf[16];

	ck_assert_int_eq(mte_enum_index("off|sync|async", "async", 5), 2);
	ck_assert_int_eq(mte_enum_index("off|sync|async", "asy", 3), -1);
	ck_assert_str_eq(mte_enum_name("off|sync|async", 1, buf, sizeof(buf)),
			 "sync");
	ck_assert_str_eq(mte_enum_name("off|sync", 5, buf, sizeof(buf)), "?");
}
END_TEST

Suite *suite_options(void)
{
	Suite *s = suite_create("options");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, defaults);
	tcase_add_test(tc, good_values);
	tcase_add_test(tc, every_mode);
	tcase_add_test(tc, unknown_key);
	tcase_add_test(tc, bad_enum_keeps_default);
	tcase_add_test(tc, bad_bool_and_uint);
	tcase_add_test(tc, later_bad_value_resets_earlier_good);
	tcase_add_test(tc, not_key_value_and_empty_items);
	tcase_add_test(tc, overlong_path_rejected);
	tcase_add_test(tc, table_is_complete);
	tcase_add_test(tc, enum_helpers);
	suite_add_tcase(s, tc);
	return s;
}
