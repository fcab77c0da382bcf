#!/bin/sh
# preload.sh - libmtealloc preloaded into a program that knows nothing of
# it: options and their warnings, stats, log_path, verbose, fork, dlopen,
# threads, a process without environment, and the API found by dlsym.
. "${top_srcdir:-.}/tests/lib.sh"

probe="$top_builddir/tests/mte_probe"
linked="$top_builddir/tests/mte_probe_linked"
[ -x "$probe" ] || { echo "SKIP: $probe not built"; exit 77; }

# print_stats: one line at exit, with tagged_allocs
run_lib print_stats=1 "$probe" alloc >"$tmp/out" 2>"$tmp/err"
expect_grep '^alloc: tag=.* probe$' "$tmp/out" "program output intact"
expect_grep '^mtealloc: stats: mode=.* tagged_allocs=[0-9]' "$tmp/err" \
	"print_stats line"
if tagging_expected; then
	expect_grep '^alloc: tag=[1-9]' "$tmp/out" "malloc returns tagged pointers"
	n=$(stat_of tagged_allocs "$tmp/err")
	[ "${n:-0}" -gt 0 ] && ok "tagged_allocs=$n > 0" || bad "tagged_allocs=$n"
else
	expect_grep '^alloc: tag=0 ' "$tmp/out" "no tags without MTE"
	expect_grep ' tagging=0 ' "$tmp/err" "stats say tagging=0"
fi

# bad options: one warning each, the program runs on with defaults
run_lib 'mode=fast:colour=blue:print_stats=2:verbose' "$probe" alloc \
	>"$tmp/out" 2>"$tmp/err"
st=$?
[ $st -eq 0 ] && ok "bad options do not stop the program" || bad "status $st"
expect_grep "bad value 'fast' for mode (accepted: off|sync|async|asymm)" \
	"$tmp/err" "bad mode named, with accepted values"
expect_grep "unknown key 'colour'" "$tmp/err" "unknown key named"
expect_grep "bad value '2' for print_stats" "$tmp/err" "bad bool named"
expect_grep "'verbose' is not key=value" "$tmp/err" "bare word named"
[ "$(grep -c 'mtealloc: warning' "$tmp/err")" -eq 4 ] &&
	ok "exactly one line per problem" || bad "warning count"

# log_path: messages go to PATH.<pid>, not stderr
run_lib "log_path=$tmp/log:print_stats=1" "$probe" alloc \
	>"$tmp/out" 2>"$tmp/err"
logs=$(ls "$tmp"/log.* 2>/dev/null | head -n 1)
if [ -n "$logs" ]; then
	expect_grep '^mtealloc: stats:' "$logs" "log_path file has the stats"
	expect_no_grep 'mtealloc:' "$tmp/err" "stderr stays clean with log_path"
	[ "$(stat -c %a "$logs")" = 600 ] && ok "the log file is created 0600" ||
		bad "the log file's mode is $(stat -c %a "$logs")"
else
	bad "log_path wrote no $tmp/log.<pid>"
fi
run_lib "log_path=/nonexistent/dir/x:print_stats=1" "$probe" alloc \
	>"$tmp/out" 2>"$tmp/err"
expect_grep 'log_path: cannot open /nonexistent/dir/x\.' "$tmp/err" \
	"unwritable log_path is named"
expect_grep '^mtealloc: stats:' "$tmp/err" "...and stderr takes over"

# a symlink planted as PATH.<pid> (the shell's pid, which exec keeps)
# does not redirect the log: O_NOFOLLOW, and stderr takes over
: >"$tmp/victim"
if [ -n "$TEST_EMULATOR" ]; then
	set -- $TEST_EMULATOR -E LD_PRELOAD="$MTEALLOC_LIB" \
		-E MTEALLOC_OPTIONS="log_path=$tmp/planted:print_stats=1"
else
	set -- env LD_PRELOAD="$MTEALLOC_LIB" \
		MTEALLOC_OPTIONS="log_path=$tmp/planted:print_stats=1"
fi
sh -c 'ln -s "$1" "$2.$$"; shift 2; exec "$@"' sh "$tmp/victim" \
	"$tmp/planted" "$@" "$probe" alloc >"$tmp/out" 2>"$tmp/err"
[ ! -s "$tmp/victim" ] && ok "a symlink planted as the log's name is not followed" ||
	bad "the log went through the symlink into $tmp/victim"
expect_grep 'log_path: cannot open .*planted\.[0-9]* (errno [0-9]*: a symlink)' \
	"$tmp/err" "...and the warning says why"
expect_grep '^mtealloc: stats:' "$tmp/err" "...and stderr takes over"
set --

# verbose says whether tagging is on, and why not
run_lib verbose=1 "$probe" alloc >"$tmp/out" 2>"$tmp/err"
if tagging_expected; then
	expect_grep '^mtealloc: tagging on: mode=sync' "$tmp/err" "verbose: on"
	run_lib mode=asymm:verbose=1 "$probe" alloc >"$tmp/out" 2>"$tmp/err"
	# the (emulated) CPU says whether it has MTE3: qemu 10 offers it
	if run_plain "$probe" hwcap | grep -q 'mte3=1'; then
		expect_grep 'tagging on: mode=asymm' "$tmp/err" "asymm used"
	else
		expect_grep 'mode=asymm needs MTE3' "$tmp/err" "asymm falls back"
		expect_grep 'tagging on: mode=sync' "$tmp/err" "...to sync"
	fi
else
	expect_grep '^mtealloc: tagging off: .*passing through to jemalloc' \
		"$tmp/err" "verbose: off, and why"
	run_lib mode=sync "$probe" alloc >"$tmp/out" 2>"$tmp/err"
	expect_grep 'mode=sync requested, but tagging is unavailable' \
		"$tmp/err" "an explicit mode says tagging is unavailable"
fi
run_lib mode=off:print_stats=1 "$probe" alloc >"$tmp/out" 2>"$tmp/err"
expect_grep '^alloc: tag=0 ' "$tmp/out" "mode=off hands out untagged memory"
expect_grep ' tagging=0 ' "$tmp/err" "mode=off stats say tagging=0"

# fork, dlopen, threads, the API
run_lib "" "$probe" fork >"$tmp/out" 2>&1
expect_grep '^child ok before$' "$tmp/out" "fork: child allocates"
expect_grep '^parent ok before child-status=0$' "$tmp/out" "fork: parent goes on"
run_lib "" "$probe" dlopen libz.so.1 >"$tmp/out" 2>&1 ||
	run_lib "" "$probe" dlopen libm.so.6 >"$tmp/out" 2>&1
expect_grep '^dlopen ok: across dlopen$' "$tmp/out" "dlopen and dlclose"
run_lib "" "$probe" threads >"$tmp/out" 2>&1
expect_grep '^threads ok$' "$tmp/out" "threads"
run_lib "" "$probe" api >"$tmp/out" 2>&1
expect_grep '^api: tagging=' "$tmp/out" "API reachable by dlsym when preloaded"

# C++: new and delete reach the library through malloc and free
if [ -n "$TEST_EMULATOR" ]; then cxx=aarch64-linux-gnu-g++; else cxx=g++; fi
if command -v $cxx >/dev/null; then
	cat >"$tmp/newdel.cc" <<'CC'
#include <cstdio>
#include <memory>
#include <string>
#include <vector>
int main() {
	std::vector<std::unique_ptr<std::string>> v;
	for (int i = 0; i < 1000; i++)
		v.emplace_back(new std::string(100, 'x'));
	int *a = new int[50000];
	a[49999] = 7;
	std::printf("cxx ok %zu %d\n", v.size(), a[49999]);
	delete[] a;
	return 0;
}
CC
	$cxx -O1 -o "$tmp/newdel" "$tmp/newdel.cc"
	run_lib print_stats=1 "$tmp/newdel" >"$tmp/out" 2>"$tmp/err"
	expect_grep '^cxx ok 1000 7$' "$tmp/out" "C++ program runs"
	n=$(stat_of allocs "$tmp/err")
	[ "${n:-0}" -ge 1002 ] && ok "C++ new/delete went through the library ($n allocs)" ||
		bad "C++: allocs=${n:-none}, want >= 1002"
	if tagging_expected; then
		n=$(stat_of tagged_allocs "$tmp/err")
		[ "${n:-0}" -ge 1002 ] && ok "C++ allocations tagged ($n)" ||
			bad "C++: tagged_allocs=${n:-none}"
	fi
else
	echo "note: $cxx missing, C++ not checked"
fi

# tagging switched on at run time, after the pass-through fast path ran
run_lib "mode=off" "$probe" late >"$tmp/out" 2>"$tmp/err"
st=$?
if tagging_expected; then
	[ $st -eq 0 ] && grep -q '^late ok$' "$tmp/out" &&
		ok "mode=off, then mtealloc_set_mode(sync): old chunks intact, new ones tagged" ||
		{ bad "late enable: status $st: $(cat "$tmp/out")"; tail -5 "$tmp/err"; }
else
	[ $st -eq 0 ] && grep -q '^late: tagging unavailable$' "$tmp/out" &&
		ok "mtealloc_set_mode(sync) without MTE says no, and the heap goes on" ||
		bad "late enable without MTE: status $st: $(cat "$tmp/out")"
fi

# no environment at all: a program linked with -lmtealloc
if [ -x "$linked" ]; then
	env -i $TEST_EMULATOR "$linked" fork >"$tmp/out" 2>&1
	st=$?
	[ $st -eq 0 ] && grep -q "^parent ok before child-status=0$" "$tmp/out" &&
		ok "linked program runs with an empty environment" ||
		{ bad "empty environment: status $st"; tail -5 "$tmp/out"; }
fi

finish
