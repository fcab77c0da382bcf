#!/bin/sh
# guest_bench.sh - the emulated machine's numbers for make bench
# (bench/run-bench boots it on the stock and the patched kernel): Debian's
# sqlite3 building a 100k-row table under the tagged heap, and tagging
# switched on over a populated 64 MiB heap (kernel-series/tests/heap_flow).
# Prints one "bench:" line for each, RUNS times (default 3).  Busybox sh.
. /opt/mtealloc/tests/guest_lib.sh
runs=${1:-3}
sed 's/ROWS/100000/' $T/rows.sql >/tmp/rows.sql
i=0
while [ $i -lt "$runs" ]; do
	measure $B/sqlite3 -batch -init /dev/null :memory: ".read /tmp/rows.sql"
	echo "bench: sqlite3 st=$st wall_ms=$wall_ms mprotect_us=$mprotect_us faults=$faults blocks=$blocks tagged=${tagged:-0}"
	env MTEALLOC_OPTIONS=mode=off $T/heap_flow populated 64 |
		sed -n 's/^flow: populated /bench: populated /p'
	i=$((i + 1))
done
