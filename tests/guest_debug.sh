#!/bin/sh
# guest_debug.sh - what make check-kernel runs on the patched kernel built
# with kernel-series/debug.config (lockdep, DEBUG_VM, might_sleep checks,
# generic KASAN): the series' own scenario, the tagged heap switched on
# over a populated heap, faults injected under a threaded tagged heap, the
# model-based stress test, and then a kernel log with no WARNING, BUG,
# KASAN or lockdep report.  Shorter than guest.sh: everything runs several
# times slower here.  Busybox sh.  Ends with "guest-debug: N passed, N
# failed".
. /opt/mtealloc/tests/guest_lib.sh
cd /tmp

echo "== debug kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs"
dmesg | grep -q 'KernelAddressSanitizer initialized' &&
	ok "KASAN is on" || bad "no KASAN: is this the --debug kernel?"
dmesg | grep -q 'Lock dependency validator' &&
	ok "lockdep is on" || bad "no lockdep: is this the --debug kernel?"

echo "== the series' scenario"
$T/mprotect_lazy 16 >/tmp/lazy 2>&1
grep -E '^(FAIL|mprotect_lazy:)' /tmp/lazy
counted mprotect_lazy /tmp/lazy
log0=$(dmesg | wc -l)	# it leaves pages stuck on purpose; the heap must not

echo "== the tagged heap: switched on over a populated heap, faults injected"
flow populated 8
flow inject 4

echo "== the model-based stress test, tagged"
env LD_PRELOAD=$LIB MTEALLOC_OPTIONS=print_stats=1 $T/stress --seed 17 \
	--steps 20000 --threads 2 >/tmp/stress 2>&1
st=$?
n=$(stat_of tagged_allocs /tmp/stress)
[ $st -eq 0 ] && grep -q ': ok$' /tmp/stress && [ "${n:-0}" -gt 0 ] &&
	ok "stress: 20000 steps in 2 threads, clean, $n allocations tagged" ||
	bad "stress: status $st, tagged_allocs=${n:-none}"

echo "== the kernel log"
kernel_log_clean "$log0"

echo "guest-debug: $pass passed, $fail failed"
[ $fail -eq 0 ]
