# guest_lib.sh - sourced by guest.sh, guest_heap.sh, guest_debug.sh and
# guest_bench.sh: the paths inside the emulated machine (run-guest lays
# them out), the PASS/FAIL lines and their counts, and a program's run
# under the tagged heap, measured.  Busybox sh.
T=/opt/mtealloc/tests
B=/opt/mtealloc/bin
LIB=/usr/local/lib/libmtealloc.so
pass=0
fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
# a counter of /proc/vmstat (the series adds mte_*)
vm() { sed -n "s/^$1 //p" /proc/vmstat; }
ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }	# busybox date has no %N
# stat_of NAME FILE: a counter of the last "mtealloc: stats:" line in FILE
stat_of() { sed -n "s/^mtealloc: stats: .* $1=\([0-9]*\).*/\1/p" "$2" | tail -n 1; }

# measure CMD...: run CMD under the tagged heap, output in /tmp/lib.out and
# /tmp/lib.err, and set st (its status), wall_ms, tagged (allocations),
# mprotect_us (in the heap's mprotect(PROT_MTE) calls), faults and blocks
# (the series' faults on access and storage blocks reserved over the run;
# "-" on a kernel without them) and cma_kb (CmaFree at the end).
measure() {
	f0=$(vm mte_fault_on_access); r0=$(vm mte_tag_storage_reserve)
	t0=$(ms)
	env LD_PRELOAD=$LIB MTEALLOC_OPTIONS=print_stats=1 "$@" >/tmp/lib.out 2>/tmp/lib.err
	st=$?
	wall_ms=$(( $(ms) - t0 ))
	cma_kb=$(sed -n 's/^CmaFree: *\([0-9]*\) kB/\1/p' /proc/meminfo)
	tagged=$(stat_of tagged_allocs /tmp/lib.err)
	ns=$(stat_of mprotect_ns /tmp/lib.err)
	mprotect_us=$(( ${ns:-0} / 1000 ))
	faults=-; blocks=-
	if [ -n "$f0" ]; then
		faults=$(( $(vm mte_fault_on_access) - f0 ))
		blocks=$(( $(vm mte_tag_storage_reserve) - r0 ))
	fi
}

# counted NAME FILE: FILE's PASS and FAIL lines count here; it must end
# with NAME's "N passed, N failed" line
counted() {
	pass=$((pass + $(grep -c '^PASS:' "$2")))
	fail=$((fail + $(grep -c '^FAIL:' "$2")))
	grep -q "^$1: [0-9]* passed, [0-9]* failed" "$2" ||
		bad "$1 did not finish (no summary line)"
}

# flow ARGS...: kernel-series/tests/heap_flow ARGS, started untagged
flow() {
	env MTEALLOC_OPTIONS=mode=off $T/heap_flow "$@" >/tmp/flow 2>&1
	cut -c1-200 /tmp/flow
	counted heap_flow /tmp/flow
}

# kernel_log_clean SINCE: no WARNING, BUG, KASAN or lockdep line in dmesg
# since boot, and no page the series could not move after line SINCE
kernel_log_clean() {
	{ dmesg | grep -E 'WARNING:|BUG:|KASAN|possible circular locking|inconsistent lock state|possible recursive locking|Call trace:'
	  dmesg | tail -n +$(($1 + 1)) | grep 'cannot move'; } >/tmp/dmesg.bad
	if [ -s /tmp/dmesg.bad ]; then
		bad "dmesg has $(wc -l </tmp/dmesg.bad) bad lines:"
		head -n 20 /tmp/dmesg.bad | sed 's/^/    /'
	else
		ok "dmesg: no WARNING, BUG, KASAN or lockdep line; no page stuck"
	fi
}
