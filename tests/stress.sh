#!/bin/sh
# stress.sh - the model-based heap test (tests/model/) under libmtealloc,
# in every configuration: a seeded random sequence over the whole
# allocation API, several threads, a fork in the middle, checked against
# a model of the heap after every step.  Under qemu-aarch64 (or on an MTE
# machine) it runs tagged in each mode; natively it runs the
# pass-through.  Each configuration must exit 0 with no report, and the
# tagged ones must have tagged.
#
# make check runs STRESS_STEPS=200000 per configuration with fixed seeds;
# make stress runs it long (STRESS_STEPS, STRESS_SEED, STRESS_ONLY).
. "${top_srcdir:-.}/tests/lib.sh"

stress="$top_builddir/tests/stress"
[ -x "$stress" ] || { echo "SKIP: $stress not built"; exit 77; }
steps=${STRESS_STEPS:-200000}
only=${STRESS_ONLY:-}
case $steps in ''|*[!0-9]*|0)
	echo "stress.sh: STRESS_STEPS must be a positive number, not '$steps'" >&2
	exit 2 ;;
esac
case ${STRESS_SEED:-} in *[!0-9]*)
	echo "stress.sh: STRESS_SEED must be a number, not '$STRESS_SEED'" >&2
	exit 2 ;;
esac

# config NAME SEED OPTIONS TAGGED ARGS...: one configuration.  TAGGED=1:
# tagged_allocs must be non-zero where the machine tags.
config() {
	name=$1 seed=${STRESS_SEED:-$2} opts=$3 tagged=$4; shift 4
	case " $only " in "  "|*" $name "*) ;; *) return ;; esac
	start=$(date +%s)
	run_lib "print_stats=1:$opts" "$stress" --seed "$seed" \
		--steps "$steps" "$@" >"$tmp/out" 2>"$tmp/err"
	st=$?
	secs=$(( $(date +%s) - start ))
	sed -n 's/^model: seed=/    seed=/p' "$tmp/out"
	if [ $st -ne 0 ] || grep -q 'ERROR: mtealloc\|^model: FAIL' "$tmp/err"; then
		bad "$name ($opts $*): status $st in ${secs}s"
		grep -v '^mtealloc: stats:' "$tmp/err" | head -n 40 | sed 's/^/    /'
		return
	fi
	n=$(stat_of tagged_allocs "$tmp/err")
	if [ "$tagged" = 1 ] && tagging_expected && [ "${n:-0}" -eq 0 ]; then
		bad "$name: nothing was tagged (tagged_allocs=${n:-none})"
		return
	fi
	ok "$name: $steps steps, seed $seed, clean in ${secs}s (tagged_allocs=${n:-0})"
}

# churn OPTIONS: the program of issue 15's report, in one mode.
churn="$top_builddir/tests/churn"
churn() {
	case " $only " in "  ") ;; *) return ;; esac
	run_lib "$1" "$churn" >"$tmp/out" 2>"$tmp/err"
	st=$?
	if [ $st -eq 0 ] && grep -q '^churn: ok' "$tmp/out" &&
	   ! grep -q 'ERROR: mtealloc' "$tmp/err"; then
		ok "churn (issue 15's program) with ${1:-no options}"
	else
		bad "churn with ${1:-no options}: status $st"
		head -n 30 "$tmp/err" | sed 's/^/    /'
	fi
}

echo "stress: $steps steps per configuration${STRESS_SEED:+, seed $STRESS_SEED}"
if tagging_expected; then
	config sync 1 mode=sync 1 --threads 1 --slots 4096
	config sync-threads 2 mode=sync 1 --threads 4
	config async 3 mode=async 1 --threads 4
	config no-traces 4 mode=sync:alloc_traces=0 1 --threads 4
	config small-cache 5 mode=sync:cache_slots=1 1 --threads 4
	# tagging turned on halfway, over a populated heap
	config late-switch 6 mode=off 1 --threads 4 \
		--switch-at $((steps / 8))
	config off 7 mode=off 0 --threads 4
	for opts in mode=sync mode=async mode=asymm mode=off \
		    mode=sync:cache_slots=0; do
		churn "$opts"
	done
	# asymm only where the CPU offers it (MTE3): otherwise it is sync
	if run_lib verbose=1:mode=asymm "$stress" --steps 1 --threads 1 \
		--quiet 2>&1 | grep -q 'tagging on: mode=asymm'; then
		config asymm 8 mode=asymm 1 --threads 4
	else
		echo "SKIP: asymm: this CPU has no MTE3 (mode=asymm would run as sync)"
	fi
else
	config pass-through 1 "" 0 --threads 1 --slots 4096
	config pass-through-threads 2 "" 0 --threads 4
	churn ""
fi
finish
