/*
 * out.c - mtectl's output: commands emit sections, key/value pairs and
 * tables once, and this file renders them either for a person (labels and
 * aligned columns) or as one JSON document (--json).  The same calls feed
 * both, so the JSON always carries what the tables show.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtectl.h"

#define MAX_DEPTH 8

static bool json;
static int depth;		/* open sections */
static bool need_comma[MAX_DEPTH + 2];

/* the table being collected (text mode needs widths first) */
static const struct col *tcols;
static int tncols, tnrows;
static char ***trows;

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void json_key(const char *key)
{
	if (need_comma[depth])
		putchar(',');
	need_comma[depth] = true;
	putchar('\n');
	printf("%*s", 2 * (depth + 1), "");
	json_string(key);
	printf(": ");
}

bool out_json(void)
{
	return json;
}

void out_init(bool as_json)
{
	json = as_json;
	depth = 0;
	memset(need_comma, 0, sizeof(need_comma));
	if (json)
		putchar('{');
}

void out_finish(void)
{
	if (json)
		printf("\n}\n");
	fflush(stdout);
}

void out_begin(const char *key, const char *title)
{
	if (json) {
		json_key(key);
		putchar('{');
	} else {
		printf("%s%*s%s:\n", depth == 0 ? "" : "", 2 * depth, "", title);
	}
	if (depth < MAX_DEPTH)
		depth++;
	need_comma[depth] = false;
}

void out_end(void)
{
	if (depth > 0)
		depth--;
	if (json)
		printf("\n%*s}", 2 * (depth + 1), "");
	else if (depth == 0)
		putchar('\n');
}

static void text_label(const char *label)
{
	printf("%*s%-28s ", 2 * depth, "", label);
}

void out_str(const char *key, const char *label, const char *value)
{
	if (json) {
		json_key(key);
		if (value)
			json_string(value);
		else
			printf("null");
	} else {
		text_label(label);
		printf("%s\n", value ? value : "-");
	}
}

void out_strf(const char *key, const char *label, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	out_str(key, label, buf);
}

void out_num(const char *key, const char *label, uint64_t value)
{
	if (json) {
		json_key(key);
		printf("%llu", (unsigned long long)value);
	} else {
		text_label(label);
		printf("%llu\n", (unsigned long long)value);
	}
}

void out_bool(const char *key, const char *label, bool value)
{
	if (json) {
		json_key(key);
		printf(value ? "true" : "false");
	} else {
		text_label(label);
		printf("%s\n", value ? "yes" : "no");
	}
}

/* A line for people only: JSON carries the same fact in its fields. */
void out_note(const char *fmt, ...)
{
	va_list ap;

	if (json)
		return;
	printf("%*s", 2 * depth, "");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

void out_table(const char *key, const char *title, const struct col *cols,
	       int ncols)
{
	tcols = cols;
	tncols = ncols;
	tnrows = 0;
	trows = NULL;
	if (json) {
		json_key(key);
		putchar('[');
	} else {
		printf("%*s%s:\n", 2 * depth, "", title);
	}
}

void out_row(const char *const *cells)
{
	int i;

	if (json) {
		printf("%s\n%*s{", tnrows ? "," : "", 2 * (depth + 2), "");
		for (i = 0; i < tncols; i++) {
			printf("%s", i ? ", " : "");
			json_string(tcols[i].key);
			printf(": ");
			if (!cells[i])
				printf("null");
			else if (tcols[i].type == COL_STR)
				json_string(cells[i]);
			else
				printf("%s", cells[i]);
		}
		putchar('}');
		tnrows++;
		return;
	}
	trows = realloc(trows, (size_t)(tnrows + 1) * sizeof(*trows));
	if (!trows)
		fail(EXIT_FAILURE, "out of memory");
	trows[tnrows] = calloc((size_t)tncols, sizeof(char *));
	for (i = 0; i < tncols; i++)
		trows[tnrows][i] = strdup(cells[i] ? cells[i] : "-");
	tnrows++;
}

void out_table_end(void)
{
	int i, r, w[32] = { 0 };

	if (json) {
		printf("\n%*s]", 2 * (depth + 1), "");
		return;
	}
	for (i = 0; i < tncols && i < 32; i++) {
		w[i] = (int)strlen(tcols[i].title);
		for (r = 0; r < tnrows; r++)
			if ((int)strlen(trows[r][i]) > w[i])
				w[i] = (int)strlen(trows[r][i]);
	}
	printf("%*s", 2 * (depth + 1), "");
	for (i = 0; i < tncols; i++)
		printf(tcols[i].right ? "%*s%s" : "%-*s%s", w[i],
		       tcols[i].title, i + 1 < tncols ? "  " : "\n");
	for (r = 0; r < tnrows; r++) {
		printf("%*s", 2 * (depth + 1), "");
		for (i = 0; i < tncols; i++) {
			printf(tcols[i].right ? "%*s%s" : "%-*s%s", w[i],
			       trows[r][i], i + 1 < tncols ? "  " : "\n");
			free(trows[r][i]);
		}
		free(trows[r]);
	}
	if (!tnrows)
		printf("%*s(none)\n", 2 * (depth + 1), "");
	if (depth == 0)
		putchar('\n');
	free(trows);
	trows = NULL;
}
