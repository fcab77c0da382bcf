/* heap_tests.h - suites of check_heap, which runs under the real library. */
#ifndef MTEALLOC_TESTS_HEAP_H
#define MTEALLOC_TESTS_HEAP_H

#include <check.h>

Suite *suite_heap_api(void);
Suite *suite_heap_mte(void);

/* 1 when this run must see tagging (MTEALLOC_EXPECT_TAGGING=1). */
int expect_tagging(void);

#endif
