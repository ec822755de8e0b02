/* ringo/io.h, rg_accept: "A cancel (rg_cancel, the bound Context) also
 * stops the accepting ahead (connections already accepted stay for the
 * next call)."  It did only for a cancel that reached the task while it
 * waited in rg_accept.  A cancel that was pending when the call started
 * (the task was busy elsewhere when rg_cancel came), or a bound context
 * that had already ended, failed the call in io/io.c's run() before the
 * acceptor was looked at: the multishot stayed armed, and connections that
 * came after the task had been told to stop went on being accepted into
 * its queue -- another task accepting on the listener (a hand-off after
 * the cancelled loop) waited for them in vain.
 *
 * Each case: arm the multishot (two rg_accept in a row), cancel, the call
 * returns -ECANCELED; then a client connects: no fd may be accepted ahead,
 * and a second task's rg_accept on the listener gets the connection.
 * io_uring only (nothing is accepted ahead on epoll: there it passes
 * trivially).  1 and 2 Ps. */
// ctest-timeout: 60
#include <arpa/inet.h>

#include "io_test.h"
#include "ringo/sync.h"

struct other {
	int l;
	_Atomic int64_t res;
	_Atomic int done;
};

static void other_fn(void *arg)
{
	struct other *o = arg;
	atomic_store(&o->res, rg_accept(o->l, NULL, NULL, rg_now() + 1000 * MS));
	atomic_store(&o->done, 1);
}


/* how: 0 rg_cancel pending before the call, 1 a bound context that has
 * already ended */
static void one(int how)
{
	int port;
	int l = t_listen(AF_INET, &port);
	CHECK(l >= 0);
	/* two calls in a row: the second arms the multishot (and times out) */
	CHECK_EQ(rg_accept(l, NULL, NULL, 0), -EAGAIN);
	CHECK_EQ(rg_accept(l, NULL, NULL, rg_now() + 5 * MS), -ETIMEDOUT);
	int base = t_open_fds();

	rg_ctx *ctx = NULL;
	if (how == 0) {
		CHECK_EQ(rg_cancel(rg_self()), 0);
	} else {
		CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &ctx), 0);
		rg_ctx_cancel(ctx);
		rg_ctx_bind(ctx);
	}
	CHECK_EQ(rg_accept(l, NULL, NULL, -1), -ECANCELED);
	rg_ctx_bind(NULL);
	if (ctx)
		rg_ctx_release(ctx);

	/* told to stop: a connection now stays in the backlog */
	int c = t_plain_connect(port);
	rg_sleep(30 * MS);
	int ahead = t_open_fds() - base - 1;
	/* and another task that takes over the listener gets it */
	struct other o = { .l = l };
	CHECK(rg_go(other_fn, &o) > 0);
	while (!atomic_load(&o.done))
		rg_sleep(MS);
	int64_t r = atomic_load(&o.res);
	printf("%s, %d P, %s: %d accepted ahead after the cancel; the other task's rg_accept: %lld\n",
	       rg_io_backend(), rg_procs(), how ? "context ended" : "cancel pending", ahead, (long long)r);
	fflush(stdout);
	CHECK_EQ(ahead, 0);
	CHECK(r >= 0);
	if (r >= 0)
		close((int)r);
	close(c);
	CHECK_EQ(rg_close(l), 0);
	CHECK_EQ(t_open_fds(), base - 1);
}

static int main_fn(void *arg)
{
	(void)arg;
	one(0);
	one(1);
	return 0;
}

int main(void)
{
	CHECK_EQ(t_run(main_fn, 1), 0);
	CHECK_EQ(t_run(main_fn, 2), 0);
	printf("OK\n");
	return 0;
}
