/*
 * mte_probe.c - an ordinary program (not linked with libmtealloc) that the
 * shell tests run with the library preloaded, to see the process from
 * outside: what pointers look like, fork, dlopen, threads, and whether the
 * preloaded API is reachable.  Each subcommand prints one result line.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int cmd_alloc(void)
{
	char *p = malloc(32);

	strcpy(p, "probe");
	printf("alloc: tag=%u %s\n", (unsigned)((uintptr_t)p >> 56 & 0xf), p);
	free(p);
	return 0;
}

static int cmd_fork(void)
{
	char *before = strdup("before");
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 1;
	if (pid == 0) {
		char *c = malloc(100);

		snprintf(c, 100, "child ok %s", before);
		puts(c);
		free(c);
		free(before);
		exit(0);
	}
	waitpid(pid, &status, 0);
	printf("parent ok %s child-status=%d\n", before,
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	free(before);
	return 0;
}

static int cmd_dlopen(const char *lib)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_GLOBAL);
	char *s;

	if (!h) {
		printf("dlopen failed: %s\n", dlerror());
		return 1;
	}
	s = strdup("across dlopen");	/* malloc after the load */
	dlclose(h);
	printf("dlopen ok: %s\n", s);
	free(s);
	return 0;
}

static void *worker(void *arg)
{
	int i;

	for (i = 0; i < 1000; i++)
		free(malloc((size_t)(i % 300) + 1));
	return arg;
}

static int cmd_threads(void)
{
	pthread_t t[4];
	int i;

	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	puts("threads ok");
	return 0;
}

/* The public API, found at run time as a preloading user would. */
static int cmd_api(void)
{
	int (*tagging)(void) = (int (*)(void))dlsym(RTLD_DEFAULT,
						     "mtealloc_tagging");
	const char *(*why)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT,
						"mtealloc_why_untagged");

	if (!tagging || !why) {
		puts("api: not found");
		return 1;
	}
	printf("api: tagging=%d why=%s\n", tagging(),
	       why() ? why() : "(tagging on)");
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "alloc";

	if (!strcmp(cmd, "alloc"))
		return cmd_alloc();
	if (!strcmp(cmd, "fork"))
		return cmd_fork();
	if (!strcmp(cmd, "dlopen"))
		return cmd_dlopen(argc > 2 ? argv[2] : "libm.so.6");
	if (!strcmp(cmd, "threads"))
		return cmd_threads();
	if (!strcmp(cmd, "api"))
		return cmd_api();
	fprintf(stderr, "mte_probe: unknown command '%s'\n", cmd);
	return 2;
}
