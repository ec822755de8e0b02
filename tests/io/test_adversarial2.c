/* Adversarial io/ cases, second review (three notes on io/, 2026-12).
 * Each case runs in its own rg_run on 1 P and on 2 Ps, on the backend the
 * binary runs on (test_adversarial2_epoll.c is the epoll twin):
 *
 *   stream_rearm    a stream armed by its own rg_stream_recv while still
 *                   on the pool's starved list: the next buffer given back
 *                   re-arms a stream that waits for one, not that one again
 *   delay_deadline  RINGO_FAULTS=delay longer than the time left before a
 *                   call's deadline: -ETIMEDOUT at the deadline, nothing
 *                   moved (recv, send, poll, accept, a bound context's
 *                   deadline); a shorter delay leaves the call alone
 *   cancel_reuse    task A waits on an fd that is closed and whose number
 *                   another task's socket takes, task B waits on that
 *                   number: rg_cancel(A) ends A's call only
 *
 * RG_ADV_CASE=name runs one case only.  The table at the end says which
 * case failed before which fix (fixed 2026-12).
 */
// ctest-timeout: 120
#include <poll.h>
#include <signal.h>
#include <sys/un.h>

#include "io_adv.h"

struct res {
	_Atomic int64_t r;
	_Atomic int state;    /* 1: started, 2: done */
	int fd;
	int64_t deadline;
	rg_stream *s;
};

static void wait_state(struct res *x, int s)
{
	while (atomic_load(&x->state) < s)
		rg_sleep(MS / 2);
}

/* ---- stream_rearm ------------------------------------------------------- */

/* The pool of this binary's Ps (RINGO_BUFRING, set in main): 2 buffers. */
#define POOL_N 2
#define POOL_SZ 64

static void t_stream_recv(void *arg)
{
	struct res *x = arg;
	rg_buf b;
	atomic_store(&x->state, 1);
	ssize_t r = rg_stream_recv(x->s, &b, x->deadline);
	if (r > 0)
		rg_stream_release(x->s, &b);
	atomic_store(&x->r, r);
	atomic_store(&x->state, 2);
}

static int c_stream_rearm(void *arg)
{
	int h[2], x[2], y[2], w[2];
	t_tcp_pair(AF_INET, h);
	t_tcp_pair(AF_INET, x);
	t_tcp_pair(AF_INET, y);
	t_tcp_pair(AF_INET, w);
	rg_stream *sh, *sx, *sy, *sw;
	/* back to back, with no park between: one home P, so one pool */
	CHECK_EQ(rg_stream_open(&sh, h[1]), 0);
	CHECK_EQ(rg_stream_open(&sx, x[1]), 0);
	CHECK_EQ(rg_stream_open(&sy, y[1]), 0);
	CHECK_EQ(rg_stream_open(&sw, w[1]), 0);

	/* h takes the whole pool and holds it */
	static char data[POOL_N * POOL_SZ];
	CHECK_EQ(rg_send(h[0], data, sizeof data, 0, -1), (ssize_t)sizeof data);
	rg_buf hb[POOL_N];
	size_t got = 0;
	for (int i = 0; i < POOL_N; i++) {
		ssize_t n = rg_stream_recv(sh, &hb[i], rg_now() + 2000 * MS);
		CHECK(n > 0);
		got += (size_t)n;
	}
	CHECK_EQ(got, sizeof data);

	/* w's task waits for a byte that is already in its socket: no buffer,
	 * so w is starved (first on the pool's list) */
	CHECK_EQ(rg_send(w[0], "w", 1, 0, -1), 1);
	struct res ws = { .s = sw, .deadline = rg_now() + 2000 * MS };
	CHECK(rg_go(t_stream_recv, &ws) > 0);
	wait_state(&ws, 1);
	rg_sleep(20 * MS);

	/* x, then y, wait and time out: both left starved, ahead of w */
	rg_buf b;
	CHECK_EQ(rg_stream_recv(sx, &b, rg_now() + 10 * MS), -ETIMEDOUT);
	CHECK_EQ(rg_stream_recv(sy, &b, rg_now() + 10 * MS), -ETIMEDOUT);
	/* a buffer back: y is re-armed; no data for it, the buffer stays free */
	rg_stream_release(sh, &hb[0]);
	/* x waits again: a buffer is free, so its own call arms it */
	CHECK_EQ(rg_stream_recv(sx, &b, rg_now() + 10 * MS), -ETIMEDOUT);
	/* the other buffer back: x is armed already, so this one is w's */
	rg_stream_release(sh, &hb[1]);
	wait_state(&ws, 2);
	int64_t r = atomic_load(&ws.r);
	if (r != 1)
		printf("  w's task, starved with data in its socket and 2 free buffers: %lld\n", (long long)r);
	CHECK_EQ(r, 1);

	rg_stream_close(sh);
	rg_stream_close(sx);
	rg_stream_close(sy);
	rg_stream_close(sw);
	int *all[] = { h, x, y, w };
	for (int i = 0; i < 4; i++) {
		rg_close(all[i][0]);
		rg_close(all[i][1]);
	}
	return 0;
}

/* ---- delay_deadline (RINGO_FAULTS=delay:1,delay_us:300000) ------------------ */

#define DELAY (300 * MS)

/* Late by at most this much (as tests/io/test_deadline.c: 2 vCPUs shared
 * with other suites; t_lag_ns() adds the machine's own lateness). */
#define TOL (T_SANITIZED ? 1000 * MS : 100 * MS)

static void elapsed_check(int64_t t0, int64_t want)
{
	int64_t d = rg_now() - t0;
	int64_t lag = t_lag_ns();
	if (d < want - MS || d > want + TOL + 2 * lag) {
		fprintf(stderr, "deadline off: wanted %lld ms, took %.3f ms (machine lag %.3f ms)\n",
		        (long long)(want / MS), (double)d / MS, (double)lag / MS);
		CHECK(0);
	}
}

static int c_delay_deadline(void *arg)
{
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	char c;
	/* recv with a byte waiting: the deadline comes first; the byte stays */
	CHECK(send(sp[0], "a", 1, 0) == 1);
	int64_t t0 = rg_now();
	ssize_t r = rg_recv(sp[1], &c, 1, 0, t0 + 30 * MS);
	printf("  recv, byte waiting, deadline 30 ms, delay 300 ms: %zd after %.1f ms\n", r,
	       (rg_now() - t0) / 1e6);
	CHECK_EQ(r, -ETIMEDOUT);
	elapsed_check(t0, 30 * MS);
	CHECK_EQ(recv(sp[1], &c, 1, MSG_PEEK | MSG_DONTWAIT), 1);

	/* send with room in the socket: nothing goes out */
	t0 = rg_now();
	r = rg_send(sp[0], "b", 1, 0, t0 + 30 * MS);
	CHECK_EQ(r, -ETIMEDOUT);
	elapsed_check(t0, 30 * MS);
	CHECK_EQ(recv(sp[1], &c, 1, MSG_DONTWAIT), 1);
	CHECK_EQ(c, 'a');
	CHECK(recv(sp[1], &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN);

	/* poll of a writable socket */
	t0 = rg_now();
	CHECK_EQ(rg_poll(sp[0], POLLOUT, t0 + 30 * MS), -ETIMEDOUT);
	elapsed_check(t0, 30 * MS);

	/* accept with a connection waiting (twice in a row, as a loop that
	 * would own a multishot accept on io_uring): it stays in the backlog */
	char path[64];
	snprintf(path, sizeof path, "@rg-adv2-%d", (int)getpid());
	struct sockaddr_storage ss;
	int len = rg_sockaddr(path, 0, &ss);
	CHECK(len > 0);
	int l = rg_listen((struct sockaddr *)&ss, (socklen_t)len, 16, 0);
	CHECK(l >= 0);
	int cl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(connect(cl, (struct sockaddr *)&ss, (socklen_t)len) == 0);
	for (int i = 0; i < 2; i++) {
		t0 = rg_now();
		CHECK_EQ(rg_accept(l, NULL, NULL, t0 + 30 * MS), -ETIMEDOUT);
		elapsed_check(t0, 30 * MS);
	}
	struct pollfd pfd = { .fd = l, .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 0), 1); /* still there */

	/* a bound context's deadline bounds the call as its own does */
	CHECK(send(sp[0], "c", 1, 0) == 1);
	rg_ctx *ctx;
	/* t0 before the context: its deadline counts from its creation, and a
	 * thread descheduled between the two would see the call end early */
	t0 = rg_now();
	CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 30 * MS, &ctx), 0);
	rg_ctx_bind(ctx);
	r = rg_recv(sp[1], &c, 1, 0, -1);
	rg_ctx_bind(NULL);
	rg_ctx_release(ctx);
	CHECK_EQ(r, -ETIMEDOUT);
	elapsed_check(t0, 30 * MS);
	CHECK_EQ(recv(sp[1], &c, 1, MSG_PEEK | MSG_DONTWAIT), 1);

	/* a delay shorter than the time left: the call runs after it */
	t0 = rg_now();
	CHECK_EQ(rg_recv(sp[1], &c, 1, 0, t0 + 5000 * MS), 1);
	CHECK_EQ(c, 'c');
	CHECK(rg_now() - t0 >= DELAY - MS);
	int a = rg_accept(l, NULL, NULL, rg_now() + 5000 * MS);
	CHECK(a >= 0);
	close(a);
	close(cl);
	rg_close(l);
	close(sp[0]);
	close(sp[1]);
	return 0;
}

/* ---- cancel_reuse ------------------------------------------------------- */

static void t_recv(void *arg)
{
	struct res *x = arg;
	char c;
	atomic_store(&x->state, 1);
	atomic_store(&x->r, rg_recv(x->fd, &c, 1, 0, x->deadline));
	atomic_store(&x->state, 2);
}

static int c_cancel_reuse(void *arg)
{
	int pa[2], pb[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pa) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pb) == 0);
	int n = pa[1];
	struct res a = { .fd = n, .deadline = rg_now() + 5000 * MS };
	int64_t ida = rg_go(t_recv, &a);
	CHECK(ida > 0);
	wait_state(&a, 1);
	rg_sleep(20 * MS);
	/* n now names b's socket (A's call keeps the old file on io_uring;
	 * on epoll it may see the new file's readiness: docs/io.md) */
	CHECK_EQ(rg_close(n), 0);
	CHECK(dup2(pb[1], n) == n);
	close(pb[1]);
	struct res b = { .fd = n, .deadline = rg_now() + 5000 * MS };
	CHECK(rg_go(t_recv, &b) > 0);
	wait_state(&b, 1);
	rg_sleep(20 * MS);
	CHECK_EQ(rg_cancel(ida), 0);
	wait_state(&a, 2);
	CHECK_EQ(atomic_load(&a.r), -ECANCELED);
	rg_sleep(50 * MS);
	CHECK_EQ(atomic_load(&b.state), 1); /* B still waits */
	CHECK(send(pb[0], "z", 1, 0) == 1);
	wait_state(&b, 2);
	CHECK_EQ(atomic_load(&b.r), 1);
	close(pa[0]);
	close(pb[0]);
	rg_close(n);
	return 0;
}

/* ---- the cases -------------------------------------------------------------- */

/* Bugs these cases found, each failing its case before its fix:
 *   fix-1  io_uring streams: rg_stream_recv armed a stream that was still
 *          on its pool's starved list (a buffer had come free meanwhile);
 *          the next buffer given back "re-armed" that armed stream, and
 *          a stream whose task waited, with its data in the socket, stayed
 *          starved beside free buffers until its deadline (or for ever).
 *   fix-2  RINGO_FAULTS=delay slept the whole delay after the deadline
 *          check: a call returned up to delay_us past its deadline, with
 *          its op done after the deadline (a byte taken or sent, a
 *          connection accepted) instead of -ETIMEDOUT.
 * cancel_reuse found nothing: rg_cancel finds an op through its task's
 * slot and cancels it by its user_data, never by fd. */
static const struct tcase cases[] = {
	{ "stream_rearm", c_stream_rearm, NULL, "fix-1", NULL },
	{ "delay_deadline", c_delay_deadline, "delay:1,delay_us:300000", "fix-2", "fix-2" },
	{ "cancel_reuse", c_cancel_reuse, NULL, NULL, NULL },
};

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	t_lag_start();
	/* the stream case's pool (read when a P makes its pool) */
	char pool[32];
	snprintf(pool, sizeof pool, "%dx%d", POOL_N, POOL_SZ);
	setenv("RINGO_BUFRING", pool, 1);
	adv_run_cases(cases, sizeof cases / sizeof cases[0], NULL, 0);
	return T_PASS;
}
