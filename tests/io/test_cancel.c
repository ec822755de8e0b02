/* rg_cancel: mid-recv (from a task on any P and from a foreign thread),
 * mid-accept, mid-poll, before the call (the next call is cancelled), and a
 * call that completes first keeps its data; -ESRCH for unknown tasks. */
// ctest-timeout: 60
#include <poll.h>
#include <pthread.h>

#include "io_test.h"

struct victim {
	int fd;
	int kind;            /* 0 recv, 1 accept, 2 poll, 3 read into big buffer */
	_Atomic int64_t id;
	_Atomic int started, res;
	_Atomic int finished;
	char buf[4096];
};

static void victim_fn(void *arg)
{
	struct victim *v = arg;
	atomic_store(&v->id, rg_self());
	atomic_store(&v->started, 1);
	int r;
	switch (v->kind) {
	case 0: r = (int)rg_recv(v->fd, v->buf, sizeof v->buf, 0, -1); break;
	case 1: r = rg_accept(v->fd, NULL, NULL, rg_now() + 10000 * MS); break;
	case 2: r = rg_poll(v->fd, POLLIN, -1); break;
	default: r = (int)rg_read(v->fd, v->buf, sizeof v->buf, -1); break;
	}
	atomic_store(&v->res, r);
	/* the buffer is no longer the kernel's: scribble on it */
	memset(v->buf, 0x5a, sizeof v->buf);
	atomic_store(&v->finished, 1);
}

static void *foreign(void *arg)
{
	struct victim *v = arg;
	while (!atomic_load(&v->started))
		usleep(100);
	usleep(20000);
	CHECK_EQ(rg_cancel(atomic_load(&v->id)), 0);
	return NULL;
}

static void cancel_case(int fd, int kind, int from_thread)
{
	struct victim *v = calloc(1, sizeof *v);
	v->fd = fd;
	v->kind = kind;
	CHECK(rg_go(victim_fn, v) > 0);
	pthread_t th;
	if (from_thread) {
		CHECK(pthread_create(&th, NULL, foreign, v) == 0);
	} else {
		while (!atomic_load(&v->started))
			rg_sleep(MS);
		rg_sleep(20 * MS); /* let it park in the kernel */
		CHECK(!atomic_load(&v->finished));
		CHECK_EQ(rg_cancel(atomic_load(&v->id)), 0);
	}
	int64_t t0 = rg_now();
	while (!atomic_load(&v->finished)) {
		rg_sleep(MS);
		CHECK(rg_now() - t0 < 5000 * MS);
	}
	if (from_thread)
		pthread_join(th, NULL);
	CHECK_EQ(atomic_load(&v->res), -ECANCELED);
	free(v);
}

static void sticky(void *arg)
{
	_Atomic int *state = arg;
	while (atomic_load(state) == 0)
		rg_yield();
	int sp[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
	char c;
	/* the cancel came before this call: it is this call's */
	CHECK_EQ(rg_recv(sp[0], &c, 1, 0, -1), -ECANCELED);
	/* and only this one's */
	CHECK_EQ(rg_send(sp[1], "k", 1, 0, -1), 1);
	CHECK_EQ(rg_recv(sp[0], &c, 1, 0, -1), 1);
	close(sp[0]);
	close(sp[1]);
	atomic_store(state, 2);
}

static int main_fn(void *arg)
{
	int before = t_open_fds();
	int n = T_SANITIZED ? 5 : 20;
	for (int i = 0; i < n; i++) {
		int fds[2];
		t_tcp_pair(i & 1 ? AF_INET6 : AF_INET, fds);
		cancel_case(fds[1], 0, i % 4 >= 2);
		/* the connection still works after a cancelled recv */
		char c;
		CHECK_EQ(rg_send(fds[0], "q", 1, 0, -1), 1);
		CHECK_EQ(rg_recv(fds[1], &c, 1, 0, rg_now() + 1000 * MS), 1);
		close(fds[0]);
		close(fds[1]);
	}
	int port;
	int l = t_listen(AF_INET, &port);
	CHECK(l >= 0);
	cancel_case(l, 1, 0);
	cancel_case(l, 1, 1);
	/* accept still works after */
	int c = t_connect(AF_INET, port, -1);
	int s = rg_accept(l, NULL, NULL, rg_now() + 1000 * MS);
	CHECK(s >= 0);
	close(c);
	close(s);
	close(l);
	int pp[2];
	CHECK(pipe2(pp, O_CLOEXEC) == 0);
	cancel_case(pp[0], 2, 0);
	cancel_case(pp[0], 3, 1);
	close(pp[0]);
	close(pp[1]);
	/* cancel before the call */
	_Atomic int state = 0;
	int64_t id = rg_go(sticky, &state);
	CHECK(id > 0);
	CHECK_EQ(rg_cancel(id), 0);
	CHECK_EQ(rg_cancel(id), 0); /* twice: still one cancel */
	atomic_store(&state, 1);
	while (atomic_load(&state) != 2)
		rg_sleep(MS);
	CHECK_EQ(rg_cancel(1 << 30), -ESRCH);
	CHECK_EQ(rg_cancel(-1), -ESRCH);
	CHECK_EQ(t_open_fds(), before);
	return 0;
}

int main(void)
{
	CHECK_EQ(rg_cancel(1), -ESRCH);
	CHECK_EQ(t_run(main_fn, 2), 0);
	return T_PASS;
}
