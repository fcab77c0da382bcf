/*
 * fmt.c - a small printf for paths where stdio is off limits: inside the
 * first malloc(), in fork handlers, and in signal handlers.  It never
 * allocates and touches no global state, so it is async-signal-safe.
 *
 * Supported: flags '-', '0', '#'; width and precision (number or '*');
 * length h, hh, l, ll, z, j, t; conversions d i u x X p s c %.
 */
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

struct out {
	char *buf;
	size_t size, len;	/* len counts what fitted */
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len++] = c;
}

static void pad(struct out *o, char c, int n)
{
	while (n-- > 0)
		put(o, c);
}

static void put_field(struct out *o, const char *s, size_t n, int width,
		      bool left, char padc)
{
	int fill = width > (int)n ? width - (int)n : 0;

	if (!left)
		pad(o, padc, fill);
	while (n--)
		put(o, *s++);
	if (left)
		pad(o, ' ', fill);
}

static size_t utoa(char *end, uint64_t v, unsigned base, bool upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char *p = end;

	do {
		*--p = digits[v % base];
		v /= base;
	} while (v);
	return (size_t)(end - p);
}

size_t mte_vfmt(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };

	for (; *fmt; fmt++) {
		bool left = false, alt = false;
		char padc = ' ', tmp[32];
		int width = 0, prec = -1, lng = 0;
		uint64_t u;
		int64_t s;
		size_t n;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		for (fmt++;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				padc = '0';
			else if (*fmt == '#')
				alt = true;
			else
				break;
		}
		if (*fmt == '*') {
			width = va_arg(ap, int);
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		if (*fmt == '.') {
			fmt++;
			prec = 0;
			if (*fmt == '*') {
				prec = va_arg(ap, int);
				fmt++;
			}
			while (*fmt >= '0' && *fmt <= '9')
				prec = prec * 10 + (*fmt++ - '0');
		}
		for (;; fmt++) {
			if (*fmt == 'l' || *fmt == 'z' || *fmt == 'j' ||
			    *fmt == 't')
				lng++;
			else if (*fmt != 'h')
				break;
		}
		switch (*fmt) {
		case 'd':
		case 'i':
			s = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			u = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
			n = utoa(tmp + sizeof(tmp), u, 10, false);
			if (s < 0) {
				tmp[sizeof(tmp) - n - 1] = '-';
				n++;
			}
			put_field(&o, tmp + sizeof(tmp) - n, n, width, left, padc);
			break;
		case 'u':
		case 'x':
		case 'X':
			u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			n = utoa(tmp + sizeof(tmp), u, *fmt == 'u' ? 10 : 16,
				 *fmt == 'X');
			if (alt && *fmt != 'u')
				put_field(&o, "0x", 2, 0, false, ' ');
			put_field(&o, tmp + sizeof(tmp) - n, n, width, left, padc);
			break;
		case 'p':
			u = (uint64_t)(uintptr_t)va_arg(ap, void *);
			n = utoa(tmp + sizeof(tmp), u, 16, false);
			put_field(&o, "0x", 2, 0, false, ' ');
			put_field(&o, tmp + sizeof(tmp) - n, n, width, left, padc);
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);

			if (!str)
				str = "(null)";
			n = prec >= 0 ? strnlen(str, (size_t)prec) : strlen(str);
			put_field(&o, str, n, width, left, ' ');
			break;
		}
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			put_field(&o, tmp, 1, width, left, ' ');
			break;
		case '%':
			put(&o, '%');
			break;
		default:	/* unknown conversion: print it as is */
			put(&o, '%');
			if (!*fmt)
				goto done;
			put(&o, *fmt);
		}
	}
done:
	if (o.size)
		o.buf[o.len] = '\0';
	return o.len;
}

size_t mte_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = mte_vfmt(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
