#!/bin/sh
# guest_heap.sh - the whole flow inside the emulated MTE machine, run by
# guest.sh on the stock and the patched kernel: libmtealloc's tagged heap
# (its start-up self-test passes here), the model-based stress test,
# Debian's sqlite3, gzip and xz under it with the series' counters,
# tagging switched on over a populated heap, faults injected under a live
# threaded heap (kernel-series/tests/heap_flow), the example bugs caught
# with the same reports as under qemu-user, mtectl on a live tagged heap,
# and a kernel log without warnings.  Busybox sh.
# Ends with "guest-heap: N passed, N failed".
. /opt/mtealloc/tests/guest_lib.sh
E=/opt/mtealloc/examples
patched=0
grep -q '^mte_fault_on_access ' /proc/vmstat && patched=1
kernel=$([ $patched -eq 1 ] && echo patched || echo stock)
cd /tmp
log0=$(dmesg | wc -l)	# the kernel's lines before this run

echo "== heap 1. libmtealloc tags on this kernel: its self-test passes"
env LD_PRELOAD=$LIB MTEALLOC_OPTIONS=verbose=1 $T/mte_probe alloc >/tmp/h1 2>&1
sed 's/^/  /' /tmp/h1
grep -q '^mtealloc: tagging on: mode=sync' /tmp/h1 &&
	grep -q '^alloc: tag=[1-9a-f]' /tmp/h1 &&
	ok "tagging on, and malloc() returns tagged pointers" ||
	bad "libmtealloc does not tag here"

echo "== heap 2. the model-based stress test, tagged"
f0=$(vm mte_fault_on_access); r0=$(vm mte_tag_storage_reserve)
env LD_PRELOAD=$LIB MTEALLOC_OPTIONS=print_stats=1 $T/stress --seed 16 \
	--steps 50000 --threads 2 >/tmp/h2 2>&1
st=$?
grep -v '^  malloc=' /tmp/h2 | cut -c1-200 | sed 's/^/  /'
n=$(stat_of tagged_allocs /tmp/h2)
[ $st -eq 0 ] && grep -q ': ok$' /tmp/h2 && [ "${n:-0}" -gt 0 ] &&
	! grep -q 'ERROR: mtealloc' /tmp/h2 &&
	ok "stress: 50000 steps in 2 threads with a fork, clean, $n allocations tagged" ||
	bad "stress: status $st, tagged_allocs=${n:-none}"
[ $patched -eq 1 ] && echo "  series: $(( $(vm mte_fault_on_access) - f0 )) faults on access, $(( $(vm mte_tag_storage_reserve) - r0 )) blocks reserved"

echo "== heap 3. real programs under the tagged heap ($kernel kernel)"
awk 'BEGIN { for (i = 1; i <= 30000; i++)
	printf "line %d %x %s\n", i, i * 2654435761 % 4294967296,
	       substr("abcdefghijklmnopqrstuvwxyz", i % 26 + 1) }' >/tmp/input
sed 's/ROWS/100000/' $T/rows.sql >/tmp/rows.sql
printf '  %-8s %6s %9s %12s %8s %8s %14s\n' program wall_ms tagged mprotect_us faults blocks cma_kB_at_end
# real NAME CMD...: CMD with and without the library, compared
real() {
	name=$1; shift
	"$@" >/tmp/plain.out 2>/tmp/plain.err
	measure "$@"
	printf '  %-8s %6s %9s %12s %8s %8s %14s\n' "$name" \
		"$wall_ms" "${tagged:-?}" "$mprotect_us" "$faults" "$blocks" "$cma_kb"
	[ $st -eq 0 ] && cmp -s /tmp/plain.out /tmp/lib.out &&
		! grep -q 'ERROR: mtealloc' /tmp/lib.err && [ "${tagged:-0}" -gt 0 ] &&
		ok "$name: byte-identical ($(wc -c </tmp/lib.out) bytes), no report, $tagged allocations tagged" ||
		bad "$name: status $st, tagged_allocs=${tagged:-none}, output $(cmp /tmp/plain.out /tmp/lib.out 2>&1 | head -c 80)"
}
if [ -x $B/sqlite3 ]; then
	real sqlite3 $B/sqlite3 -batch -init /dev/null :memory: ".read /tmp/rows.sql"
	real gzip sh -c "$B/gzip -9 -c /tmp/input | $B/gzip -d -c"
	real xz sh -c "$B/xz -3 -T1 -c /tmp/input | $B/xz -d -c"
else
	bad "no Debian programs in $B (run scripts/setup-deps)"
fi

ev=/sys/kernel/tracing/events/mte_tag_storage

echo "== heap 4. tagging switched on over a populated heap ($kernel kernel)"
[ -d $ev ] && { echo > /sys/kernel/tracing/trace; echo 1 > $ev/enable; }
flow populated 32
if [ -d $ev ]; then
	echo 0 > $ev/enable
	# the trace names each fault's page: none twice
	twice=$(sed -n 's/.*mte_fault_on_access: address=\(0x[0-9a-f]*\) .*/\1/p' \
		/sys/kernel/tracing/trace | sort | uniq -d | wc -l)
	n=$(grep -c 'mte_fault_on_access:' /sys/kernel/tracing/trace)
	[ "$twice" -eq 0 ] && [ "$n" -gt 0 ] &&
		ok "populated: the trace shows $n faults on access, no page twice" ||
		bad "populated: $twice pages faulted more than once (of $n faults)"
fi

echo "== heap 5. faults injected under a live tagged heap ($kernel kernel)"
flow inject 8

echo "== heap 6. bugs caught on the real kernel, as under qemu-user"
# caught EXAMPLE KIND STATUS [OPTIONS]
caught() {
	env LD_PRELOAD=$LIB MTEALLOC_OPTIONS="${4:-}" $E/$1 >/tmp/h4 2>&1
	st=$?
	head -n 1 /tmp/h4 | cut -c1-100 | sed 's/^/  /'
	grep -q "^ERROR: mtealloc: $2 on address 0x" /tmp/h4 && [ $st -eq $3 ] &&
		ok "$1${4:+ ($4)}: $2 reported, status $st" ||
		bad "$1${4:+ ($4)}: status $st, want $3 and a $2 report"
}
caught use-after-free use-after-free 139
sed '1d; s/^/  /' /tmp/h4	# the whole report, once
grep -q 'is 0 bytes inside a 64-byte region' /tmp/h4 &&
	grep -q '^freed by thread T[0-9]* here:' /tmp/h4 &&
	grep -q '^previously allocated by thread T[0-9]* here:' /tmp/h4 &&
	grep -q 'in forget_greeting' /tmp/h4 &&
	ok "use-after-free: the region, the free and allocation stacks" ||
	{ bad "use-after-free: the report lacks its parts"; sed 's/^/    /' /tmp/h4; }
caught heap-overflow heap-buffer-overflow 139
caught heap-underflow heap-buffer-underflow 139
caught double-free double-free 134
caught invalid-free invalid-free 134
# async: no address, as under qemu-user; the report says to rerun in sync
caught use-after-free tag-mismatch 139 mode=async
grep -q 'at an unknown address: mode=async' /tmp/h4 && grep -q '^mode: async' /tmp/h4 &&
	ok "async: the report says why there is no address" ||
	bad "async: the report does not explain the mode"
# asymm: the kernel applies each CPU's preferred mode (async unless told)
if grep -qw mte3 /proc/cpuinfo; then
	for c in /sys/devices/system/cpu/cpu[0-9]*/mte_tcf_preferred; do
		echo asymm >"$c"; done
	env LD_PRELOAD=$LIB MTEALLOC_OPTIONS=mode=asymm:verbose=1 $T/mte_probe alloc >/tmp/h4 2>&1
	grep -q 'tagging on: mode=asymm' /tmp/h4 && ok "asymm: used, the CPU has MTE3" ||
		bad "asymm: not used on an MTE3 CPU"
	# the read after free is checked synchronously: address and all
	caught use-after-free use-after-free 139 mode=asymm
	for c in /sys/devices/system/cpu/cpu[0-9]*/mte_tcf_preferred; do
		echo async >"$c"; done
fi
env LD_PRELOAD=$LIB MTEALLOC_OPTIONS=recover=1 $E/use-after-free >/tmp/h4 2>&1
st=$?
[ $st -eq 0 ] && grep -q '^ERROR: mtealloc: use-after-free' /tmp/h4 &&
	ok "recover=1: reported, and the program finished (status 0)" ||
	bad "recover=1: status $st"

echo "== heap 7. mtectl on a live tagged heap"
env LD_PRELOAD=$LIB $T/mte_probe heap >/tmp/heap 2>&1 &
pid=$!
i=0
while ! grep -q '^heap: pid .* ready' /tmp/heap && [ $i -lt 100 ]; do
	sleep 0.2; i=$((i + 1)); done
sed 's/^/  /' /tmp/heap
set -- $(sed -n 's/^heap: chunk \(0x[0-9a-f]*\) tag \([0-9]*\) usable \([0-9]*\)$/\1 \2 \3/p' /tmp/heap | head -n 1)
if [ $# -ne 3 ]; then
	bad "the heap program did not start"
else
	chunk=$1 tag=$2 usable=$3
	mtectl inspect "$pid" >/tmp/inspect
	st=$?
	sed 's/^/  /' /tmp/inspect | head -n 40
	[ $st -eq 0 ] && ok "inspect: status 0" || bad "inspect: status $st"
	# the heap extent holding the chunk is listed as a tagged (mt) mapping
	sed -n '/^Tagged mappings/,/^$/p' /tmp/inspect >/tmp/mt
	listed=
	while read -r start end rest; do
		case $start in 0x*)
			[ $((chunk)) -ge $((start)) ] && [ $((chunk)) -lt $((end)) ] &&
				listed="$start-$end" ;;
		esac
	done </tmp/mt
	[ -n "$listed" ] &&
		ok "inspect: the heap extent holding the chunk is a tagged mapping ($listed)" ||
		bad "inspect: no tagged mapping holds $chunk"
	grep -q 'tagged RSS (kB)  *[1-9]' /tmp/inspect &&
		ok "inspect: tagged mappings and their RSS" ||
		bad "inspect: no tagged RSS"
	grep -q "tagged_allocs  *[1-9]" /tmp/inspect &&
		ok "inspect: libmtealloc's live stats (tagged_allocs non-zero)" ||
		bad "inspect: no live tagged_allocs"
	# the tags mtectl reads over the chunk are the one libmtealloc gave it
	# (mtectl shows whole rows: take the chunk's own granules)
	got=$(mtectl tags --json "$pid" "$chunk" "$usable" |
	      sed -n 's/.*"address": "\(0x[0-9a-f]*\)", "tag": \([0-9]*\)}.*/\1 \2/p' |
	      while read -r a t; do
		[ $((a)) -ge $((chunk)) ] && [ $((a)) -lt $((chunk + usable)) ] &&
			echo "$t"
	      done | sort -u | tr '\n' ' ')
	n=$(mtectl tags --json "$pid" "$chunk" "$usable" | grep -c '"tag": ')
	[ "$(echo $got)" = "$tag" ] && [ "$n" -ge $((usable / 16)) ] &&
		ok "tags: every granule of the live chunk has the tag libmtealloc gave it ($tag)" ||
		bad "tags: mtectl read '$got' over the chunk, libmtealloc gave $tag"
	# and past its end, the next granule is another chunk's header: tag 0
	after=$(mtectl tags --json "$pid" "$chunk" "$usable" |
		grep "\"address\": \"$(printf '0x%x' $((chunk + usable)))\"" |
		sed -n 's/.*"tag": \([0-9]*\)}.*/\1/p')
	[ "$after" = 0 ] && ok "tags: the granule after the chunk has tag 0" ||
		bad "tags: the granule after the chunk has tag '$after'"
	mtectl inspect --address "$chunk" "$pid" >/tmp/around
	st=$?
	sed -n '/^Allocation tags/,$p' /tmp/around | sed 's/^/  /'
	[ $st -eq 0 ] && grep -q "\[$(printf %x "$tag")\]" /tmp/around &&
		ok "inspect --address: the chunk's granule marked with its tag" ||
		bad "inspect --address: status $st"
	kill "$pid"
fi

echo "== heap 8. the kernel log is clean"
# no warning since boot; and no page left stuck by this run (guest.sh's
# series scenario makes some on purpose, before it)
kernel_log_clean "$log0"

echo "guest-heap: $pass passed, $fail failed"
[ $fail -eq 0 ]
