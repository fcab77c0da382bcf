/* runner.h - the end of every Check runner: run, count, exit status. */
#ifndef MTEALLOC_TESTS_RUNNER_H
#define MTEALLOC_TESTS_RUNNER_H

#include <check.h>
#include <stdlib.h>

static inline int run_suites(SRunner *sr)
{
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
