#!/bin/sh
# secure.sh - libmtealloc in a setuid program (secure execution, AT_SECURE):
# MTEALLOC_OPTIONS, log_path above all, is ignored, and one verbose line
# says so.  Needs root, to make a setuid copy of a program linked with
# -lmtealloc and run it as another user (glibc ignores LD_PRELOAD paths in
# setuid programs, so the linked program is the case that matters), and a
# real kernel: qemu-user cannot exec a setuid program.  Also mtectl, run
# by another user against a process of root's, refused.  guest.sh runs it
# in the emulated machine too.
. "${top_srcdir:-.}/tests/lib.sh"

linked="$top_builddir/tests/mte_probe_linked"
as_user="$top_builddir/tests/as_user"
nobody=65534
[ -x "$linked" ] && [ -x "$as_user" ] || { echo "SKIP: test programs not built"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to make a setuid program"; exit 77; }
[ -z "$TEST_EMULATOR" ] || { echo "SKIP: under $TEST_EMULATOR nothing runs setuid"; exit 77; }

# The program, setuid root, where the other user can run it; the other
# user can write in $tmp/drop (sticky, like /tmp), as an attacker could.
chmod 755 "$tmp"
mkdir "$tmp/bin" "$tmp/drop"
chmod 1777 "$tmp/drop"
cp "$linked" "$tmp/bin/probe"
chown 0:0 "$tmp/bin/probe"
chmod 4755 "$tmp/bin/probe"
opts="verbose=1:print_stats=1:log_path=$tmp/drop/owned:mode=off"

env MTEALLOC_OPTIONS="$opts" "$as_user" $nobody "$tmp/bin/probe" alloc \
	>"$tmp/out" 2>"$tmp/err"
st=$?
if [ $st -eq 125 ]; then
	echo "SKIP: as_user cannot run the program: $(cat "$tmp/err")"
	exit 77
fi
[ $st -eq 0 ] && ok "setuid program runs (status 0)" || bad "setuid program: status $st"
expect_grep '^alloc: ' "$tmp/out" "its output intact"
expect_grep '^mtealloc: secure execution (setuid, setgid or capabilities): MTEALLOC_OPTIONS ignored' \
	"$tmp/err" "one verbose line says the options were ignored"
[ "$(grep -c mtealloc "$tmp/err")" -eq 1 ] && ok "and nothing else: no stats line (print_stats ignored)" ||
	{ bad "more than one line on stderr:"; sed 's/^/    /' "$tmp/err"; }
ls "$tmp/drop" >"$tmp/files"
[ ! -s "$tmp/files" ] && ok "log_path ignored: no file created where the caller said" ||
	bad "the setuid program created $(cat "$tmp/files")"
if tagging_expected; then
	expect_grep '^alloc: tag=[1-9]' "$tmp/out" "mode=off ignored: it tags"
fi
# quiet unless asked: without verbose=1, nothing at all
env MTEALLOC_OPTIONS="log_path=$tmp/drop/owned" "$as_user" $nobody \
	"$tmp/bin/probe" alloc >"$tmp/out" 2>"$tmp/err"
[ ! -s "$tmp/err" ] && ok "without verbose=1 it says nothing" || bad "stderr: $(cat "$tmp/err")"

# The same program, not setuid, run by the same user: the options apply
# (the control: the test above is not vacuous)
chmod 0755 "$tmp/bin/probe"
env MTEALLOC_OPTIONS="verbose=1:print_stats=1:log_path=$tmp/drop/owned" \
	"$as_user" $nobody "$tmp/bin/probe" alloc >"$tmp/out" 2>"$tmp/err"
ls "$tmp/drop" | grep -q '^owned\.[0-9]*$' &&
	ok "not setuid: log_path applies (control)" || bad "control: no log file"

# mtectl reads another process only where the kernel's ptrace rules allow:
# as another user, against a process of root's, it is refused with
# status 3 and a message saying what is needed (mtectl(1))
mtectl="$top_builddir/cli/mtectl"
if [ -x "$mtectl" ]; then
	sleep 30 &
	victim=$!
	for cmd in "inspect $victim" "inspect --json $victim" "tags $victim 0x1000"; do
		"$as_user" $nobody "$mtectl" $cmd >"$tmp/out" 2>"$tmp/err"
		st=$?
		[ $st -eq 3 ] && grep -q 'Permission denied (run as the process.s owner or root)' "$tmp/err" &&
			[ ! -s "$tmp/out" ] &&
			ok "mtectl $(echo "$cmd" | cut -d' ' -f1-2 | sed "s/ $victim//") as another user against root's process: refused, status 3" ||
			{ bad "mtectl $cmd as another user: status $st"; cat "$tmp/out" "$tmp/err" | sed 's/^/    /'; }
	done
	kill $victim 2>/dev/null
fi
finish
