#!/bin/sh
# programs.sh - real programs that no one here wrote (Debian's gzip, xz,
# sqlite3, python3.11, perl, sort and grep), run with libmtealloc
# preloaded: their output must be byte-identical to a run without it,
# with no report, and with the allocations tagged where the machine tags.
# Python also runs a slice of its own regression tests (Debian's
# libpython3.11-testsuite), which must give the same result for every
# test case with and without the library: MTEALLOC_PYTHON_TESTS names
# the tests (the default slice takes about 80 s under qemu-aarch64).
#
# Natively the host's programs are used.  For aarch64 runs the setup
# script unpacks Debian's arm64 packages into $MTEALLOC_ARM64_ROOT.
. "${top_srcdir:-.}/tests/lib.sh"

if [ -n "$TEST_EMULATOR" ]; then
	root=${MTEALLOC_ARM64_ROOT:-$top_builddir/../arm64-root}
	bindir=$root/usr/bin
	gzip_bin=$root/bin/gzip
	[ -x "$gzip_bin" ] || gzip_bin=$bindir/gzip
	grep_bin=$root/bin/grep
	# qemu-aarch64 hands its environment to the program
	PYTHONHOME=$root/usr; export PYTHONHOME
else
	bindir=/usr/bin
	gzip_bin=$(command -v gzip || true)
	grep_bin=$(command -v grep || true)
fi
xz_bin=$bindir/xz
sqlite_bin=$bindir/sqlite3
python_bin=$bindir/python3.11
perl_bin=$bindir/perl
sort_bin=$bindir/sort
for b in "$gzip_bin" "$xz_bin" "$sqlite_bin" "$python_bin" "$perl_bin" \
	 "$sort_bin" "$grep_bin"; do
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

sed 's/ROWS/20000/' "$top_srcdir/tests/rows.sql" >"$tmp/script.sql"
sql() { $RUN "$sqlite_bin" -batch -init /dev/null ":memory:" \
	".read $tmp/script.sql"; }

# Python: regular expressions, dicts, JSON, the compiler; then its tests.
head -c 300000 "$tmp/input" >"$tmp/input.small"
cat >"$tmp/work.py" <<'PY'
import ast, collections, json, re, sys
text = open(sys.argv[1]).read()
words = re.findall(r"[a-z]+|[0-9a-f]{6,}|\d+", text)
print(collections.Counter(words).most_common(8))
groups = collections.defaultdict(list)
for i, line in enumerate(text.splitlines()):
    groups[line.split()[-1]].append(i)
blob = json.dumps({k: v[::7] for k, v in groups.items()}, sort_keys=True)
back = json.loads(blob)
print(len(blob), sum(map(len, back.values())), sorted(back)[:5])
src = "\n".join(f"def f{i}(x):\n    return [x * {i} + k for k in range({i % 7})]"
                for i in range(400))
ns = {}
exec(compile(ast.parse(src), "gen", "exec"), ns)
print(sum(sum(ns[f"f{i}"](i)) for i in range(400)), len(ast.dump(ast.parse(src))))
PY
py() { $RUN "$python_bin" -S -B "$tmp/work.py" "$tmp/input.small"; }

cat >"$tmp/work.pl" <<'PL'
use strict; use warnings;
my (%count, %by);
while (my $line = <STDIN>) {
	chomp $line;
	my @f = split / /, $line;
	$count{$_}++ for ($line =~ /([a-z]+|\d+)/g);
	push @{$by{$f[3]}}, sprintf("%s:%08x", $f[1], hex($f[2]) ^ 0x5a5a);
}
for my $k ((sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0..9]) {
	print "$k $count{$k}\n";
}
for my $k (sort keys %by) {
	my @v = sort @{$by{$k}};
	printf "%s %d %s %s\n", $k, scalar @v, $v[0], join(",", @v[-3..-1]);
}
PL
pl() { $RUN "$perl_bin" "$tmp/work.pl" <"$tmp/input"; }
srt() { $RUN "$sort_bin" -t ' ' -k4,4 -k3,3r "$tmp/input"; }
grp() { $RUN "$grep_bin" -E -n 'line [0-9]*7[0-9] [0-9a-f]*(ab|f0)' "$tmp/input" &&
	$RUN "$grep_bin" -c -P '^line \d+ [0-9a-f]{7,8} [aeiou][a-z]{20,}$' "$tmp/input"; }

same python3 py
same perl pl
same sort srt
same grep grp

# Python's own tests, each test case's result with and without the library
slice=${MTEALLOC_PYTHON_TESTS:-test_json test_re test_dict test_list test_collections}
py_tests() { (cd "$tmp/pyrun" && $RUN "$python_bin" -B -m test -v $slice); }
results() {
	grep -E ' \.\.\. (ok|FAIL|ERROR|skipped.*|expected failure|unexpected success)$' "$1" |
		sed 's/ \.\.\. skipped .*/ ... skipped/' | sort
}
# (the stats go to a file per process: some tests want a subprocess's
# stderr empty)
run_lib_logged() { run_lib "print_stats=1:log_path=$tmp/pylog/stats" "$@"; }
mkdir -p "$tmp/pyrun" "$tmp/pylog"
RUN=run_plain py_tests >"$tmp/py-plain" 2>&1
RUN=run_lib_logged py_tests >"$tmp/py-lib" 2>&1
results "$tmp/py-plain" >"$tmp/py-plain.res"
results "$tmp/py-lib" >"$tmp/py-lib.res"
n=$(wc -l <"$tmp/py-plain.res")
if [ "$n" -lt 100 ]; then
	bad "python tests: only $n results without the library"
	tail -n 20 "$tmp/py-plain" | sed 's/^/    /'
elif cmp -s "$tmp/py-plain.res" "$tmp/py-lib.res"; then
	ok "python tests ($slice): the same $n results with and without the library ($(grep -c ' ok$' "$tmp/py-lib.res") ok)"
else
	bad "python tests: results differ with the library"
	diff "$tmp/py-plain.res" "$tmp/py-lib.res" | head -n 20 | sed 's/^/    /'
fi
cat "$tmp"/pylog/stats.* >"$tmp/py-log" 2>/dev/null
expect_no_grep 'ERROR: mtealloc' "$tmp/py-lib" "python tests: no report"
expect_no_grep 'ERROR: mtealloc' "$tmp/py-log" "python tests: no report logged"
n=$(sed -n 's/^mtealloc: stats: .* tagged_allocs=\([0-9]*\).*/\1/p' "$tmp/py-log" |
	sort -n | tail -n 1)
if tagging_expected; then
	[ "${n:-0}" -gt 0 ] && ok "python tests: $n allocations tagged" ||
		bad "python tests: tagged_allocs=${n:-none}"
fi

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
