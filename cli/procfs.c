/*
 * procfs.c - what mtectl reads from /proc and /sys.  Both roots can be
 * redirected (MTECTL_PROC_ROOT, MTECTL_SYS_ROOT) so that the parsers are
 * tested against fixture trees; nothing else in mtectl opens them.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtectl.h"

const char *proc_root(void)
{
	const char *r = getenv("MTECTL_PROC_ROOT");

	return r && *r ? r : "/proc";
}

const char *sys_root(void)
{
	const char *r = getenv("MTECTL_SYS_ROOT");

	return r && *r ? r : "/sys";
}

char *read_file(const char *path, size_t *len)
{
	size_t size = 4096, n = 0;
	char *buf = malloc(size);
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !buf) {
		int err = errno;

		free(buf);
		if (fd >= 0)
			close(fd);
		errno = err;
		return NULL;
	}
	while ((got = read(fd, buf + n, size - n - 1)) > 0) {
		n += (size_t)got;
		if (n + 1 == size) {
			char *more = realloc(buf, size *= 2);

			if (!more)
				break;
			buf = more;
		}
	}
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

bool pid_exists(pid_t pid)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%d/status", proc_root(), (int)pid);
	return access(path, F_OK) == 0;
}

char *pid_comm(pid_t pid)
{
	char path[256], *s;

	snprintf(path, sizeof(path), "%s/%d/comm", proc_root(), (int)pid);
	s = read_file(path, NULL);
	if (s)
		s[strcspn(s, "\n")] = '\0';
	return s;
}

static int cmp_pid(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

int pid_tids(pid_t pid, pid_t **tids)
{
	char path[256];
	struct dirent *d;
	int n = 0, cap = 16;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/%d/task", proc_root(), (int)pid);
	if (!(dir = opendir(path)))
		return -1;
	*tids = malloc((size_t)cap * sizeof(**tids));
	while ((d = readdir(dir))) {
		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		if (n == cap)
			*tids = realloc(*tids, (size_t)(cap *= 2) * sizeof(**tids));
		(*tids)[n++] = (pid_t)atoi(d->d_name);
	}
	closedir(dir);
	qsort(*tids, (size_t)n, sizeof(**tids), cmp_pid);
	return n;
}

/*
 * smaps: a header line per mapping ("start-end perms offset dev inode
 * path"), then "Key: value kB" lines, of which we keep Size, Rss and
 * VmFlags ("mt" marks PROT_MTE).
 */
int pid_mappings(pid_t pid, struct mapping **maps)
{
	char path[256], perms[8], *text, *line, *save = NULL;
	struct mapping *m = NULL, *cur = NULL;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%d/smaps", proc_root(), (int)pid);
	if (!(text = read_file(path, NULL)))
		return -1;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long long lo, hi;
		size_t tok = strcspn(line, " ");
		int off = -1;

		/* "Key:" lines end their first word with a colon; headers not */
		if (tok && line[tok - 1] != ':' && memchr(line, '-', tok) &&
		    sscanf(line, "%llx-%llx %4s %*s %*s %*s %n", &lo, &hi,
			   perms, &off) >= 3) {
			m = realloc(m, (size_t)(n + 1) * sizeof(*m));
			cur = &m[n++];
			memset(cur, 0, sizeof(*cur));
			cur->start = lo;
			cur->end = hi;
			memcpy(cur->perms, perms, sizeof(cur->perms));
			cur->perms[4] = '\0';
			snprintf(cur->path, sizeof(cur->path), "%s",
				 off >= 0 ? line + off : "");
			continue;
		}
		if (!cur)
			continue;
		if (!strncmp(line, "Size:", 5))
			cur->size_kb = strtoull(line + 5, NULL, 10);
		else if (!strncmp(line, "Rss:", 4))
			cur->rss_kb = strtoull(line + 4, NULL, 10);
		else if (!strncmp(line, "VmFlags:", 8)) {
			char *f = line + 8, *flag, *s2 = NULL;

			for (flag = strtok_r(f, " ", &s2); flag;
			     flag = strtok_r(NULL, " ", &s2))
				if (!strcmp(flag, "mt"))
					cur->mt = true;
		}
	}
	free(text);
	*maps = m;
	return n;
}

const struct mapping *find_mapping(const struct mapping *m, int n, uint64_t a)
{
	int i;

	for (i = 0; i < n; i++)
		if (a >= m[i].start && a < m[i].end)
			return &m[i];
	return NULL;
}
