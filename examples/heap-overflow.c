/*
 * heap-overflow.c - writes one element past the end of an array.  Under
 * libmtealloc the write lands in a granule with another tag, and faults.
 *
 * The default of 28 ints (112 bytes) fills its chunk exactly.  MTE works
 * in 16-byte granules, and malloc_usable_size() bytes are usable, so a
 * one-element overflow is caught where the array ends at a granule and a
 * size class boundary; try other counts to see where the slack lies.
 */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static int *make_table(size_t n)
{
	int *t = malloc(n * sizeof(*t));
	size_t i;

	for (i = 0; i <= n; i++)	/* the bug: <= */
		t[i] = (int)i;
	return t;
}

int main(int argc, char **argv)
{
	int *t = make_table(argc > 1 ? (size_t)atoi(argv[1]) : 28);

	printf("table filled: %d\n", t[0]);
	free(t);
	return 0;
}
