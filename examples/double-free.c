/*
 * double-free.c - frees the same buffer twice.  libmtealloc's free() sees
 * that the chunk is already free before touching anything.
 */
#include <stdio.h>
#include <stdlib.h>

static int released;

/* noinline, and buf is printed, so the compiler cannot drop the pair */
__attribute__((noinline)) static void release(char *buf)
{
	free(buf);
	released++;
}

int main(void)
{
	char *buf = malloc(100);

	snprintf(buf, 100, "buffer at %p", (void *)buf);
	puts(buf);
	release(buf);
	release(buf);		/* the bug */
	printf("freed %d times\n", released);
	return 0;
}
