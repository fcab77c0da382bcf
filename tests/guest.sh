#!/bin/sh
# guest.sh - what 'make check-kernel' runs inside the emulated MTE machine
# (kernel-series/run-guest): the kernel scenario of the series, the
# allocator's test suites on a real MTE kernel, tagged, mtectl against a
# live program under libmtealloc, and the whole flow (guest_heap.sh).  Busybox sh.  Ends with "guest: N passed,
# N failed" and a non-zero status on any failure.
. /opt/mtealloc/tests/guest_lib.sh
# traced PATTERN WHAT: the trace read into $tr has a line matching PATTERN
traced() { echo "$tr" | grep -q "$1" && ok "trace: $2" || bad "trace: not seen: $2"; }

echo "== kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs"

echo "== 1-4. populate, mprotect(PROT_MTE), touch a quarter, check data and faults"
if $T/mprotect_lazy 64; then ok "mprotect_lazy"; else bad "mprotect_lazy"; fi

echo "== 5. the allocator's suites on this kernel"
# (the machine tags: check_heap must see it, and check_faults runs its
# MTE cases)
for t in check_unit check_heap check_faults check_mtectl; do
	out=$(MTEALLOC_EXPECT_TAGGING=1 top_builddir=/opt/mtealloc \
	      top_srcdir=/opt/mtealloc $T/$t 2>&1)
	echo "$out" | grep -E 'Checks|:F:|:E:' | cut -c1-200
	if echo "$out" | grep -q '^100%: Checks'; then ok "$t"; else bad "$t"; fi
done
LD_PRELOAD=$LIB MTEALLOC_OPTIONS=verbose=1 $T/mte_probe alloc 2>&1 | sed 's/^/  /'
# secure execution: a setuid program, run by another user, ignores
# MTEALLOC_OPTIONS (log_path above all)
out=$(MTEALLOC_LIB=$LIB MTEALLOC_EXPECT_TAGGING=1 top_builddir=/opt/mtealloc \
      top_srcdir=/opt/mtealloc sh $T/secure.sh 2>&1)
echo "$out" | sed 's/^/  /'
if echo "$out" | grep -q '^[0-9]* passed, 0 failed'; then ok "secure.sh"; else bad "secure.sh"; fi

echo "== 6. mtectl against a live program under libmtealloc"
mtectl status
st=$?
[ $st -eq 0 ] && ok "mtectl status: MTE offered (status 0)" || bad "mtectl status: $st"
LD_PRELOAD=$LIB MTEALLOC_OPTIONS=print_stats=1 $T/mte_probe hold >/tmp/hold 2>&1 &
pid=$!
i=0
while ! grep -q '^hold: tags' /tmp/hold && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
cat /tmp/hold
page=$(sed -n 's/^hold: pid [0-9]* page \(0x[0-9a-f]*\) .*/\1/p' /tmp/hold)
want=$(sed -n 's/^hold: tags //p' /tmp/hold)
if [ -z "$page" ]; then
	bad "the held program did not start"
else
	mtectl inspect "$pid" >/tmp/inspect
	st=$?
	cat /tmp/inspect
	[ $st -eq 0 ] && ok "inspect: status 0" || bad "inspect: status $st"
	grep -q "^ *$pid  *true  *sync " /tmp/inspect &&
		ok "inspect: the thread's mode is sync, tagged addresses on" ||
		bad "inspect: thread mode"
	grep -q "^  $page  " /tmp/inspect &&
		ok "inspect: the PROT_MTE page is listed as tagged" ||
		bad "inspect: tagged mapping $page not listed"
	grep -q "loaded  *yes" /tmp/inspect && grep -q "allocs  *[1-9]" /tmp/inspect &&
		ok "inspect: libmtealloc's live stats" || bad "inspect: stats"
	mtectl inspect --json "$pid" >/tmp/inspect.json
	grep -q '"tagged_mappings": \[' /tmp/inspect.json &&
		grep -q '"stats": {' /tmp/inspect.json &&
		ok "inspect --json" || bad "inspect --json"
	mtectl tags "$pid" "$page" 64
	got=$(mtectl tags --json "$pid" "$page" 256 |
	      sed -n 's/.*"tag": \([0-9]*\)}.*/\1/p' | head -n 16 | tr '\n' ' ')
	[ "$(echo $got)" = "$(echo $want)" ] &&
		ok "tags: what mtectl reads is what the program set ($want)" ||
		bad "tags: mtectl read '$got', the program has '$want'"
	# inspect --address: the report's rows around it, clipped to the page
	# (no row before it); granule 2 of the page is marked
	mtectl inspect --address $(printf '0x%x' $((page + 0x20))) "$pid" >/tmp/around
	st=$?
	sed -n '/^Allocation tags/,$p' /tmp/around
	mark=$(echo $want | cut -d' ' -f3)
	[ $st -eq 0 ] && grep -q "^  $page: .* \[$(printf %x "$mark")\] " /tmp/around &&
		grep -q "^  $(printf '0x%x' $((page + 0x100))):" /tmp/around &&
		[ "$(grep -c '^  0x[0-9a-f]*:' /tmp/around)" -eq 2 ] &&
		ok "inspect --address: the rows around it, its granule marked" ||
		bad "inspect --address: status $st"
	mtectl tags "$pid" 0x10 >/dev/null 2>&1
	[ $? -eq 2 ] && ok "tags: an unmapped address is status 2" || bad "tags unmapped"
	kill "$pid"
fi
mtectl inspect 999999 >/dev/null 2>&1
[ $? -eq 2 ] && ok "inspect: no such process is status 2" || bad "inspect 999999"

echo "== 7. the series' kernel side (only where this kernel has it)"
if grep -q '^mte_tag_storage_reserve ' /proc/vmstat; then
	if dmesg | grep 'MTE tag storage: tag-storage@'; then
		ok "the kernel found the tag-storage region in the device tree"
	else
		bad "no 'MTE tag storage:' line in dmesg"
	fi
	cma=$(sed -n 's/^CmaTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
	[ "${cma:-0}" -ge 32768 ] &&
		ok "the region is lent to the page allocator as CMA (CmaTotal ${cma} kB)" ||
		bad "CmaTotal ${cma:-missing} kB, want the 32768 kB region"
	for c in mte_tag_storage_reserve mte_fault_on_access mte_fault_replay \
		 mte_fault_migrate; do
		grep -q "^$c " /proc/vmstat && ok "/proc/vmstat counts $c" ||
			bad "/proc/vmstat has no $c"
	done
	mtectl status | grep -q 'counters in /proc/vmstat *yes' &&
		ok "mtectl status sees the series' counters" ||
		bad "mtectl status does not see the counters"
	# the trace events, with their latencies, over the same scenario
	ev=/sys/kernel/tracing/events/mte_tag_storage
	if [ -d $ev ]; then
		echo > /sys/kernel/tracing/trace
		echo 1 > $ev/enable
		$T/mprotect_lazy 16 >/dev/null 2>&1
		echo 0 > $ev/enable
		tr=$(grep -E 'mte_(tag_storage_reserve|fault_on_access):' \
			/sys/kernel/tracing/trace)
		echo "$tr" | grep -m 2 'mte_fault_on_access:' | cut -c1-160
		echo "$tr" | grep -m 1 'mte_tag_storage_reserve:' | cut -c1-160
		echo "$tr" | awk '/mte_fault_on_access:.*migrated=0 err=0/ {
			sub(/.*latency_ns=/, ""); n++; s += $1 }
			END { if (n) printf "  %d faults handled, %.1f us each on average\n", n, s / n / 1000 }'
		traced 'mte_fault_on_access: .*tries=1 migrated=0 err=0 latency_ns=[0-9]' \
			"mte_fault_on_access carries its latency"
		traced 'mte_tag_storage_reserve: .*err=0 latency_ns=[0-9]' \
			"mte_tag_storage_reserve carries its latency"
		traced 'mte_fault_on_access: .*tries=4 migrated=0 err=0' \
			"an injected failure shows as a fault that took 4 tries"
		traced 'mte_fault_on_access: .*tries=8 migrated=1 err=0' \
			"endless failures show as 8 tries, then the page migrated"
		traced 'mte_fault_on_access: .*tries=1 migrated=1 err=0' \
			"the page whose block was pinned shows as migrated"
		traced 'mte_fault_on_access: .*tries=0 migrated=1 err=0' \
			"a page in tag storage shows as moved out, nothing reserved for it"
	else
		bad "no trace events under $ev"
	fi
else
	echo "  (the stock kernel: nothing to check)"
fi

echo "== 8. the whole flow: libmtealloc's tagged heap on this kernel"
sh $T/guest_heap.sh >/tmp/guest_heap.out 2>&1
cat /tmp/guest_heap.out
p=$(sed -n 's/^guest-heap: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' /tmp/guest_heap.out)
f=$(sed -n 's/^guest-heap: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' /tmp/guest_heap.out)
[ -n "$p" ] || { p=0; f=1; echo "FAIL: guest_heap.sh did not finish"; }
pass=$((pass + p))
fail=$((fail + f))

echo "guest: $pass passed, $fail failed"
[ $fail -eq 0 ]
