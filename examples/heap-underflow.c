/*
 * heap-underflow.c - scans a buffer backwards one step too far.  Under
 * libmtealloc the read lands in the chunk's tag-0 header, and faults.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) static char *read_line(void)
{
	char *line = malloc(48);

	strcpy(line, "  trailing spaces   ");
	return line;
}

/* the bug: an all-blank line reads line[-1] */
__attribute__((noinline)) static size_t last_non_space(const char *line)
{
	size_t i = strlen(line);

	while (line[i - 1] == ' ')
		i--;
	return i;
}

int main(void)
{
	char *line = read_line();
	char *blank = read_line();

	memset(blank, ' ', 20);
	printf("last non-space at %zu\n", last_non_space(line));
	printf("blank line: %zu\n", last_non_space(blank));
	free(line);
	free(blank);
	return 0;
}
