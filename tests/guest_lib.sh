# guest_lib.sh - sourced by guest.sh and guest_heap.sh: the paths inside
# the emulated machine (kernel-series/run-guest lays them out), and the
# PASS/FAIL lines and their counts.  Busybox sh.
T=/opt/mtealloc/tests
LIB=/usr/local/lib/libmtealloc.so
pass=0
fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
# a counter of /proc/vmstat (the series adds mte_*)
vm() { sed -n "s/^$1 //p" /proc/vmstat; }
