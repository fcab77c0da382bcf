/*
 * churn.c - the program of issue 15's first report, rebuilt from its
 * description: 4096 slots and 60000 steps from a fixed-seed PRNG, each
 * "free then malloc", "free then calloc", realloc or
 * malloc_usable_size, with sizes of 1-512 bytes and one step in eight up
 * to 70000.  It writes every byte it owns (here a pattern of the slot,
 * checked again before each free and realloc) and frees everything at
 * the end.  Under the heap before the fix, it died of a double free at
 * the same step in every run: realloc() had left a chunk's header naming
 * a smaller size class than its own.
 *
 * Exit status 0 and "churn: ok", or 1 naming the step.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4096
#define STEPS 60000

static char *slot[SLOTS];
static size_t len[SLOTS];
static uint64_t state = 0x2545f4914f6cdd1dULL;

static uint64_t next(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

static size_t pick_size(void)
{
	return next() % 8 == 0 ? 1 + next() % 70000 : 1 + next() % 512;
}

static int intact(unsigned i, size_t n, unsigned long step)
{
	size_t k;

	for (k = 0; k < n; k++)
		if (slot[i][k] != (char)(i + k)) {
			fprintf(stderr, "churn: step %lu: slot %u byte %zu of "
				"%zu changed\n", step, i, k, n);
			return 0;
		}
	return 1;
}

static void own(unsigned i)
{
	size_t k;

	for (k = 0; k < len[i]; k++)
		slot[i][k] = (char)(i + k);
}

int main(void)
{
	unsigned long step;
	unsigned i;

	for (step = 0; step < STEPS; step++) {
		unsigned op = next() % 4;
		size_t n = pick_size();
		char *q;

		i = next() % SLOTS;
		if (slot[i] && !intact(i, len[i], step))
			return 1;
		switch (op) {
		case 0:
		case 1:
			free(slot[i]);
			slot[i] = op ? calloc(1, n) : malloc(n);
			if (slot[i] && op)
				for (size_t k = 0; k < n; k++)
					if (slot[i][k]) {
						fprintf(stderr, "churn: step %lu: "
							"calloc byte %zu\n", step, k);
						return 1;
					}
			break;
		case 2:
			q = realloc(slot[i], n);
			if (q) {
				slot[i] = q;
				if (!intact(i, len[i] < n ? len[i] : n, step))
					return 1;
			}
			break;
		default:
			if (slot[i] && malloc_usable_size(slot[i]) < len[i]) {
				fprintf(stderr, "churn: step %lu: usable size "
					"below %zu\n", step, len[i]);
				return 1;
			}
			continue;
		}
		if (!slot[i]) {
			fprintf(stderr, "churn: step %lu: out of memory\n", step);
			return 1;
		}
		len[i] = n;
		own(i);
	}
	for (i = 0; i < SLOTS; i++)
		free(slot[i]);
	puts("churn: ok");
	return 0;
}
