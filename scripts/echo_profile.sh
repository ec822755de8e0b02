#!/bin/bash
# scripts/echo_profile.sh — where an echo server's CPU goes: each server in
# turn on CPU 0 with the peers' echo_load (CONNS connections, SIZE-byte
# messages) on CPU 1, `perf record` (cpu-clock) of CPU 0 for 3 s, and the
# server's samples grouped: the kernel's TCP/IP stack (what every server on
# loopback pays per request, the sender's side of loopback included),
# io_uring, epoll, syscall entry/exit, scheduler and interrupts, the rest
# of the kernel, and user space.  The stack's share bounds the CPU per
# request any server on this kernel can reach (bench/RESULTS.md).
#   SERVERS="ringo libuv epoll tokio go" ROUNDS=2 CONNS=50 SIZE=64
#   RINGO_ECHO=out/bench/echo  PEERS_BIN=/work/shared/peers/bin
set -uo pipefail
cd "$(dirname "$0")/.."
SERVERS=${SERVERS:-"ringo libuv epoll tokio go"}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-50}
SIZE=${SIZE:-64}
RINGO_ECHO=${RINGO_ECHO:-out/bench/echo}
PEERS_BIN=${PEERS_BIN:-$(cd .. && pwd)/shared/peers/bin}
PORT=19555
TMP=$(mktemp -d /tmp/echo-profile.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
command -v perf >/dev/null || { echo "echo_profile: needs perf (apt-get install linux-perf)" >&2; exit 1; }
[ -x "$RINGO_ECHO" ] || { echo "echo_profile: no $RINGO_ECHO (build ringo: scripts/bench.sh builds out/bench)" >&2; exit 1; }

cmd() {
	case $1 in
	ringo) echo "$RINGO_ECHO $PORT" ;;
	libuv) echo "$PEERS_BIN/echo_uv $PORT 1" ;;
	epoll) echo "$PEERS_BIN/echo_epoll $PORT" ;;
	tokio) echo "$PEERS_BIN/echo_tokio $PORT 1" ;;
	go) echo "$PEERS_BIN/echo_go $PORT 1" ;;
	*) echo "echo_profile: unknown server $1" >&2; exit 2 ;;
	esac
}

classify() { # perf report lines -> "group share%" lines
	awk '{ pct = $1; sub("%", "", pct); sym = $3
	  if ($2 != "[k]") g = "user"
	  else if (sym ~ /^(tcp|__tcp|ip_|__ip|ipv4|skb|__skb|kfree_skb|__kfree_skb|dev_|__dev|netif|__netif|net_|__net|loopback|sock_|__sock|sk_|__sk_|inet|__inet|release_sock|lock_sock|__release_sock|process_backlog|__napi|napi|validate_xmit|eth_|nf_|consume_skb|__alloc_skb|kmalloc_reserve|__build_skb|dst_|__local_bh|do_softirq|__do_softirq|handle_softirqs|_copy_to_iter|_copy_from_iter|copy_user|rep_movs|__check_object_size|check_heap_object|__virt_addr_valid|simple_copy_to_iter|csum|security_sock|bpf_|__cgroup_bpf|mem_cgroup|refill_stock|page_counter|obj_cgroup|__mod_memcg|memcg|kmem_cache|__kmem_cache|kfree|__slab|slab|__kmalloc|___slab|kmalloc|ktime|read_tsc|bbr_|__x64_sys_sendto|__sys_sendto|__x64_sys_recvfrom|__sys_recvfrom)/) g = "tcp/ip"
	  else if (sym ~ /(^io_|__io_|io_uring)/) g = "io_uring"
	  else if (sym ~ /(epoll|^ep_|__ep_)/) g = "epoll"
	  else if (sym ~ /(syscall|entry_SYSCALL|__x64_sys|fdget|fget|fput|ksys_|syscall_exit|exit_to_user|fpregs|srso|entry_|vfs_read|vfs_write|rw_verify_area)/) g = "syscalls"
	  else if (sym ~ /(schedule|finish_task_switch|try_to_wake|ttwu|enqueue|dequeue|update_|pick_|psi_|wake_up|__wake|default_wake|select_task|idle|hrtimer|tick|raw_spin|native_|rcu_|irq|apic|sched_|set_next|put_prev|account|cgroup_rstat|timerqueue|clockevents|reweight|check_preempt|resched|vruntime|place_entity)/) g = "sched/irq"
	  else g = "other kernel"
	  s[g] += pct; t += pct }
	END { for (g in s) printf "%s %.1f\n", g, 100 * s[g] / t }'
}

for r in $(seq "$ROUNDS"); do
	for s in $SERVERS; do
		taskset -c 0 $(cmd "$s") >/dev/null 2>&1 &
		srv=$!
		sleep 0.5
		taskset -c 1 "$PEERS_BIN/echo_load" 127.0.0.1 $PORT "$CONNS" 1 "$SIZE" 5 >"$TMP/load" 2>&1 &
		ld=$!
		sleep 1
		# the whole of CPU 0 (perf -p missed threads of Go's server),
		# then only the server's samples (--pid: all its threads)
		perf record -q -o "$TMP/data" -F 2000 -C 0 -- sleep 3 >/dev/null 2>&1
		wait $ld
		kill $srv 2>/dev/null; wait $srv 2>/dev/null
		rps=$(grep -o 'rps=[0-9]*' "$TMP/load" | cut -d= -f2)
		printf "%-6s round %d: %7s rps |" "$s" "$r" "${rps:-?}"
		perf report -i "$TMP/data" --pid "$srv" --no-children --sort sym --stdio 2>/dev/null | grep '%' | grep -v '^#' |
			classify | sort -k2 -t' ' -rn | awk '{ n = NF; v = $n; $n = ""; printf " %s%s%%", $0, v }'
		echo
	done
done
