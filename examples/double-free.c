/*
 * double-free.c - frees the same buffer twice.  libmtealloc's free() sees
 * that the chunk is already free before touching anything.
 */
#include <stdio.h>
#include <stdlib.h>

/* noinline, and buf is printed, so the compiler cannot drop the pair */
__attribute__((noinline)) static void release(char *buf)
{
	free(buf);
}

int main(void)
{
	char *buf = malloc(100);

	snprintf(buf, 100, "buffer at %p", (void *)buf);
	puts(buf);
	release(buf);
	release(buf);		/* the bug */
	puts("freed twice");
	return 0;
}
