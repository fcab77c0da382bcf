/*
 * clean.c - the same kinds of work as the buggy examples, done right.  It
 * must run silently under libmtealloc: no report, exit status 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	size_t i, n = 32;
	int *t = malloc(n * sizeof(*t));
	char *s = strdup("hello, world");
	long sum = 0;

	for (i = 0; i < n; i++)
		t[i] = (int)i;
	t = realloc(t, 2 * n * sizeof(*t));
	for (i = 0; i < n; i++)
		sum += t[i];
	printf("%s: sum=%ld\n", s, sum);
	free(s);
	free(t);
	return 0;
}
