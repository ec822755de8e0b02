/* rg_cancel and the bound Context's end reaching the same blocked call:
 * the call returns once, and neither leaves a cancel behind for the
 * task's next call.  rg_recv (any backend) and the multishot rg_accept
 * (io_uring: the task's second rg_accept in a row on the listener).
 * On 1 P both reach the blocked call (main does not yield between them).
 * On 2 Ps the task may return between a Context's end and an rg_cancel
 * after it, which then rightly cancels its next call (it waits for main
 * before making it, so it is still there to be cancelled). */
// ctest-timeout: 60
#include "io_test.h"
#include "ringo/sync.h"

struct victim {
	int fd, sock;    /* sock: for the next call's check */
	bool accept;
	rg_ctx *ctx;
	_Atomic int64_t id;
	_Atomic int started, go_next;
	_Atomic int64_t res, next;
	_Atomic int finished;
};

static void victim_fn(void *arg)
{
	struct victim *v = arg;
	atomic_store(&v->id, rg_self());
	char c[8];
	if (v->accept) /* the first of two in a row: the second is the multishot */
		CHECK_EQ(rg_accept(v->fd, NULL, NULL, 0), -EAGAIN);
	rg_ctx_bind(v->ctx);
	atomic_store(&v->started, 1);
	int64_t r = v->accept ? rg_accept(v->fd, NULL, NULL, -1) : rg_recv(v->fd, c, sizeof c, 0, -1);
	rg_ctx_bind(NULL);
	atomic_store(&v->res, r);
	while (!atomic_load(&v->go_next))
		rg_sleep(MS / 2);
	/* the next call, unbound: nothing to read, so -EAGAIN -- unless a
	 * cancel was left pending */
	atomic_store(&v->next, rg_recv(v->sock, c, sizeof c, 0, 0));
	atomic_store(&v->finished, 1);
}

static void one(bool accept, int order)
{
	int sp[2];
	t_unix_pair(sp);
	int port;
	int l = t_listen(AF_INET, &port);
	CHECK(l >= 0);
	struct victim *v = calloc(1, sizeof *v);
	v->fd = accept ? l : sp[0];
	v->sock = sp[0];
	v->accept = accept;
	CHECK_EQ(rg_ctx_with_cancel(rg_ctx_background(), &v->ctx), 0);
	CHECK(rg_go(victim_fn, v) > 0);
	while (!atomic_load(&v->started))
		rg_sleep(MS / 2);
	/* its next park is the call's: both cancels must find it there (one
	 * that came first would end the call after it, under load) */
	t_wait_parked(atomic_load(&v->id));
	rg_sleep(2 * MS);
	CHECK(!atomic_load(&v->finished));
	if (order) {
		CHECK_EQ(rg_cancel(atomic_load(&v->id)), 0);
		rg_ctx_cancel(v->ctx);
	} else {
		rg_ctx_cancel(v->ctx);
		CHECK_EQ(rg_cancel(atomic_load(&v->id)), 0);
	}
	atomic_store(&v->go_next, 1);
	while (!atomic_load(&v->finished))
		rg_sleep(MS / 2);
	printf("  %s, %s first: call %lld, next call %lld\n", accept ? "rg_accept (multishot)" : "rg_recv",
	       order ? "rg_cancel" : "context", (long long)atomic_load(&v->res), (long long)atomic_load(&v->next));
	CHECK_EQ(atomic_load(&v->res), -ECANCELED);
	if (rg_procs() > 1 && order == 0 && atomic_load(&v->next) == -ECANCELED)
		printf("  (the task returned before rg_cancel came)\n");
	else
		CHECK_EQ(atomic_load(&v->next), -EAGAIN);
	rg_ctx_release(v->ctx);
	free(v);
	rg_close(l);
	close(sp[0]);
	close(sp[1]);
}

static int main_fn(void *arg)
{
	(void)arg;
	printf("backend %s\n", rg_io_backend());
	for (int order = 0; order < 2; order++) {
		one(false, order);
		one(true, order);
	}
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	CHECK_EQ(t_run(main_fn, 1), 0);
	CHECK_EQ(t_run(main_fn, 2), 0);
	printf("ctxio_double: ok\n");
	return T_PASS;
}
