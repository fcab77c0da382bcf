# lib.sh - helpers for the shell tests, sourced by them.
#
# The harness (make check) exports TEST_EMULATOR (empty natively, or
# "qemu-aarch64 -cpu max"), MTEALLOC_LIB, top_builddir and top_srcdir.
# Exit statuses follow automake: 0 pass, 1 fail, 77 skip.

set -u
: "${TEST_EMULATOR:=}"
: "${MTEALLOC_LIB:?MTEALLOC_LIB is not set; run this test through make check}"
failures=0
passes=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run_lib "OPTIONS" PROG ARGS...: PROG with libmtealloc preloaded.
run_lib() {
	opts=$1; shift
	if [ -n "$TEST_EMULATOR" ]; then
		$TEST_EMULATOR -E LD_PRELOAD="$MTEALLOC_LIB" \
			-E MTEALLOC_OPTIONS="$opts" "$@"
	else
		LD_PRELOAD="$MTEALLOC_LIB" MTEALLOC_OPTIONS="$opts" "$@"
	fi
}

# run_plain PROG ARGS...: PROG as it is, under the emulator if any.
run_plain() {
	$TEST_EMULATOR "$@"
}

# Does this run tag?  Under qemu-aarch64, or on an arm64 MTE machine.
tagging_expected() {
	[ "${MTEALLOC_EXPECT_TAGGING:-}" = 1 ] && return 0
	[ -n "$TEST_EMULATOR" ] && return 0
	[ "$(uname -m)" = aarch64 ] && grep -qw mte /proc/cpuinfo 2>/dev/null
}

ok() { echo "PASS: $*"; passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect_grep PATTERN FILE WHAT
expect_grep() {
	if grep -q -- "$1" "$2"; then ok "$3"; else
		bad "$3: no '$1' in:"; sed 's/^/    /' "$2"; fi
}

expect_no_grep() {
	if ! grep -q -- "$1" "$2"; then ok "$3"; else
		bad "$3: unexpected '$1' in:"; sed 's/^/    /' "$2"; fi
}

# The value of key=N in the stats line of FILE, or empty.
stat_of() {
	sed -n "s/^mtealloc: stats: .* $1=\([0-9]*\).*/\1/p" "$2" | tail -n 1
}

finish() {
	echo "$passes passed, $failures failed"
	[ "$failures" -eq 0 ] && exit 0
	exit 1
}
