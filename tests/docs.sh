#!/bin/sh
# docs.sh - the manual pages say what the code does: every option key
# (options.inc) and every counter (stats.inc) is documented in
# libmtealloc(3), and every page renders without a groff warning.
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
