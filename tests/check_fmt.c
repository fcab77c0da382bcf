/* check_fmt.c - the async-signal-safe formatter against snprintf. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "suites.h"

#define SAME(...) do {						\
	char a[128], b[128];					\
	size_t n = mte_fmt(a, sizeof(a), __VA_ARGS__);		\
	snprintf(b, sizeof(b), __VA_ARGS__);			\
	ck_assert_str_eq(a, b);					\
	ck_assert_uint_eq(n, strlen(b));			\
} while (0)

START_TEST(matches_snprintf)
{
	SAME("plain");
	SAME("%d %d %i", 0, -42, 2147483647);
	SAME("%u %lu %zu %llu", 7u, 123456789012UL, (size_t)99,
	     18446744073709551615ULL);
	SAME("%x %lx %#x %X", 255u, 0xdeadbeefUL, 16u, 0xabcu);
	SAME("%5d|%-5d|%05d", 42, 42, 42);
	SAME("%s|%.3s|%-6s|%6s", "abc", "abcdef", "ab", "ab");
	SAME("%.*s", 2, "xyz");
	SAME("%c%%", 'q');
	SAME("%ld", -9223372036854775807L - 1);
}
END_TEST

START_TEST(pointer_and_null)
{
	char a[64];

	mte_fmt(a, sizeof(a), "%p", (void *)0x1234);
	ck_assert_str_eq(a, "0x1234");
	/* on purpose: the formatter must say (null), as glibc's does */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-overflow"
	mte_fmt(a, sizeof(a), "%s", (char *)NULL);
#pragma GCC diagnostic pop
	ck_assert_str_eq(a, "(null)");
}
END_TEST

START_TEST(truncates_safely)
{
	char a[8];
	size_t n = mte_fmt(a, sizeof(a), "%s", "0123456789");

	ck_assert_str_eq(a, "0123456");
	ck_assert_uint_eq(n, 7);
	ck_assert_uint_eq(mte_fmt(a, 0, "x"), 0);	/* size 0 writes nothing */
}
END_TEST

Suite *suite_fmt(void)
{
	Suite *s = suite_create("fmt");
	TCase *tc = tcase_create("fmt");

	tcase_add_test(tc, matches_snprintf);
	tcase_add_test(tc, pointer_and_null);
	tcase_add_test(tc, truncates_safely);
	suite_add_tcase(s, tc);
	return s;
}
