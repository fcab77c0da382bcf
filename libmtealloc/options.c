/*
 * options.c - MTEALLOC_OPTIONS: the option table, its defaults and the
 * parser.  The parser runs inside the first malloc() of the process, so it
 * never allocates, and a bad key or value is one warning line, after which
 * the default stays in force.
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"

const struct mte_option_desc mte_option_table[] = {
#define OPTION(kind, type, name, def, accepted, help) \
	{ #name, kind, def, accepted, help, offsetof(struct mte_options, name) },
#include "options.inc"
#undef OPTION
};

const size_t mte_option_count =
	sizeof(mte_option_table) / sizeof(mte_option_table[0]);

int mte_enum_index(const char *accepted, const char *value, size_t len)
{
	const char *p = accepted;
	int idx = 0;

	for (;;) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);

		if (n == len && !strncmp(p, value, len))
			return idx;
		if (!bar)
			return -1;
		p = bar + 1;
		idx++;
	}
}

const char *mte_enum_name(const char *accepted, unsigned idx, char *buf,
			  size_t size)
{
	const char *p = accepted;

	while (idx-- && p)
		if ((p = strchr(p, '|')))
			p++;
	if (!p || !size)
		return "?";
	size_t n = strcspn(p, "|");
	if (n >= size)
		n = size - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return buf;
}

/* Parse a decimal within the "lo..hi" range; false on any junk. */
static bool parse_uint(const char *v, size_t len, const char *range,
		       unsigned *out)
{
	unsigned long lo = 0, hi = 0, val = 0;
	const char *r = range;
	size_t i;

	if (!len || len > 9)
		return false;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		val = val * 10 + (unsigned long)(v[i] - '0');
	}
	while (*r >= '0' && *r <= '9')
		lo = lo * 10 + (unsigned long)(*r++ - '0');
	if (r[0] == '.' && r[1] == '.')
		for (r += 2; *r >= '0' && *r <= '9'; r++)
			hi = hi * 10 + (unsigned long)(*r - '0');
	if (val < lo || val > hi)
		return false;
	*out = (unsigned)val;
	return true;
}

/* Store value into option d; false if the value is not accepted. */
static bool set_option(struct mte_options *o, const struct mte_option_desc *d,
		       const char *v, size_t len)
{
	char *field = (char *)o + d->offset;
	int idx;

	switch (d->kind) {
	case MTE_OPT_BOOL:
		if (len != 1 || (v[0] != '0' && v[0] != '1'))
			return false;
		*(bool *)field = v[0] == '1';
		return true;
	case MTE_OPT_ENUM:
		idx = mte_enum_index(d->accepted, v, len);
		if (idx < 0)
			return false;
		*(unsigned *)field = (unsigned)idx;
		return true;
	case MTE_OPT_UINT:
		return parse_uint(v, len, d->accepted, (unsigned *)field);
	case MTE_OPT_STRING:
		if (len >= MTE_OPTION_PATH_MAX)
			return false;
		memcpy(field, v, len);
		field[len] = '\0';
		return true;
	}
	return false;
}

void mte_options_defaults(struct mte_options *o)
{
	size_t i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < mte_option_count; i++) {
		const struct mte_option_desc *d = &mte_option_table[i];

		set_option(o, d, d->def, strlen(d->def));
	}
}

static const struct mte_option_desc *find_option(const char *key, size_t len)
{
	size_t i;

	for (i = 0; i < mte_option_count; i++)
		if (strlen(mte_option_table[i].name) == len &&
		    !strncmp(mte_option_table[i].name, key, len))
			return &mte_option_table[i];
	return NULL;
}

static void warn_unknown(const char *key, size_t len, mte_warn_fn warn)
{
	char msg[512];
	size_t n, i;

	n = mte_fmt(msg, sizeof(msg),
		    "MTEALLOC_OPTIONS: unknown key '%.*s' ignored; known keys:",
		    (int)(len > 64 ? 64 : len), key);
	for (i = 0; i < mte_option_count && n < sizeof(msg); i++)
		n += mte_fmt(msg + n, sizeof(msg) - n, "%s %s",
			     i ? "," : "", mte_option_table[i].name);
	warn(msg);
}

static void warn_value(const struct mte_option_desc *d, const char *v,
		       size_t len, mte_warn_fn warn)
{
	char msg[512];

	mte_fmt(msg, sizeof(msg),
		"MTEALLOC_OPTIONS: bad value '%.*s' for %s (accepted: %s); "
		"using the default '%s'", (int)(len > 64 ? 64 : len), v,
		d->name, d->accepted, d->def);
	warn(msg);
}

void mte_options_parse(struct mte_options *o, const char *str,
		       mte_warn_fn warn)
{
	const char *p = str;

	while (p && *p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		const struct mte_option_desc *d;

		if (len == 0) {
			/* tolerate "a=1::b=2" and a trailing ':' */
		} else if (!eq) {
			char msg[160];

			mte_fmt(msg, sizeof(msg), "MTEALLOC_OPTIONS: '%.*s' is "
				"not key=value; ignored", (int)(len > 64 ? 64 : len), p);
			warn(msg);
		} else if (!(d = find_option(p, (size_t)(eq - p)))) {
			warn_unknown(p, (size_t)(eq - p), warn);
		} else if (!set_option(o, d, eq + 1, len - (size_t)(eq - p) - 1)) {
			warn_value(d, eq + 1, len - (size_t)(eq - p) - 1, warn);
			set_option(o, d, d->def, strlen(d->def));
		}
		p = end ? end + 1 : NULL;
	}
}
