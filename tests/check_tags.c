/*
 * check_tags.c - the tag-choice policy, with a stubbed tag source: the
 * random numbers are the test's, so every outcome is checked exactly.
 */
#include "internal.h"
#include "suites.h"

START_TEST(zero_always_excluded)
{
	ck_assert_uint_eq(mte_exclude_mask(-1, -1, -1), 1);
	ck_assert_uint_eq(mte_exclude_mask(3, 7, -1), 1 | 1 << 3 | 1 << 7);
	ck_assert_uint_eq(mte_exclude_mask(5, 5, 5), 1 | 1 << 5);
	ck_assert_uint_eq(mte_exclude_mask(0, -1, 15), 1 | 1 << 15);
}
END_TEST

START_TEST(never_an_excluded_tag)
{
	uint16_t ex = mte_exclude_mask(4, 9, 12);
	uint64_t r;

	for (r = 0; r < 1000; r++) {
		unsigned t = mte_choose_tag(ex, r * 2654435761u);

		ck_assert_uint_lt(t, 16);
		ck_assert_msg(!(ex & (1u << t)), "tag %u is excluded", t);
	}
}
END_TEST

START_TEST(uniform_over_allowed)
{
	uint16_t ex = mte_exclude_mask(1, 2, 3);	/* 12 tags allowed */
	unsigned seen[16] = { 0 }, t;
	uint64_t r;

	for (r = 0; r < 1200; r++)
		seen[mte_choose_tag(ex, r)]++;
	for (t = 0; t < 16; t++) {
		if (ex & (1u << t))
			ck_assert_uint_eq(seen[t], 0);
		else
			ck_assert_uint_eq(seen[t], 100);
	}
}
END_TEST

START_TEST(all_excluded_gives_zero)
{
	ck_assert_uint_eq(mte_choose_tag(0xffff, 12345), 0);
	/* one allowed tag: always that one */
	ck_assert_uint_eq(mte_choose_tag((uint16_t)~(1u << 6), 999), 6);
}
END_TEST

START_TEST(pointer_tag_bits)
{
	void *p = (void *)0x0000aaaabbbbccc0UL;
	void *t = mte_with_tag(p, 0xb);

	ck_assert_uint_eq(mte_ptr_tag(t), 0xb);
	ck_assert_ptr_eq(mte_untag(t), p);
	ck_assert_uint_eq(mte_ptr_tag(mte_with_tag(t, 0x13)), 3);
}
END_TEST

Suite *suite_tags(void)
{
	Suite *s = suite_create("tags");
	TCase *tc = tcase_create("choice");

	tcase_add_test(tc, zero_always_excluded);
	tcase_add_test(tc, never_an_excluded_tag);
	tcase_add_test(tc, uniform_over_allowed);
	tcase_add_test(tc, all_excluded_gives_zero);
	tcase_add_test(tc, pointer_tag_bits);
	suite_add_tcase(s, tc);
	return s;
}
