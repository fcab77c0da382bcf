/*
 * mte_probe.c - an ordinary program (not linked with libmtealloc) that the
 * shell tests run with the library preloaded, to see the process from
 * outside: what pointers look like, fork, dlopen, threads, and whether the
 * preloaded API is reachable.  Each subcommand prints one result line.
 */
#include <dlfcn.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <pthread.h>
#include <stdint.h>
#include <malloc.h>
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

/*
 * late: started with mode=off (so malloc and free take the pass-through
 * fast path), allocate and fill, switch tagging on with
 * mtealloc_set_mode(), and check that the old chunks kept their data and
 * can be freed and grown, and that new ones are tagged and checked.
 */
static int cmd_late(void)
{
	int (*set_mode)(int) = (int (*)(int))dlsym(RTLD_DEFAULT,
						    "mtealloc_set_mode");
	enum { N = 100 };
	char *old[N], *fresh;
	int i, j;

	if (!set_mode) {
		puts("late: mtealloc_set_mode not found");
		return 1;
	}
	for (i = 0; i < N; i++) {
		old[i] = malloc((size_t)i * 37 + 1);
		for (j = 0; j <= i * 37; j++)
			old[i][j] = (char)(i + j);
		if ((uintptr_t)old[i] >> 56) {
			puts("late: a chunk was tagged with tagging off");
			return 1;
		}
	}
	if (set_mode(1)) {		/* MTEALLOC_MODE_SYNC */
		puts("late: tagging unavailable");
		for (i = 0; i < N; i++)
			free(old[i]);
		return 0;
	}
	fresh = malloc(100);
	if (!((uintptr_t)fresh >> 56 & 0xf)) {
		puts("late: a new chunk is untagged after set_mode");
		return 1;
	}
	for (i = 0; i < N; i++)
		for (j = 0; j <= i * 37; j++)
			if (old[i][j] != (char)(i + j)) {
				printf("late: chunk %d lost byte %d\n", i, j);
				return 1;
			}
	old[0] = realloc(old[0], 5000);	/* an old chunk grows tagged */
	for (i = 0; i < N; i++)
		free(old[i]);
	free(fresh);
	puts("late ok");
	return 0;
}

/* hwcap: what the CPU offers, as the library sees it (AT_HWCAP2). */
static int cmd_hwcap(void)
{
	unsigned long h2 = getauxval(AT_HWCAP2);

	printf("hwcap: mte=%d mte3=%d\n", !!(h2 & (1UL << 18)),
	       !!(h2 & (1UL << 22)));	/* HWCAP2_MTE, HWCAP2_MTE3 */
	return 0;
}

/*
 * heap: a live tagged heap worth inspecting, under libmtealloc.  Fill
 * about 4 MiB of chunks, keep two (100 and 5000 bytes), print each one's
 * untagged address, tag and usable size, and wait to be killed (at most
 * 120 s), touching them now and then.
 */
static int cmd_heap(void)
{
	static char *keep[1024];
	char *chunk[2];
	size_t sizes[2] = { 100, 5000 };
	int i;

	for (i = 0; i < 1024; i++) {
		keep[i] = malloc(4000);
		memset(keep[i], i, 4000);
	}
	for (i = 0; i < 2; i++) {
		chunk[i] = malloc(sizes[i]);
		memset(chunk[i], 'a' + i, sizes[i]);
		printf("heap: chunk %#lx tag %u usable %zu\n",
		       (unsigned long)((uintptr_t)chunk[i] & ((1UL << 56) - 1)),
		       (unsigned)((uintptr_t)chunk[i] >> 56 & 0xf),
		       malloc_usable_size(chunk[i]));
	}
	printf("heap: pid %d ready\n", (int)getpid());
	fflush(stdout);
	for (i = 0; i < 120; i++) {
		sleep(1);
		chunk[i & 1][0]++;
	}
	for (i = 0; i < 1024; i++)
		free(keep[i]);
	free(chunk[0]);
	free(chunk[1]);
	return 0;
}

/*
 * hold: become a process worth inspecting.  Switch this thread to sync
 * tag checks, map a PROT_MTE page, give its first granules the tags
 * 1, 2, 3, ... (as far as the machine keeps them), allocate a little,
 * print the page's address, and wait to be killed (at most 120 s).
 */
static int cmd_hold(void)
{
	unsigned char *page;
	char *heap;
	int g;

	if (prctl(55, 1UL | (1UL << 1) | (0xfffeUL << 3), 0, 0, 0)) {
		puts("hold: prctl(PR_SET_TAGGED_ADDR_CTRL) failed: no MTE");
		return 1;
	}
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | 0x20,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) {
		puts("hold: mmap(PROT_MTE) failed");
		return 1;
	}
#if defined(__aarch64__)
	for (g = 0; g < 16; g++) {
		unsigned char *p = (unsigned char *)(((uintptr_t)page + 16 * g) |
						     ((uintptr_t)(g + 1) << 56));

		__asm__ volatile(".arch armv8.5-a+memtag\n\tstg %0, [%0]"
				 : : "r"(p) : "memory");
	}
#endif
	heap = strdup("held");
	printf("hold: pid %d page %p heap %p\n", (int)getpid(), (void *)page,
	       (void *)heap);
	/* the tags as this machine keeps them, for mtectl tags to match */
	printf("hold: tags");
	for (g = 0; g < 16; g++) {
		uintptr_t t = (uintptr_t)page + 16 * g;

#if defined(__aarch64__)
		__asm__ volatile(".arch armv8.5-a+memtag\n\tldg %0, [%0]"
				 : "+r"(t) : : "memory");
#endif
		printf(" %u", (unsigned)(t >> 56 & 0xf));
	}
	printf("\n");
	fflush(stdout);
	for (g = 0; g < 120; g++)
		sleep(1);
	free(heap);
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
	if (!strcmp(cmd, "hold"))
		return cmd_hold();
	if (!strcmp(cmd, "heap"))
		return cmd_heap();
	if (!strcmp(cmd, "hwcap"))
		return cmd_hwcap();
	if (!strcmp(cmd, "late"))
		return cmd_late();
	fprintf(stderr, "mte_probe: unknown command '%s'\n", cmd);
	return 2;
}
