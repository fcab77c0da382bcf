/*
 * check_unit.c - runs libmtealloc's unit suites: the pure logic (options,
 * formatting, tag choice, stats), linked from the library's internals.
 */
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	SRunner *sr = srunner_create(suite_options());
	int failed;

	srunner_add_suite(sr, suite_fmt());
	srunner_add_suite(sr, suite_tags());
	srunner_add_suite(sr, suite_stats());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
