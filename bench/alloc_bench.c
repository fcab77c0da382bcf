/*
 * alloc_bench.c - allocation workloads for comparing allocators side by
 * side (bench/run-bench runs it under each).  It allocates through plain
 * malloc/free, so whatever is preloaded is what is measured, and prints
 * one line: "<workload> <seconds> <operations>".
 *
 *   alloc_bench pairs MIN MAX N     malloc/free pairs, sizes MIN..MAX
 *   alloc_bench calloc SIZE N       calloc/free pairs
 *   alloc_bench realloc N           grow buffers by realloc to 1 MiB
 *   alloc_bench prodcons N          one thread allocates, another frees
 *   alloc_bench threads T N         T threads of malloc/free pairs
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *volatile sink;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint32_t rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Live set of 256 slots, so that frees are not always LIFO. */
static long pairs(size_t min, size_t max, long n, uint32_t seed)
{
	void *slot[256] = { 0 };
	long i;

	for (i = 0; i < n; i++) {
		unsigned k = rnd(&seed) & 255;
		size_t sz = min + rnd(&seed) % (max - min + 1);

		free(slot[k]);
		slot[k] = malloc(sz);
		((char *)slot[k])[0] = (char)i;
	}
	for (i = 0; i < 256; i++)
		free(slot[i]);
	return n;
}

static long callocs(size_t size, long n)
{
	long i;

	for (i = 0; i < n; i++) {
		char *p = calloc(1, size);

		sink = p;
		free(p);
	}
	return n;
}

static long reallocs(long n)
{
	long i, ops = 0;

	for (i = 0; i < n; i++) {
		char *p = NULL;
		size_t sz;

		for (sz = 16; sz <= (1 << 20); sz += sz / 2 + 8) {
			p = realloc(p, sz);
			p[sz - 1] = 1;
			ops++;
		}
		free(p);
	}
	return ops;
}

#define RING 1024
static void *_Atomic ring[RING];

static void *consumer(void *arg)
{
	long n = *(long *)arg, got = 0;
	unsigned i = 0;

	while (got < n) {
		void *p = atomic_exchange(&ring[i], NULL);

		if (p) {
			free(p);
			got++;
		}
		i = (i + 1) % RING;
	}
	return NULL;
}

static long prodcons(long n)
{
	pthread_t t;
	uint32_t seed = 7;
	long i;
	unsigned k = 0;

	pthread_create(&t, NULL, consumer, &n);
	for (i = 0; i < n; i++) {
		void *p = malloc(16 + rnd(&seed) % 512), *expected = NULL;

		while (!atomic_compare_exchange_weak(&ring[k], &expected, p))
			expected = NULL;
		k = (k + 1) % RING;
	}
	pthread_join(t, NULL);
	return n;
}

static long per_thread;

static void *worker(void *arg)
{
	pairs(16, 1024, per_thread, (uint32_t)(uintptr_t)arg);
	return NULL;
}

static long threads(int t, long n)
{
	pthread_t tid[64];
	int i;

	per_thread = n;
	for (i = 0; i < t && i < 64; i++)
		pthread_create(&tid[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (i = 0; i < t && i < 64; i++)
		pthread_join(tid[i], NULL);
	return n * t;
}

int main(int argc, char **argv)
{
	const char *w = argc > 1 ? argv[1] : "";
	double t0 = now();
	long ops;

	if (!strcmp(w, "pairs") && argc == 5)
		ops = pairs(strtoul(argv[2], NULL, 0), strtoul(argv[3], NULL, 0),
			    atol(argv[4]), 1);
	else if (!strcmp(w, "calloc") && argc == 4)
		ops = callocs(strtoul(argv[2], NULL, 0), atol(argv[3]));
	else if (!strcmp(w, "realloc") && argc == 3)
		ops = reallocs(atol(argv[2]));
	else if (!strcmp(w, "prodcons") && argc == 3)
		ops = prodcons(atol(argv[2]));
	else if (!strcmp(w, "threads") && argc == 4)
		ops = threads(atoi(argv[2]), atol(argv[3]));
	else {
		fprintf(stderr, "usage: alloc_bench pairs MIN MAX N | calloc SIZE N"
			" | realloc N | prodcons N | threads T N\n");
		return 1;
	}
	printf("%s %.4f %ld\n", w, now() - t0, ops);
	return 0;
}
