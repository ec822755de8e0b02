#!/bin/bash
# scripts/ab_echo.sh — A/B two ringo builds' echo servers (and optionally
# the libuv peer), alternating round by round:
#   A=/tmp/a/echo B=/tmp/b/echo [CONNS=1000 SIZE=64 DUR=3 ROUNDS=5
#   SERVERS="A B uv" PEERS_BIN=/work/shared/peers/bin] scripts/ab_echo.sh
# Each server (`echo PORT 1`) runs on CPU 0, the peers' echo_load on CPU 1;
# prints "round server rps=… p99=… cpu=…" (cpu: server user+sys µs per
# request, from /proc, as scripts/bench_io.sh).  Take medians, or the
# per-round B/A ratio: this VM drifts between minutes.
set -u
P=${PEERS_BIN:-/work/shared/peers/bin}
ROUNDS=${ROUNDS:-5} DUR=${DUR:-3} CONNS=${CONNS:-1000} SIZE=${SIZE:-64}
declare -A CMD=([A]="${A:?A=path to echo}" [B]="${B:?B=path to echo}" [uv]="$P/echo_uv")
HZ=$(getconf CLK_TCK)
port=${PORT_BASE:-19500}
for r in $(seq "$ROUNDS"); do
    for s in ${SERVERS:-A B uv}; do
        port=$((port + 1))
        taskset -c 0 ${CMD[$s]} "$port" 1 >/dev/null 2>&1 &
        pid=$!
        for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
        t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        out=$(taskset -c 1 "$P/echo_load" 127.0.0.1 "$port" "$CONNS" 1 "$SIZE" "$DUR" 2>&1 | tail -n 1)
        t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
        kill "$pid"
        wait "$pid" 2>/dev/null
        req=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$out")
        rps=$(sed -n 's/.*rps=\([0-9.]*\).*/\1/p' <<<"$out")
        p99=$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$out")
        cpu=$(awk -v a="$t0" -v b="$t1" -v r="${req:-0}" -v hz="$HZ" 'BEGIN { printf "%.2f", (r > 0 ? (b - a) * 1e6 / hz / r : 0) }')
        echo "$r $s rps=$rps p99=$p99 cpu=$cpu"
    done
done
