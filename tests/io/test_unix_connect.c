/* rg_connect to an AF_UNIX listener whose backlog is full, with a
 * deadline, under a context with a deadline, and cancelled.  ringo/io.h:
 * -ETIMEDOUT once the deadline has passed (a context's deadline bounds the
 * call's), -ECANCELED for rg_cancel; 0 only when connected.
 *
 * io_uring: such a connect ends up blocking in the kernel's worker (the
 * socket polls writable at once, the non-blocking connect keeps failing
 * -EAGAIN); the LINK_TIMEOUT interrupts it there and the op completes
 * -EINTR (-ERESTARTSYS mapped), with the timeout's own CQE saying
 * -EALREADY: io/uring.c took neither for a timeout and returned -EINTR,
 * an errno no caller of a call with a deadline expects.
 * epoll: see test_unix_connect_epoll.c. */
// ctest-timeout: 60
#include <sys/un.h>

#include "io_test.h"
#include "ringo/sync.h"

static char g_path[64];
static struct sockaddr_storage g_ss;
static int g_len;

struct conn {
	int how; /* 0 deadline, 1 context deadline, 2 rg_cancel, 3 room made
	            at 50 ms (deadline 2 s): connected */
	_Atomic int64_t id, res, took;
	_Atomic int connected, started, done;
};

static void conn_fn(void *arg)
{
	struct conn *c = arg;
	atomic_store(&c->id, rg_self());
	rg_ctx *ctx = NULL;
	if (c->how == 1) {
		CHECK_EQ(rg_ctx_with_timeout(rg_ctx_background(), 200 * MS, &ctx), 0);
		rg_ctx_bind(ctx);
	}
	int s = rg_socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(s >= 0);
	atomic_store(&c->started, 1);
	int64_t t0 = rg_now();
	int64_t dl = c->how == 0 ? t0 + 200 * MS : c->how == 3 ? t0 + 2000 * MS : -1;
	int r = rg_connect(s, (struct sockaddr *)&g_ss, (socklen_t)g_len, dl);
	atomic_store(&c->took, rg_now() - t0);
	struct sockaddr_un peer;
	socklen_t pl = sizeof peer;
	atomic_store(&c->connected, getpeername(s, (struct sockaddr *)&peer, &pl) == 0);
	atomic_store(&c->res, r);
	if (ctx) {
		rg_ctx_bind(NULL);
		rg_ctx_release(ctx);
	}
	close(s);
	atomic_store(&c->done, 1);
}

static void one(int how, int l)
{
	struct conn c = { .how = how };
	CHECK(rg_go(conn_fn, &c) > 0);
	while (!atomic_load(&c.started))
		rg_sleep(MS);
	if (how == 2) {
		rg_sleep(50 * MS);
		CHECK_EQ(rg_cancel(atomic_load(&c.id)), 0);
	}
	int acc = -1;
	if (how == 3) { /* room in the backlog */
		rg_sleep(50 * MS);
		acc = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		CHECK(acc >= 0);
	}
	while (!atomic_load(&c.done))
		rg_sleep(MS);
	int64_t r = atomic_load(&c.res);
	static const char *const names[] = { "deadline 200 ms", "context 200 ms", "rg_cancel at 50 ms",
		                             "room made at 50 ms" };
	printf("%s, %d P, backlog full, %s: rg_connect = %lld after %.1f ms (%s)\n", rg_io_backend(), rg_procs(),
	       names[how], (long long)r, atomic_load(&c.took) / 1e6,
	       atomic_load(&c.connected) ? "connected" : "not connected");
	fflush(stdout);
	if (r == 0)
		CHECK(atomic_load(&c.connected)); /* 0 only when connected */
	else
		CHECK_EQ(r, how == 2 ? -ECANCELED : -ETIMEDOUT);
	if (how == 3) {
		CHECK_EQ(r, 0);
		close(acc);
		/* the connection just made fills the backlog again */
		int a2 = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		CHECK(a2 >= 0);
		close(a2);
		int f = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		CHECK(f >= 0 && connect(f, (struct sockaddr *)&g_ss, (socklen_t)g_len) == 0);
		close(f); /* (queued, then reset with the listener) */
	}
}

static int main_fn(void *arg)
{
	(void)arg;
	int l = rg_listen((struct sockaddr *)&g_ss, (socklen_t)g_len, 1, 0);
	CHECK(l >= 0);
	/* fill the backlog: nobody accepts */
	int fill[16], n = 0;
	for (; n < 16; n++) {
		fill[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		CHECK(fill[n] >= 0);
		if (connect(fill[n], (struct sockaddr *)&g_ss, (socklen_t)g_len) != 0) {
			CHECK(errno == EAGAIN);
			close(fill[n]);
			break;
		}
	}
	CHECK(n < 16);
	for (int how = 0; how < 4; how++)
		one(how, l);
	for (int i = 0; i < n; i++)
		close(fill[i]);
	rg_close(l);
	return 0;
}

int main(void)
{
	snprintf(g_path, sizeof g_path, "/tmp/rg_unix.%d", (int)getpid());
	unlink(g_path);
	g_len = rg_sockaddr(g_path, 0, &g_ss);
	CHECK(g_len > 0);
	CHECK_EQ(t_run(main_fn, 1), 0);
	unlink(g_path);
	CHECK_EQ(t_run(main_fn, 2), 0);
	unlink(g_path);
	printf("OK\n");
	return 0;
}
