/*
 * log.c - where libmtealloc's messages go.  By default stderr; with
 * log_path=PATH, the file PATH.<pid>, opened on first use and reopened in
 * a forked child so that every process writes its own file.  Writes are
 * single write(2) calls, so lines from several threads never interleave
 * inside a line, and the code is async-signal-safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static _Atomic int log_fd = -1;		/* -1: not opened yet */
static int saved_stderr = -1;

#define SAVED_STDERR_MIN 100	/* out of the way of the program's fds */

void mte_log_init(void)
{
	saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, SAVED_STDERR_MIN);
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EBADF && fd == STDERR_FILENO &&
		    saved_stderr >= 0) {
			fd = saved_stderr;
			continue;
		}
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static int open_log(void)
{
	const char *path = mte_g.opt.log_path;
	char name[MTE_OPTION_PATH_MAX + 32], msg[MTE_OPTION_PATH_MAX + 96];
	pid_t pid = getpid();
	struct stat st;
	int fd;

	if (!path[0])
		return STDERR_FILENO;
	mte_fmt(name, sizeof(name), "%s.%d", path, (int)pid);
	/*
	 * A symlink planted under the name, in a shared directory, must not
	 * redirect the log (O_NOFOLLOW), nor may a file someone else made
	 * there receive it: only a regular file of this user, created 0600.
	 */
	fd = open(name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
			st.st_uid != geteuid())) {
		close(fd);
		fd = -1;
		errno = EPERM;
	}
	if (fd < 0) {
		int saved = errno;

		mte_fmt(msg, sizeof(msg), "mtealloc: warning: log_path: cannot "
			"open %s (errno %d%s); writing to stderr instead\n",
			name, saved, saved == ELOOP ? ": a symlink" :
			saved == EPERM ? ": not a regular file of this user" : "");
		write_all(STDERR_FILENO, msg, __builtin_strlen(msg));
		fd = STDERR_FILENO;
	}
	return fd;
}

void mte_log_write(const char *buf, size_t len)
{
	int fd = atomic_load(&log_fd);

	if (fd < 0) {
		int expected = -1, mine = open_log();

		if (!atomic_compare_exchange_strong(&log_fd, &expected, mine)) {
			if (mine > STDERR_FILENO)
				close(mine);
		}
		fd = atomic_load(&log_fd);
	}
	write_all(fd, buf, len);
}

void mte_log_after_fork_child(void)
{
	int fd = atomic_load(&log_fd);

	/* The child writes its own PATH.<pid>, opened on first use. */
	if (fd > STDERR_FILENO)
		close(fd);
	atomic_store(&log_fd, -1);
}

void mte_logf(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = mte_vfmt(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	mte_log_write(buf, n);
}

void mte_warn_line(const char *msg)
{
	mte_logf("mtealloc: warning: %s\n", msg);
}
