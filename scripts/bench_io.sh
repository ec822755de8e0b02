#!/bin/bash
# scripts/bench_io.sh — the io suite of scripts/bench.sh: ringo's echo server
# against the peers' echo servers (Go, tokio, libuv, hand-written epoll),
# one after another, each pinned to CPU $SERVER_CPU with the peers'
# echo_load pinned to CPU $CLIENT_CPU, for 64 B and 4 KiB messages at 1, 50
# and 1,000 connections.  Prints, for every server, in the peers' naming:
#
#   bench: echo_<size>_<conns>_<server> <rps> rps
#   bench: echo_<size>_<conns>_<server>_p50 <us> us
#   bench: echo_<size>_<conns>_<server>_p99 <us> us
#   bench: echo_<size>_<conns>_<server>_cpu_us_per_req <us> us
#   bench: echo_<size>_<conns>_<server>_errors <n> errors
#
# server = ringo, go, tokio, libuv, epoll (and ringostream, ringo's echo on
# rg_stream, when SERVERS names it); then ringo against the best peer
# (ratios: rps higher is better, p99 and cpu lower are better):
#
#   bench: echo_<size>_<conns>_ringo_rps_vs_best <x> x
#   bench: echo_<size>_<conns>_ringo_p99_vs_best <x> x
#   bench: echo_<size>_<conns>_ringo_cpu_vs_best <x> x
#
# and, in a separate short run under `perf stat -e raw_syscalls:sys_enter`
# (so the tracing does not touch the figures above), system calls per
# request for ringo (and ringostream, when SERVERS names it) and the epoll
# peer:
#
#   bench: echo_<size>_<conns>_<server>_syscalls_per_req <n> syscalls
#
# CPU per request is the server's user+system time (all its threads, from
# /proc/PID/stat) over the run, divided by the requests echo_load counted.
#
# Each case runs REPEAT rounds, each round every server once in turn (the
# machine may be shared: alternating spreads load bursts over all servers);
# the median run by rps is reported, with its own p50/p99/cpu.
#
# Knobs (environment): DUR=3 (seconds per run, max 8) REPEAT=3 SIZES="64 4096"
# CONNS="1 50 1000" SERVERS="ringo go tokio libuv epoll" SERVER_CPU=0
# CLIENT_CPU=1 PORT_BASE=19100 SYSCALL_DUR=2 (0: skip the syscall runs)
# BUILD_DIR=/tmp/ringo-bench-io (Release build of ringo) PEERS_BIN (built
# peers; default: run /work/shared/peers/setup.sh, or ../shared/peers).
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
DUR=${DUR:-3}
REPEAT=${REPEAT:-3}
[ "$DUR" -gt 8 ] && DUR=8
SIZES=${SIZES:-"64 4096"}
CONNS=${CONNS:-"1 50 1000"}
SERVERS=${SERVERS:-"ringo go tokio libuv epoll"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT_BASE:-19100}
SYSCALL_DUR=${SYSCALL_DUR:-2}
BUILD_DIR=${BUILD_DIR:-/tmp/ringo-bench-io}
TMP=$(mktemp -d /tmp/bench-io.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

log() { echo "bench_io: $*" >&2; }

# --- build ringo (Release) and the peers -----------------------------------
log "building ringo (Release) in $BUILD_DIR"
if ! { cmake -S "$here" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DRINGO_TESTS=OFF >/dev/null &&
       cmake --build "$BUILD_DIR" -j"$(nproc)" --target echo >/dev/null; }; then
    log "ringo build failed"; exit 1
fi
if [ -z "${PEERS_BIN:-}" ]; then
    peers=""
    for d in "$here/../shared/peers" /work/shared/peers; do
        [ -x "$d/setup.sh" ] && { peers=$d; break; }
    done
    [ -n "$peers" ] || { log "peers not found (set PEERS_BIN)"; exit 1; }
    log "building peers ($peers/setup.sh)"
    eval "$("$peers/setup.sh" 2>/dev/null | tail -n 1)"
fi
[ -x "$PEERS_BIN/echo_load" ] || { log "no echo_load in '$PEERS_BIN'"; exit 1; }

server_cmd() { # name port
    case $1 in
    ringo) echo "$BUILD_DIR/echo $2 1" ;;
    ringostream) echo "env ECHO_STREAM=1 $BUILD_DIR/echo $2 1" ;;
    go)    echo "$PEERS_BIN/echo_go $2 1" ;;
    tokio) echo "$PEERS_BIN/echo_tokio $2 1" ;;
    libuv) echo "$PEERS_BIN/echo_uv $2 1" ;;
    epoll) echo "$PEERS_BIN/echo_epoll $2 1" ;;
    *) return 1 ;;
    esac
}

free_port() {
    while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do PORT=$((PORT + 1)); done
    echo "$PORT"
}

wait_listen() { # port pid
    for _ in $(seq 1 100); do
        kill -0 "$2" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

cpu_ticks() { # pid: utime+stime of the whole process, in clock ticks
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

stop() { # pid
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq 1 40); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

HZ=$(getconf CLK_TCK)
declare -A RPS P99 CPU

measure() { # server size conns -> "rps p50 p99 cpu errors" or nothing
    local s=$1 size=$2 conns=$3 port pid out t0 t1
    port=$(free_port); PORT=$((port + 1))
    # shellcheck disable=SC2046
    taskset -c "$SERVER_CPU" $(server_cmd "$s" "$port") >"$TMP/server.log" 2>&1 &
    pid=$!
    if ! wait_listen "$port" "$pid"; then
        log "$s did not start: $(tail -n 2 "$TMP/server.log")"; stop "$pid"; return
    fi
    t0=$(cpu_ticks "$pid")
    out=$(timeout $((DUR + 30)) taskset -c "$CLIENT_CPU" "$PEERS_BIN/echo_load" 127.0.0.1 "$port" "$conns" 1 "$size" "$DUR" 2>&1 | tail -n 1)
    t1=$(cpu_ticks "$pid")
    stop "$pid"
    case $out in
    requests=*) ;;
    *) log "echo_${size}_${conns}_${s} FAILED: $out"; return ;;
    esac
    local req
    req=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$out")
    awk -v o="$out" -v a="$t0" -v b="$t1" -v hz="$HZ" -v r="$req" 'BEGIN {
        n = split(o, f, /[ =]/); for (i = 1; i < n; i += 2) v[f[i]] = f[i + 1]
        printf "%s %s %s %.2f %s\n", v["rps"], v["p50_us"], v["p99_us"], (r > 0 ? (b - a) * 1e6 / hz / r : 0), v["errors"] }'
}

report() { # server size conns runs: the median run by rps is reported
    local s=$1 size=$2 conns=$3 runs=$4 name="echo_${2}_${3}_${1}"
    local med
    med=$(grep -v '^$' <<<"$runs" | sort -n -k1,1 | awk '{ l[NR] = $0 } END { if (NR) print l[int((NR + 1) / 2)] }')
    [ -n "$med" ] || return
    read -r rps p50 p99 cpu errs <<<"$med"
    echo "bench: $name $rps rps"
    echo "bench: ${name}_p50 $p50 us"
    echo "bench: ${name}_p99 $p99 us"
    echo "bench: ${name}_cpu_us_per_req $cpu us"
    echo "bench: ${name}_errors $errs errors"
    RPS[$name]=$rps; P99[$name]=$p99; CPU[$name]=$cpu
}

syscall_case() { # server size conns
    local s=$1 size=$2 conns=$3 port pid out perf_out
    port=$(free_port); PORT=$((port + 1))
    # shellcheck disable=SC2046
    taskset -c "$SERVER_CPU" $(server_cmd "$s" "$port") >"$TMP/server.log" 2>&1 &
    pid=$!
    wait_listen "$port" "$pid" || { stop "$pid"; return; }
    perf stat -x, -e raw_syscalls:sys_enter -p "$pid" -o "$TMP/perf.txt" -- sleep $((SYSCALL_DUR + 1)) &
    local ppid=$!
    sleep 0.3
    out=$(timeout $((SYSCALL_DUR + 30)) taskset -c "$CLIENT_CPU" "$PEERS_BIN/echo_load" 127.0.0.1 "$port" "$conns" 1 "$size" "$SYSCALL_DUR" 2>&1 | tail -n 1)
    wait "$ppid"
    stop "$pid"
    local req calls
    req=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$out")
    calls=$(awk -F, '/raw_syscalls/ { print $1 }' "$TMP/perf.txt" 2>/dev/null)
    if [ -n "$req" ] && [ "$req" -gt 0 ] && [ -n "$calls" ] && [ "$calls" != "<not" ]; then
        # connect phase and idle time add a few calls: the ratio is an upper bound
        awk -v c="$calls" -v r="$req" -v n="echo_${size}_${conns}_${s}" \
            'BEGIN { printf "bench: %s_syscalls_per_req %.3f syscalls\n", n, c / r }'
    else
        log "syscall count for $s failed"
    fi
}

log "DUR=${DUR}s, servers on CPU $SERVER_CPU, echo_load on CPU $CLIENT_CPU"
for size in $SIZES; do
    for conns in $CONNS; do
        # rounds alternate the servers (ringo, go, ..., ringo, go, ...), so
        # a burst of load from elsewhere hits every server alike
        declare -A RUNS=()
        for i in $(seq 1 "$REPEAT"); do
            for s in $SERVERS; do
                RUNS[$s]+="$(measure "$s" "$size" "$conns")"$'\n'
            done
        done
        for s in $SERVERS; do
            report "$s" "$size" "$conns" "${RUNS[$s]:-}"
        done
        r="echo_${size}_${conns}_ringo"
        [ -n "${RPS[$r]:-}" ] || continue
        best=""
        for s in $SERVERS; do
            case $s in ringo*) continue ;; esac
            n="echo_${size}_${conns}_${s}"
            [ -n "${RPS[$n]:-}" ] || continue
            if [ -z "$best" ] || awk -v a="${RPS[$n]}" -v b="${RPS[$best]}" 'BEGIN { exit !(a > b) }'; then
                best=$n
            fi
        done
        [ -n "$best" ] || continue
        awk -v n="$r" -v b="${best##*_}" \
            -v r1="${RPS[$r]}" -v r2="${RPS[$best]}" -v p1="${P99[$r]}" -v p2="${P99[$best]}" \
            -v c1="${CPU[$r]}" -v c2="${CPU[$best]}" 'BEGIN {
                printf "bench: %s_rps_vs_best %.2f x\n", n, (r2 > 0 ? r1 / r2 : 0)
                printf "bench: %s_p99_vs_best %.2f x\n", n, (p2 > 0 ? p1 / p2 : 0)
                printf "bench: %s_cpu_vs_best %.2f x\n", n, (c2 > 0 ? c1 / c2 : 0)
                printf "# %s: best peer by rps is %s\n", n, b }'
    done
done
if [ "$SYSCALL_DUR" -gt 0 ] && command -v perf >/dev/null; then
    for size in $SIZES; do
        for conns in $CONNS; do
            for s in ringo ringostream epoll; do
                case " $SERVERS " in *" $s "*) syscall_case "$s" "$size" "$conns" ;; esac
            done
        done
    done
fi
