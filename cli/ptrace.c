/*
 * ptrace.c - what only ptrace can tell: each thread's tagged-address
 * control (the NT_ARM_TAGGED_ADDR_CTRL regset) and the allocation tags of
 * memory (PTRACE_PEEKMTETAGS).  A thread is seized, interrupted for as
 * long as one request takes, and always detached.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "mtectl.h"

#define NT_ARM_TAGGED_ADDR_CTRL_	0x409
#define PTRACE_PEEKMTETAGS_		33
#define PR_TAGGED_ADDR_ENABLE_		1UL
#define PR_MTE_TCF_SHIFT_		1
#define PR_MTE_TAG_SHIFT_		3

/* Seize tid and stop it; 0, or an errno. */
static int grab(pid_t tid)
{
	int st;

	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0)
		return errno;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 ||
	    waitpid(tid, &st, __WALL) < 0) {
		int err = errno;

		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return err;
	}
	return 0;
}

static void release(pid_t tid)
{
	ptrace(PTRACE_DETACH, tid, NULL, NULL);
}

int thread_tagged_ctrl(pid_t tid, uint64_t *ctrl)
{
	struct iovec iov = { ctrl, sizeof(*ctrl) };
	int err = grab(tid);

	if (err)
		return err;
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_ARM_TAGGED_ADDR_CTRL_,
		   &iov) < 0)
		err = errno;
	release(tid);
	return err;
}

int peek_tags(pid_t pid, uint64_t addr, unsigned char *tags, size_t n)
{
	size_t done = 0;
	int err = grab(pid);

	if (err)
		return err;
	while (done < n) {
		struct iovec iov = { tags + done, n - done };

		if (ptrace(PTRACE_PEEKMTETAGS_, pid,
			   (void *)(uintptr_t)(addr + 16 * done), &iov) < 0) {
			err = errno;
			break;
		}
		if (!iov.iov_len)
			break;
		done += iov.iov_len;
	}
	release(pid);
	return err;
}

/* "sync", "async", "asymm (per CPU)", "none", from the control word. */
const char *ctrl_mode(uint64_t ctrl)
{
	switch ((ctrl >> PR_MTE_TCF_SHIFT_) & 3) {
	case 0:
		return "none";
	case 1:
		return "sync";
	case 2:
		return "async";
	}
	return "sync+async (the CPU's preferred mode)";
}

void ptrace_refused(pid_t pid, int err)
{
	if (err == ESRCH)
		fail(EXIT_INPUT, "process %d went away", (int)pid);
	if (err == EIO || err == EINVAL)
		fail(EXIT_NOMTE, "the kernel does not answer MTE ptrace requests "
		     "for process %d (%s): it has no MTE", (int)pid, strerror(err));
	fail(EXIT_PERM, "cannot ptrace process %d: %s; check "
	     "/proc/sys/kernel/yama/ptrace_scope (0 allows a parent or same-user "
	     "tracer, higher needs CAP_SYS_PTRACE: run as root), or use "
	     "--no-ptrace", (int)pid, strerror(err));
}
