/*
 * io/fault.c — RINGO_FAULTS: injected short transfers, -EAGAIN, -ENOBUFS,
 * -ECONNRESET and delays, so code built on io/ can prove it loses nothing.
 *
 *   RINGO_FAULTS=short:0.2,eagain:0.1,enobufs:0.05,reset:0.001,delay:0.01,delay_us:500,seed:7
 *
 * Each kind:rate makes that fault happen on that fraction of the calls it
 * applies to (rates 0..1; a kind without a rate gets 0.1):
 *   short    recv/send/read/write/pread/pwrite move at most a random part
 *            of the buffer (>= 1 byte): the short count is real, no byte is
 *            lost or invented;
 *   eagain   a deadline-0 call (socket, read/write, poll) returns -EAGAIN
 *            without trying (blocking calls never get -EAGAIN);
 *   enobufs  rg_send/rg_sendmsg returns -ENOBUFS, nothing sent;
 *   reset    rg_recv/rg_send/rg_recvmsg/rg_sendmsg returns -ECONNRESET,
 *            nothing moved (the socket itself is untouched: the caller is
 *            expected to close it, as after a real reset);
 *   delay    the task sleeps delay_us (default 1000) before the call,
 *            but not past the call's deadline: a delay that reaches it
 *            ends the call there with -ETIMEDOUT, nothing tried.
 * seed:N picks another sequence of faults (the calls hit still depend on
 * scheduling when several tasks run).  An unknown word is
 * reported once on stderr and ignored.  Parsed at the first rg_run.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "io/io_int.h"

int rg__io_faults_on;

enum { F_SHORT, F_EAGAIN, F_ENOBUFS, F_RESET, F_DELAY, F_N };
static const char *const names[F_N] = { "short", "eagain", "enobufs", "reset", "delay" };
static uint32_t rate[F_N];   /* out of 2^32 - 1 */
static int64_t delay_ns = 1000000;
static uint64_t seed = 0x9e3779b97f4a7c15ull;
static _Atomic uint64_t hits[F_N];
/* A counter-based generator (splitmix64): no thread-local state, which
 * would not survive a task moving threads across the delay's sleep. */
static _Atomic uint64_t ctr;

static uint32_t rnd(void)
{
	uint64_t z = atomic_fetch_add_explicit(&ctr, 0x9e3779b97f4a7c15ull, memory_order_relaxed) + seed;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static bool hit(int k)
{
	if (!rate[k] || rnd() > rate[k])
		return false;
	atomic_fetch_add_explicit(&hits[k], 1, memory_order_relaxed);
	return true;
}

/* Parses RINGO_FAULTS; called by rg_run's backend choice. */
void rg__io_faults_init(void)
{
	const char *env = getenv("RINGO_FAULTS");
	const char *b = getenv("RINGO_IO_BATCH"); /* tuning knob, see io/uring.c */
	if (b && atoi(b) > 0)
		rg__io_batch = (unsigned)atoi(b);
	rg__io_faults_on = 0;
	atomic_store(&ctr, 0);
	memset(rate, 0, sizeof rate);
	if (!env || !*env)
		return;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", env);
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(tok, ':');
		if (!colon)
			colon = strchr(tok, '=');
		const char *val = colon ? colon + 1 : NULL;
		if (colon)
			*colon = 0;
		if (!strcmp(tok, "seed") && val) {
			seed = strtoull(val, NULL, 0);
			continue;
		}
		if (!strcmp(tok, "delay_us") && val) {
			delay_ns = strtoll(val, NULL, 0) * 1000;
			continue;
		}
		int k = 0;
		while (k < F_N && strcmp(tok, names[k]))
			k++;
		if (k == F_N) {
			rg__log("RINGO_FAULTS: unknown fault '%s' ignored", tok);
			continue;
		}
		double r = val ? strtod(val, NULL) : 0.1;
		if (r < 0)
			r = 0;
		if (r > 1)
			r = 1;
		rate[k] = (uint32_t)(r * 4294967295.0);
		rg__io_faults_on = 1;
	}
	if (rg__io_faults_on)
		rg__log("io: injecting faults: %s", env);
}

static bool is_sock_data(int op)
{
	return op == RG__OP_RECV || op == RG__OP_SEND || op == RG__OP_RECVMSG || op == RG__OP_SENDMSG;
}

/* A short transfer must stay a real one, which it is only on a byte
 * stream: on a datagram or seqpacket socket it would cut the message (a
 * shorter one sent; a received one's tail discarded), and on an O_DIRECT
 * file (or a packet-mode pipe) a random length is misaligned (-EINVAL).
 * Two system calls, made only when faults are injected. */
static bool can_shorten(const rg__io_req *q)
{
	int fl = fcntl(q->fd, F_GETFL);
	if (fl < 0 || (fl & O_DIRECT))
		return false;
	int type = 0;
	socklen_t l = sizeof type;
	if (getsockopt(q->fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0 && type != SOCK_STREAM)
		return false;
	return true;
}

/* The injected delay stands for a slow call, which the call's deadline
 * still bounds.  Sleeping the whole delay after run()'s deadline check
 * returned up to delay_us past the deadline, with the op done after it
 * (a byte taken or sent, a connection accepted) where the deadline says
 * -ETIMEDOUT.  So sleep until the deadline at most, and if it has passed
 * by then (or the sleep ended late), fail as a past deadline does.  True:
 * the call ends with -ETIMEDOUT. */
static bool delay(int64_t deadline)
{
	int64_t until = rg_now() + delay_ns;
	if (deadline > 0 && deadline < until)
		until = deadline;
	rg_sleep_until(until);
	return deadline > 0 && deadline <= rg_now();
}

int64_t rg__fault_before(rg__io_req *q, int64_t deadline, bool nonblock)
{
	if (hit(F_DELAY) && delay(deadline))
		return -ETIMEDOUT;
	if (nonblock && (is_sock_data(q->op) || q->op == RG__OP_READ || q->op == RG__OP_WRITE ||
	                 q->op == RG__OP_POLL || q->op == RG__OP_ACCEPT) && hit(F_EAGAIN))
		return -EAGAIN;
	if ((q->op == RG__OP_SEND || q->op == RG__OP_SENDMSG) && hit(F_ENOBUFS))
		return -ENOBUFS;
	if (is_sock_data(q->op) && hit(F_RESET))
		return -ECONNRESET;
	if ((q->op == RG__OP_RECV || q->op == RG__OP_SEND || q->op == RG__OP_READ || q->op == RG__OP_WRITE) &&
	    q->len > 1 && rate[F_SHORT] && can_shorten(q) && hit(F_SHORT))
		q->len = 1 + rnd() % (q->len - 1);
	return 1;
}

/* For tests: how often each fault fired. */
uint64_t rg__io_fault_hits(int kind)
{
	return kind >= 0 && kind < F_N ? atomic_load(&hits[kind]) : 0;
}
