/*
 * fuzz_heap.c - the model-based heap test (heap_model.h) as a libFuzzer
 * target: the steps come from the fuzzer's bytes instead of a PRNG, and
 * the same model checks them.  It is linked with libmtealloc natively,
 * so it drives the pass-through path; make fuzz builds it with clang's
 * -fsanitize=fuzzer,undefined (not address: the allocator under test is
 * the process's malloc) and runs it over tests/model/corpus.
 */
#include <stdlib.h>

#include "heap_model.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct model_config cfg;

	model_default_config(&cfg);
	cfg.bytes = data;
	cfg.nbytes = size;
	cfg.threads = 1;
	cfg.slots = 64;
	cfg.max_size = 256 << 10;	/* megabytes are for stress.sh */
	cfg.live_limit = 64 << 20;
	cfg.quiet = 1;
	cfg.keep_signals = 1;
	if (model_run(&cfg, NULL))
		abort();	/* model_run() said what failed */
	return 0;
}
