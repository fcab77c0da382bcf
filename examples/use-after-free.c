/*
 * use-after-free.c - reads a string after freeing it.  Under libmtealloc
 * the read hits memory that was retagged on free, and faults.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static char *make_greeting(const char *name)
{
	char *s = malloc(64);

	snprintf(s, 64, "hello, %s", name);
	return s;
}

static int forgotten;

__attribute__((noinline)) static void forget_greeting(char *s)
{
	free(s);
	forgotten++;
}

int main(void)
{
	char *g = make_greeting("world");

	forget_greeting(g);
	printf("after free: %c\n", g[0]);	/* the bug */
	return forgotten - 1;
}
