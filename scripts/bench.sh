#!/usr/bin/env bash
# scripts/bench.sh <suite> — build ringo in Release, run its benchmarks for
# the suite and the matching peers (../shared/peers) in the same run, and
# print one line per figure, "bench: <name> <value> <unit>", then the ratios.
#   suites: core io sync gc-heap all
set -euo pipefail
cd "$(dirname "$0")/.."
suite=${1:-all}
case $suite in core|io|sync|gc-heap|all) ;; *) echo "usage: $0 core|io|sync|gc-heap|all" >&2; exit 2;; esac
PEERS=${RINGO_PEERS:-$(cd .. && pwd)/shared/peers}
scripts/setup.sh bench >&2
echo "bench.sh: building peers in $PEERS (first time: several minutes)" >&2
eval "$(bash "$PEERS/setup.sh" 2>&1 | tail -n 1)"
: "${PEERS_BIN:?peers did not build}"
cmake -S . -B out/bench -DCMAKE_BUILD_TYPE=Release -DRINGO_TESTS=OFF >/dev/null
cmake --build out/bench -j"$(nproc)" >/dev/null
B=out/bench
LOG=$(mktemp)
RAW=$(mktemp)
trap 'rm -f "$LOG" "$RAW"' EXIT
ROUNDS=${ROUNDS:-3}   # ringo and its peer alternate, ROUNDS times; medians reported
echo "# $(date -u +%F) $(uname -m) $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); core, sync, gc-heap: medians of $ROUNDS alternating rounds; io: see bench_io.sh"

# ratio ringo_name peer_name (lower is better for both): the ratio of the
# two medians, and the median of the per-round ratios with its range.  The
# second pairs each round's figures, which ran seconds apart, so a slow
# phase of the VM that fell on one round moves both of its figures.
ratio() {
    awk -v a="$1" -v b="$2" '
        function med(s,   n, v, i, j, t) { n = split(s, v, " ")
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
            lo = v[1]; hi = v[n]; return v[int((n + 1) / 2)] }
        $1=="bench:" && $2==a {x=$3} $1=="bench:" && $2==b {y=$3}
        $1=="rounds:" && $2==a {na = NF - 2; for (i = 3; i <= NF; i++) ra[i - 2] = $i}
        $1=="rounds:" && $2==b {nb = NF - 2; for (i = 3; i <= NF; i++) rb[i - 2] = $i}
        END { if (!(x > 0 && y > 0)) exit
              printf "ratio: %s / %s = %.3f (%s)", a, b, x / y,
                  (x < y ? sprintf("ringo %.2fx faster", y / x) : sprintf("ringo %.2fx slower", x / y))
              if (na == nb && na > 1) { s = ""; for (i = 1; i <= na; i++) if (ra[i] > 0) s = s " " rb[i] / ra[i]
                  m = med(s); printf "; per round: ringo %.2fx as fast (%.2f-%.2f)", m, lo, hi }
              printf "\n" }' "$LOG"
}

# Median of each figure over the rounds in $RAW, appended to $LOG, and
# each figure's values in round order ("rounds:" lines, for ratio).
medians() {
    awk '$1=="bench:" { v[$2] = v[$2] " " $3; u[$2] = $4 }
         END { for (k in v) { printf "rounds: %s%s\n", k, v[k]
               n = split(v[k], a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
                 if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
               printf "bench: %s %s %s\n", k, a[int((n + 1) / 2)], u[k] } }' "$RAW" | sort | tee -a "$LOG"
    : >"$RAW"
}

run_core() {
    for r in $(seq "$ROUNDS"); do
        "$B/bench_core" -run ringo_ >>"$RAW"
        "$PEERS_BIN/go_micro" -run 'gosched_pingpong_p1|spawn_join_batch10k|spawn_join_each|goroutine_parked_rss' \
            | grep '^bench:' >>"$RAW"
    done
    medians
    ratio ringo_yield_pingpong_p1 gosched_pingpong_p1
    ratio ringo_spawn_join_batch10k spawn_join_batch10k
    ratio ringo_spawn_join_each spawn_join_each
    ratio ringo_task_parked_rss goroutine_parked_rss
}

# One group of cases, ringo's and Go's back to back; odd rounds run ringo
# first, even rounds Go.  This VM has slow phases of 10-20 s (every case
# of both runtimes ~1.5x slower, up to 3x under lock contention): with a
# whole suite per runtime, a phase fell on one runtime's half of a round
# and the ratio said more about the phase than the runtimes.
sync_pair() { # round, then the arguments both programs take ($GO: Go's program, go_micro by default)
    local r=$1 sfx="" order="ringo go" go=${GO:-$PEERS_BIN/go_micro}; shift
    case " $* " in *" -outside "*) sfx=_outside100 ;; esac
    [ $((r % 2)) -eq 0 ] && order="go ringo"
    for w in $order; do
        if [ "$w" = ringo ]; then "$B/bench_sync" "$@"; else "$go" "$@"; fi \
            | grep '^bench:' | sed "s/^bench: \([^ ]*lock_writes[^ ]*\)/bench: \1$sfx/" >>"$RAW"
    done
}

run_sync() {
    [ -x "$B/bench_sync" ] || { echo "bench.sh: no bench_sync yet" >&2; return; }
    # Go's twins of the bench_sync cases go_micro lacks (bench/go/twins)
    local GO_TWINS=
    if command -v go >/dev/null; then
        (cd bench/go && go build -o "../../$B/go_twins" ./twins) && GO_TWINS=$B/go_twins
    fi
    for r in $(seq "$ROUNDS"); do
        sync_pair "$r" -run 'chan_|select_default_send_(full|drained)$'
        [ -z "$GO_TWINS" ] || GO=$GO_TWINS sync_pair "$r" -run 'drained_pace|mutex_(un)?contended'
        sync_pair "$r" -run ctx_cancel
        for p in 0 5 12 15 50; do
            sync_pair "$r" -run "lock_writes_$p%"
            sync_pair "$r" -run "lock_writes_$p%" -outside 100
        done
    done
    medians
    for n in chan_unbuffered_pingpong_p1 chan_unbuffered_pingpong chan_buffered1024_spsc \
             select_default_send_full select_default_send_drained \
             select_default_send_drained_pace10 select_default_send_drained_pace50 mutex_uncontended mutex_contended_procs \
             ctx_cancel_10k_fanout10000_cancel ctx_cancel_10k_fanout10000_all_woken; do
        ratio "ringo_$n" "$n"
    done
    for p in 0 5 12 15 50; do for k in mutex rwmutex; do
        ratio "ringo_lock_writes_${p}pct_$k" "lock_writes_${p}pct_$k"
        ratio "ringo_lock_writes_${p}pct_${k}_outside100" "lock_writes_${p}pct_${k}_outside100"
    done; done
}

run_gc_heap() {
    [ -x "$B/bench_gc_heap" ] || { echo "bench.sh: no bench_gc_heap yet" >&2; return; }
    for r in $(seq "$ROUNDS"); do
        # each size back to back with Go's (sync_pair's reason);
        # alloc_c takes no size, so it runs whole, once a round
        for s in 16 64 256 4096 65536; do
            "$B/bench_gc_heap" 300 "$s" | grep '^bench:' >>"$RAW"
            "$PEERS_BIN/go_micro" -run "^alloc_go(ptr)?_$s\$" | grep '^bench:' >>"$RAW"
        done
        "$PEERS_BIN/alloc_c" | grep '^bench:' >>"$RAW"
    done
    medians
    for s in 16 64 256 4096 65536; do
        ratio "alloc_ringo_noscan_$s" "alloc_go_$s"
        ratio "alloc_ringo_noscan_$s" "alloc_boehmatomic_$s"
        ratio "alloc_ringo_$s" "alloc_goptr_$s"
        ratio "alloc_ringo_$s" "alloc_boehm_$s"
    done
}

run_io() {
    [ -x scripts/bench_io.sh ] || { echo "bench.sh: no io benchmark yet" >&2; return; }
    BUILD_DIR=$B PEERS_BIN=$PEERS_BIN scripts/bench_io.sh | tee -a "$LOG"
}

case $suite in
core) run_core ;;
sync) run_sync ;;
gc-heap) run_gc_heap ;;
io) run_io ;;
all) run_core; run_sync; run_gc_heap; run_io ;;
esac
