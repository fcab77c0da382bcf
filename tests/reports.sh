#!/bin/sh
# reports.sh - the fault reports as a user meets them: the example
# programs (one bug each, nothing in them knows about the library) run
# with libmtealloc preloaded.  Each report names the cause, the region and
# the program's own functions; the process dies as it would without us;
# JSON parses; log_path writes a file; recover=1 goes on; clean programs
# stay silent.  MTE only: skipped where the machine does not tag.
. "${top_srcdir:-.}/tests/lib.sh"

tagging_expected || { echo "SKIP: this machine does not tag"; exit 77; }
ex="$top_builddir/examples"

# report NAME OPTIONS: run example NAME; output in $tmp/NAME.err, status in $st
report() {
	run_lib "$2" "$ex/$1" >"$tmp/$1.out" 2>"$tmp/$1.err"
	st=$?
}

# section FILE TITLE: the lines under the line that starts with TITLE
section() {
	awk -v t="$2" 'index($0, t) == 1 { on = 1; next }
		on && /^    / { print; next } { on = 0 }' "$1"
}

expect_section() {
	if section "$1" "$2" | grep -q -- "$3"; then ok "$4"; else
		bad "$4: no '$3' under '$2' in:"; sed 's/^/    /' "$1"; fi
}

report use-after-free ""
[ $st -eq 139 ] && ok "use-after-free: dies of SIGSEGV (status $st)" ||
	bad "use-after-free: status $st"
expect_grep '^ERROR: mtealloc: use-after-free on address 0x[0-9a-f]* at pc 0x' \
	"$tmp/use-after-free.err" "use-after-free: cause line"
expect_grep 'is 0 bytes inside a 64-byte region \[0x' "$tmp/use-after-free.err" \
	"use-after-free: region"
expect_section "$tmp/use-after-free.err" "freed by thread" forget_greeting \
	"use-after-free: free stack names forget_greeting"
expect_section "$tmp/use-after-free.err" "previously allocated by thread" \
	make_greeting "use-after-free: allocation stack names make_greeting"
expect_no_grep '^after free:' "$tmp/use-after-free.out" \
	"use-after-free: the bad read never returned"

report heap-overflow ""
[ $st -eq 139 ] && ok "heap-overflow: dies of SIGSEGV" || bad "heap-overflow: status $st"
expect_grep '^ERROR: mtealloc: heap-buffer-overflow on address' \
	"$tmp/heap-overflow.err" "heap-overflow: cause line"
expect_grep '^WRITE of size 4 at' "$tmp/heap-overflow.err" \
	"heap-overflow: WRITE of size 4"
expect_grep 'is 0 bytes to the right of a 112-byte region' \
	"$tmp/heap-overflow.err" "heap-overflow: region"
expect_section "$tmp/heap-overflow.err" "allocated by thread" make_table \
	"heap-overflow: allocation stack names make_table"
expect_section "$tmp/heap-overflow.err" "faulting thread" make_table \
	"heap-overflow: faulting stack names make_table"

report heap-underflow ""
[ $st -eq 139 ] && ok "heap-underflow: dies of SIGSEGV" || bad "heap-underflow: status $st"
expect_grep '^ERROR: mtealloc: heap-buffer-underflow on address' \
	"$tmp/heap-underflow.err" "heap-underflow: cause line"
expect_grep 'is 1 bytes to the left of a 48-byte region' \
	"$tmp/heap-underflow.err" "heap-underflow: region"
expect_section "$tmp/heap-underflow.err" "allocated by thread" read_line \
	"heap-underflow: allocation stack names read_line"
expect_section "$tmp/heap-underflow.err" "faulting thread" last_non_space \
	"heap-underflow: faulting stack names last_non_space"

report double-free ""
[ $st -eq 134 ] && ok "double-free: aborts" || bad "double-free: status $st"
expect_grep '^ERROR: mtealloc: double-free on address' "$tmp/double-free.err" \
	"double-free: cause line"
expect_section "$tmp/double-free.err" "freed by thread" release \
	"double-free: first free names release"
expect_section "$tmp/double-free.err" "previously allocated by thread" main \
	"double-free: allocation stack"
expect_section "$tmp/double-free.err" "called from thread" release \
	"double-free: second free names release"

report invalid-free ""
[ $st -eq 134 ] && ok "invalid-free: aborts" || bad "invalid-free: status $st"
expect_grep '^ERROR: mtealloc: invalid-free on address' "$tmp/invalid-free.err" \
	"invalid-free: cause line"
expect_grep 'is 4 bytes inside a 64-byte region' "$tmp/invalid-free.err" \
	"invalid-free: the record it points into"
expect_section "$tmp/invalid-free.err" "allocated by thread" new_record \
	"invalid-free: allocation stack names new_record"
expect_section "$tmp/invalid-free.err" "called from thread" drop_name \
	"invalid-free: the bad free names drop_name"

# async: no address, and the report says so
report use-after-free mode=async
expect_grep '^ERROR: mtealloc: tag-mismatch on address 0x0 at pc' \
	"$tmp/use-after-free.err" "async: cause line without an address"
expect_grep 'MTEALLOC_OPTIONS=mode=sync' "$tmp/use-after-free.err" \
	"async: suggests mode=sync"

# JSON: one object per report, which a JSON parser accepts
report use-after-free report_format=json
if command -v python3 >/dev/null; then
	if python3 -c '
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
assert len(objs) == 1, objs
o = objs[0]
assert o["cause"] == "use-after-free" and o["access"] == "read", o
assert o["region"]["size"] == 64 and o["region"]["relation"] == "inside", o
names = lambda k: [f["function"] for f in o[k]["stack"]]
assert any("make_greeting" in (n or "") for n in names("allocated")), o
assert any("forget_greeting" in (n or "") for n in names("freed")), o
' "$tmp/use-after-free.err"; then ok "json: parses, with the same fields"
	else bad "json: did not parse or lacks fields:"; cat "$tmp/use-after-free.err"; fi
else
	echo "note: python3 missing, JSON not parsed"
fi

# log_path: the report goes to PATH.<pid>
report use-after-free "log_path=$tmp/rep"
f=$(ls "$tmp"/rep.* 2>/dev/null | head -n 1)
[ -n "$f" ] && expect_grep '^ERROR: mtealloc: use-after-free' "$f" \
	"log_path: report written to $(basename "$f")" || bad "log_path: no file"
expect_no_grep 'ERROR: mtealloc' "$tmp/use-after-free.err" "log_path: stderr clean"

# recover=1: reported, and the program goes on
report use-after-free recover=1
expect_grep '^ERROR: mtealloc: use-after-free' "$tmp/use-after-free.err" \
	"recover: reported"
expect_grep '^after free: ' "$tmp/use-after-free.out" "recover: the program went on"
[ $st -eq 0 ] && ok "recover: exit status 0" || bad "recover: status $st"

# negative control
report clean print_stats=1
[ $st -eq 0 ] && ok "clean: exit status 0" || bad "clean: status $st"
expect_no_grep 'ERROR' "$tmp/clean.err" "clean: no report"
expect_grep 'faults_reported=0 ' "$tmp/clean.err" "clean: no fault counted"

finish
