/*
 * mtectl.h - declarations shared by mtectl's files, grouped by the file
 * that defines them.
 */
#ifndef MTECTL_H
#define MTECTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Exit statuses, documented in mtectl(1). */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1,		/* unknown subcommand or option, bad arguments */
	EXIT_INPUT = 2,		/* no such process, bad pid or address, unmapped */
	EXIT_PERM = 3,		/* ptrace or /proc refused */
	EXIT_NOMTE = 4,		/* the machine or the process has no MTE */
	EXIT_RUN = 5,		/* run: libmtealloc not found */
};

/* ---- mtectl.c ---- */
extern const char *prog_name;
void fail(int status, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- mtectl.c: options declared once, for getopt and for --help ---- */
struct cli_opt {
	const char *name;	/* long name */
	int key;		/* short letter, or a value > 255 */
	const char *arg;	/* argument name, or NULL */
	const char *help;
};

struct cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *args;	/* "<pid>" etc., for the usage line */
	const char *summary;
	const struct cli_opt *opts;	/* ends with { NULL } */
	const char *more;	/* extra --help text, or NULL */
	/*
	 * Options end at the first argument, which names a program whose
	 * own options follow (run).  Otherwise options may come before or
	 * after the arguments, as in util-linux: 'inspect 42 -a 0x10'.
	 */
	bool options_end_at_program;
};

extern const struct cli_cmd commands[];
const struct cli_cmd *find_command(const char *name);
void print_usage(const struct cli_cmd *c, FILE *f);
/* getopt_long over c->opts; -h/--help handled here.  Returns key, or -1. */
int next_opt(const struct cli_cmd *c, int argc, char **argv, char **arg);
pid_t parse_pid(const char *s);
uint64_t parse_addr(const char *s, const char *what);
struct mapping;
/* pid_mappings(), or exit with a message: no such process, or refused */
int need_mappings(pid_t pid, struct mapping **maps);

/* ---- out.c: one stream of data, as tables or as JSON ---- */
enum col_type { COL_STR, COL_NUM, COL_BOOL };
struct col {
	const char *key;	/* JSON name */
	const char *title;	/* table header */
	enum col_type type;
	bool right;		/* right-align in tables */
};

void out_init(bool json);
bool out_json(void);
void out_finish(void);
void out_begin(const char *key, const char *title);	/* a section */
void out_end(void);
void out_str(const char *key, const char *label, const char *value);
void out_num(const char *key, const char *label, uint64_t value);
void out_bool(const char *key, const char *label, bool value);
void out_strf(const char *key, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void out_table(const char *key, const char *title, const struct col *cols,
	       int ncols);
void out_row(const char *const *cells);
void out_table_end(void);
void out_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- procfs.c: reading /proc and /sys (roots redirectable for tests) ---- */
const char *proc_root(void);
const char *sys_root(void);
char *read_file(const char *path, size_t *len);	/* NUL-terminated, or NULL */
bool pid_exists(pid_t pid);
int pid_tids(pid_t pid, pid_t **tids);		/* count, or -1 */
char *pid_comm(pid_t pid);

struct mapping {
	uint64_t start, end;
	char perms[5];
	char path[256];
	uint64_t size_kb, rss_kb;
	bool mt;
};
int pid_mappings(pid_t pid, struct mapping **maps);	/* count, or -1 */
const struct mapping *find_mapping(const struct mapping *m, int n, uint64_t a);

/* ---- ptrace.c: the tagged-address control and allocation tags ---- */
/* 0, or an errno; *ctrl is the NT_ARM_TAGGED_ADDR_CTRL value. */
int thread_tagged_ctrl(pid_t tid, uint64_t *ctrl);
/* 0, or an errno; tags[i] for granule i of [addr, addr + 16 * n). */
int peek_tags(pid_t pid, uint64_t addr, unsigned char *tags, size_t n);
const char *ctrl_mode(uint64_t ctrl);
void ptrace_refused(pid_t pid, int err) __attribute__((noreturn));

/* ---- the subcommands ---- */
int cmd_status(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_tags(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_help(int argc, char **argv);
/*
 * cmd_tags.c, shared by inspect and tags: the tags of [from, from + len)
 * rounded out to whole rows of 16 granules and clipped to the tagged
 * mapping that holds addr, whose granule is marked; read before any
 * output begins (so that a bad address ends the command with nothing
 * half-printed), shown later.
 */
#define TAG_ROW 256	/* bytes a row of the dump shows: 16 granules */
struct tag_dump {
	uint64_t addr, start;	/* the address marked; the first row's */
	size_t n;		/* granules */
	unsigned char *tags;
	struct mapping m;	/* the tagged mapping holding addr */
};
/* Exits when addr is not in a tagged mapping; 0, or an errno of ptrace. */
int tags_read(pid_t pid, const struct mapping *maps, int n, uint64_t addr,
	      uint64_t from, uint64_t len, struct tag_dump *d);
void tags_show(struct tag_dump *d);	/* and frees d->tags */

#endif /* MTECTL_H */
