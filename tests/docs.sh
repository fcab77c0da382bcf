#!/bin/sh
# docs.sh - the manual pages say what the code does: every option key
# (options.inc) and every counter (stats.inc) is documented in
# libmtealloc(3), and every page renders without a groff warning; and the
# kernel series is whole: every patch its series file names is here (in a
# distribution tarball too), and the cover letter counts them.
. "${top_srcdir:-.}/tests/lib.sh"

man3="$top_srcdir/man/libmtealloc.3"
keys=$(sed -n 's/^OPTION([A-Z_]*, *[a-z_]*, *\([a-z_]*\),.*/\1/p' \
	"$top_srcdir/libmtealloc/options.inc")
stats=$(sed -n 's/^STAT(\([a-z_]*\),.*/\1/p' "$top_srcdir/libmtealloc/stats.inc")
[ -n "$keys" ] && [ -n "$stats" ] || { bad "cannot read the tables"; finish; }
for k in $keys; do
	grep -Eq "^\.B[IR]? \"?$k=" "$man3" && ok "option $k documented" ||
		bad "option $k missing from libmtealloc.3"
done
for s in $stats; do
	grep -Eq "^\.BR? .*\b$s\b" "$man3" && ok "counter $s documented" ||
		bad "counter $s missing from libmtealloc.3"
done
ks="$top_srcdir/kernel-series"
n=0
for p in $(grep -v '^[[:space:]]*\(#\|$\)' "$ks/series"); do
	n=$((n + 1))
	[ -f "$ks/$p" ] && ok "kernel-series: $p is here" ||
		bad "kernel-series/series names $p, which is missing"
done
grep -q "^Subject: \[PATCH 0/$n\]" "$ks/0000-cover-letter.patch" &&
	ok "the cover letter counts the $n patches" ||
	bad "the cover letter's subject does not say [PATCH 0/$n]"
if command -v groff >/dev/null; then
	for page in "$top_srcdir"/man/*.[0-9]; do
		out=$(groff -man -ww -z "$page" 2>&1)
		[ -z "$out" ] && ok "$(basename "$page") renders cleanly" ||
			bad "$(basename "$page"): $out"
	done
else
	echo "note: groff not installed, rendering not checked"
fi
finish
