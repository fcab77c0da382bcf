#!/bin/sh
# docs.sh - the manual pages say what the code does: every option key
# (options.inc) and every counter (stats.inc) is documented in
# libmtealloc(3), and every page renders without a groff warning; and the
# kernel series is whole: every patch its series file names is here (in a
# distribution tarball too), and the cover letter counts them; and
# run-bench's --help says what it takes.
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
# bench/run-bench: its --help names every option its parser takes, and
# bad options end it at once, with status 2 and a message
rb="$top_srcdir/bench/run-bench"
help=$("$rb" --help)
for o in $(sed -n 's/^\t\(--[a-z]*\)).*/\1/p' "$rb"); do
	echo "$help" | grep -q -- "$o" && ok "run-bench --help names $o" ||
		bad "run-bench takes $o, but --help does not say so"
done
for args in "--bogus" "--runs x" "--runs" "--only" "--count --runs 3"; do
	err=$("$rb" $args 2>&1 >/dev/null); rc=$?
	[ $rc -eq 2 ] && echo "$err" | grep -q "^run-bench: " &&
		ok "run-bench $args: status 2, '$err'" ||
		bad "run-bench $args: status $rc, '$err'"
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
