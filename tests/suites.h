/* suites.h - the unit-test suites; check_unit.c runs them all. */
#ifndef MTEALLOC_TESTS_SUITES_H
#define MTEALLOC_TESTS_SUITES_H

#include <check.h>

Suite *suite_options(void);
Suite *suite_fmt(void);
Suite *suite_tags(void);
Suite *suite_stats(void);

#endif
