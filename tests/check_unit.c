/*
 * check_unit.c - runs libmtealloc's unit suites: the pure logic (options,
 * formatting, tag choice, stats), linked from the library's internals.
 */
#include <stdlib.h>

#include "suites.h"
#include "runner.h"

int main(void)
{
	SRunner *sr = srunner_create(suite_options());

	srunner_add_suite(sr, suite_fmt());
	srunner_add_suite(sr, suite_tags());
	srunner_add_suite(sr, suite_stats());
	return run_suites(sr);
}
