/*
 * mte_on.c - a constructor that turns on synchronous tag-check faults
 * for the process, so that LLVM Scudo (which tags only when checks are
 * already on) tags its heap when the two are preloaded together.
 */
#include <sys/prctl.h>

__attribute__((constructor)) static void mte_on(void)
{
	prctl(55, 1UL | (1UL << 1) | (0xfffeUL << 3), 0, 0, 0);
}
