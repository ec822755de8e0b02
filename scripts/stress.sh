#!/usr/bin/env bash
# scripts/stress.sh N TEST [ARGS...] — run a test binary N times as two
# instances at once beside two CPU hogs (every CPU oversubscribed), and
# report the runs that failed.  Timing assumptions that hold on a quiet
# machine break here: a sleep used as synchronisation, a task assumed to
# have reached its call, a P assumed to have left its loop.  It found
# three bugs the quiet suite did not (2026-12-06: core_core_adversarial2
# freed channels still in use, io_pressure closed an fd before its task
# reached rg_recv, rg_run's end tore down a P another still reached).
#   scripts/stress.sh 20 out/asan/core_core_adversarial2 pingpong_fair
# A test binary <module>_<name> gets the environment its source
# tests/<module>/test_<name>.c asks ctest for ("// ctest-env: K=V;K2=V2"),
# as under ctest: run by hand, io_cancel_stress_epoll would test io_uring.
# Variables already set in the caller's environment win.  Logs of failed
# runs: $STRESS_LOGS (default /tmp/stress-logs).  Exits 1 if any run failed.
set -u
[ $# -ge 2 ] || { echo "usage: $0 N TEST [ARGS...]" >&2; exit 2; }
n=$1
shift
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$(basename "$1")
src="$here/tests/${bin%%_*}/test_${bin#*_}.c"
if [ -f "$src" ]; then
    envl=$(sed -n 's|.*ctest-env: *||p' "$src" | head -n 1)
    IFS=';' read -r -a kvs <<<"$envl"
    for kv in "${kvs[@]}"; do
        k=${kv%%=*}
        [ -n "$k" ] && [ -z "${!k+x}" ] && export "$kv" && echo "stress: $kv (from $src)"
    done
fi
logs=${STRESS_LOGS:-/tmp/stress-logs}
mkdir -p "$logs"
hogs=()
for _ in 1 2; do
    (while :; do :; done) &
    hogs+=($!)
done
trap 'kill "${hogs[@]}" 2>/dev/null' EXIT
fails=0
for i in $(seq "$n"); do
    timeout 120 "$@" >"$logs/$bin.a.$i.log" 2>&1 &
    a=$!
    timeout 120 "$@" >"$logs/$bin.b.$i.log" 2>&1 &
    b=$!
    wait $a; ra=$?
    wait $b; rb=$?
    if [ $ra -eq 77 ] && [ $rb -eq 77 ]; then
        echo "stress: skipped (exit 77, as under ctest): $*"
        rm -f "$logs/$bin.a.$i.log" "$logs/$bin.b.$i.log"
        exit 0
    fi
    if [ $ra -ne 0 ] || [ $rb -ne 0 ]; then
        fails=$((fails + 1))
        echo "run $i: exit $ra $rb (logs: $logs/$bin.a.$i.log $logs/$bin.b.$i.log)"
    else
        rm -f "$logs/$bin.a.$i.log" "$logs/$bin.b.$i.log"
    fi
done
echo "stress: $fails of $n runs failed: $*"
[ $fails -eq 0 ]
