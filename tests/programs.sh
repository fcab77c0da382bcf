#!/bin/sh
# programs.sh - real programs that no one here wrote (Debian's gzip, xz and
# sqlite3), run with libmtealloc preloaded: their output must be
# byte-identical to a run without it, with no report, and with the
# allocations tagged where the machine tags.
#
# Natively the host's programs are used.  For aarch64 runs the setup
# script unpacks Debian's arm64 packages into $MTEALLOC_ARM64_ROOT.
. "${top_srcdir:-.}/tests/lib.sh"

if [ -n "$TEST_EMULATOR" ]; then
	root=${MTEALLOC_ARM64_ROOT:-$top_builddir/../arm64-root}
	bindir=$root/usr/bin
	gzip_bin=$root/bin/gzip
	[ -x "$gzip_bin" ] || gzip_bin=$bindir/gzip
else
	bindir=/usr/bin
	gzip_bin=$(command -v gzip || true)
fi
xz_bin=$bindir/xz
sqlite_bin=$bindir/sqlite3
for b in "$gzip_bin" "$xz_bin" "$sqlite_bin"; do
	[ -x "$b" ] || { echo "SKIP: $b missing (run scripts/setup-deps)"; exit 77; }
done

# Input: deterministic, about 1.5 MB of text with some structure.
awk 'BEGIN { for (i = 1; i <= 60000; i++)
	printf "line %d %x %s\n", i, i * 2654435761 % 4294967296,
	       substr("abcdefghijklmnopqrstuvwxyz", i % 26 + 1) }' >"$tmp/input"

# same NAME CMD...: stdout of CMD without and with the library.
same() {
	name=$1; shift
	RUN=run_plain
	"$@" >"$tmp/plain.$name" 2>"$tmp/plain-err.$name"
	st_plain=$?
	RUN=run_lib_stats
	"$@" >"$tmp/lib.$name" 2>"$tmp/lib-err.$name"
	st_lib=$?
	if [ $st_plain -ne 0 ]; then
		bad "$name: fails even without the library (status $st_plain)"
		sed 's/^/    /' "$tmp/plain-err.$name" | head -5
		return
	fi
	[ $st_lib -eq 0 ] && ok "$name: exit status 0 under the library" ||
		bad "$name: status $st_lib under the library"
	cmp -s "$tmp/plain.$name" "$tmp/lib.$name" &&
		ok "$name: output byte-identical ($(wc -c <"$tmp/lib.$name") bytes)" ||
		bad "$name: output differs"
	expect_no_grep 'ERROR: mtealloc' "$tmp/lib-err.$name" "$name: no report"
	n=$(stat_of tagged_allocs "$tmp/lib-err.$name")
	a=$(stat_of allocs "$tmp/lib-err.$name")
	echo "    $name: $(grep '^mtealloc: stats:' "$tmp/lib-err.$name" | tail -n 1 | cut -c1-200)"
	# gzip compresses without one malloc(): then there is nothing to tag
	if [ "${a:-}" = 0 ]; then
		ok "$name: allocates nothing (allocs=0)"
	elif tagging_expected; then
		[ "${n:-0}" -gt 0 ] && [ "$n" = "$a" ] &&
			ok "$name: all $n allocations tagged" ||
			bad "$name: tagged_allocs=${n:-none} of allocs=${a:-none}"
	fi
}

# Each runner reads its input from a file, so the emulator sees no tty.
gz() { $RUN "$gzip_bin" -9 -c "$tmp/input"; }
gz_round() { $RUN "$gzip_bin" -9 -c "$tmp/input" >"$tmp/x.gz" &&
	$RUN "$gzip_bin" -d -c "$tmp/x.gz"; }
xzc() { $RUN "$xz_bin" -3 -T1 -c "$tmp/input"; }
xz_round() { $RUN "$xz_bin" -3 -T1 -c "$tmp/input" >"$tmp/x.xz" &&
	$RUN "$xz_bin" -d -c "$tmp/x.xz"; }
run_lib_stats() { run_lib print_stats=1 "$@"; }

cat >"$tmp/script.sql" <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO t SELECT i, printf('name-%08d', i * 7919 % 100003), i % 97,
	(i * 31 % 1000) / 7.0 FROM n;
CREATE INDEX t_grp ON t(grp, val);
SELECT grp, count(*), printf('%.3f', sum(val)), min(name), max(name)
	FROM t GROUP BY grp ORDER BY grp LIMIT 20;
SELECT count(DISTINCT name), printf('%.4f', avg(val)) FROM t WHERE val > 50;
UPDATE t SET name = upper(name) || '-' || grp WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT count(*), sum(length(name)) FROM t;
SELECT group_concat(name, ',') FROM (SELECT name FROM t ORDER BY val DESC, id LIMIT 50);
SQL
sql() { $RUN "$sqlite_bin" -batch -init /dev/null ":memory:" \
	".read $tmp/script.sql"; }

same gzip gz
same gzip-roundtrip gz_round
cmp -s "$tmp/lib.gzip-roundtrip" "$tmp/input" && ok "gzip: round trip restores input" ||
	bad "gzip: round trip differs from input"
same xz xzc
same xz-roundtrip xz_round
cmp -s "$tmp/lib.xz-roundtrip" "$tmp/input" && ok "xz: round trip restores input" ||
	bad "xz: round trip differs from input"
same sqlite3 sql
grep -q '^0|' "$tmp/lib.sqlite3" && ok "sqlite3: query output looks right" ||
	bad "sqlite3: unexpected output: $(head -c 200 "$tmp/lib.sqlite3")"

finish
