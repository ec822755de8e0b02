/* Adversarial io/ cases, second review (three notes on io/, 2026-12).
 * Each case runs in its own rg_run on 1 P and on 2 Ps, on the backend the
 * binary runs on (test_adversarial2_epoll.c is the epoll twin):
 *
 *   stream_rearm    a stream armed by its own rg_stream_recv while still
 *                   on the pool's starved list: the next buffer given back
 *                   re-arms a stream that waits for one, not that one again
 *
 * RG_ADV_CASE=name runs one case only.  The table at the end says which
 * case failed before which fix (fixed 2026-12).
 */
// ctest-timeout: 120
#include <poll.h>
#include <signal.h>
#include <sys/un.h>

#include "io_test.h"

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

/* ---- the cases -------------------------------------------------------------- */

struct tcase {
	const char *name;
	int (*fn)(void *);
	const char *faults;    /* RINGO_FAULTS for this case's runs */
	const char *bug_uring; /* the bug it found on io_uring (fixed) */
	const char *bug_epoll; /* the same on the epoll backend */
};

/* Bugs these cases found, each failing its case before its fix:
 *   fix-1  io_uring streams: rg_stream_recv armed a stream that was still
 *          on its pool's starved list (a buffer had come free meanwhile);
 *          the next buffer given back "re-armed" that armed stream, and
 *          a stream whose task waited, with its data in the socket, stayed
 *          starved beside free buffers until its deadline (or for ever). */
static const struct tcase cases[] = {
	{ "stream_rearm", c_stream_rearm, NULL, "fix-1", NULL },
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
	const char *only = getenv("RG_ADV_CASE");
	bool epoll_env = getenv("RINGO_IO") && !strcmp(getenv("RINGO_IO"), "epoll");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct tcase *c = &cases[i];
		if (only && *only && strcmp(only, c->name))
			continue;
		const char *bug = epoll_env ? c->bug_epoll : c->bug_uring;
		if (bug)
			printf("%s: found %s\n", c->name, bug);
		for (int procs = 1; procs <= 2; procs++) {
			printf("%s, %d P:\n", c->name, procs);
			int64_t t0 = rg_now();
			if (c->faults)
				setenv("RINGO_FAULTS", c->faults, 1);
			CHECK_EQ(t_run(c->fn, procs), 0);
			if (c->faults)
				unsetenv("RINGO_FAULTS");
			printf("%s, %d P: ok (%.0f ms)\n", c->name, procs, (rg_now() - t0) / 1e6);
		}
	}
	return T_PASS;
}
