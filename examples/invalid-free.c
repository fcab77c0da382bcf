/*
 * invalid-free.c - frees a pointer into the middle of an allocation.
 * libmtealloc's free() sees that no chunk starts there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct record {
	int id;
	char name[60];
};

__attribute__((noinline)) static struct record *new_record(int id)
{
	struct record *r = malloc(sizeof(*r));

	r->id = id;
	strcpy(r->name, "first");
	return r;
}

__attribute__((noinline)) static void drop_name(char *name)
{
	free(name);	/* the bug: name is inside a record */
	puts("name dropped");
}

int main(void)
{
	struct record *r = new_record(7);

	printf("record %d: %s\n", r->id, r->name);
	drop_name(r->name);
	free(r);
	return 0;
}
