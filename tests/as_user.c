/*
 * as_user.c - run a program as another user, for the tests of what an
 * unprivileged caller can do: secure execution of a setuid program
 * (tests/secure.sh), and mtectl against a process it may not trace.
 *
 *   as_user UID PROGRAM [ARGS...]
 *
 * Must start as root.  Drops the supplementary groups, then the group and
 * user IDs (all of real, effective and saved) to UID, and execs PROGRAM.
 * Exit 125 if it cannot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char *end;
	unsigned long id;

	if (argc < 3) {
		fputs("usage: as_user UID PROGRAM [ARGS...]\n", stderr);
		return 125;
	}
	errno = 0;
	id = strtoul(argv[1], &end, 10);
	if (errno || *end || end == argv[1] || id == 0 || id > 65535) {
		fprintf(stderr, "as_user: UID must be 1-65535, not '%s'\n", argv[1]);
		return 125;
	}
	if (setgroups(0, NULL) || setresgid(id, id, id) || setresuid(id, id, id)) {
		fprintf(stderr, "as_user: cannot become %lu: %s\n", id,
			strerror(errno));
		return 125;
	}
	execv(argv[2], argv + 2);
	fprintf(stderr, "as_user: %s: %s\n", argv[2], strerror(errno));
	return 125;
}
