/* rg_close of an fd on the epoll backend, from a thread outside the
 * runtime, in the window where a call waiting on the fd has linked its
 * readiness wait but not parked yet (ld --wrap holds rg__io_park_op's
 * entry open until the close has returned).
 *
 * io/epoll.c hands such a call a dup of the fd and must wake it, to wait
 * again on the dup.  Not from the closer's thread: a wake claimed before
 * the task has switched out readies a task that is still running, and
 * another P then runs it on the same stack (core/core.h, "a waker may
 * reach t only once t has switched out").  The P whose table holds the
 * wait wakes it, once it has parked.  Each round the call must get the
 * byte the peer sends after the close.  (Waking from the closer's thread
 * crashed here: a SIGSEGV in the first round, two Ps on one stack.) */
// ctest-timeout: 60
// ctest-env: RINGO_IO=epoll
// ctest-link: -Wl,--wrap=rg__io_park_op
#include <pthread.h>

#include "io_test.h"

#define ROUNDS 20

struct rg__io_op;
int __real_rg__io_park_op(struct rg__task *t, struct rg__io_op *op, int64_t deadline);

static _Atomic int g_hold, g_in_window, g_closed;

/* The reader's readiness wait is linked and armed; it is about to park.
 * Held here (its P's thread spinning) until the closer is done. */
int __wrap_rg__io_park_op(struct rg__task *t, struct rg__io_op *op, int64_t deadline)
{
	if (atomic_exchange(&g_hold, 0)) {
		atomic_store(&g_in_window, 1);
		for (int64_t end = rg_now() + 2000 * MS; !atomic_load(&g_closed) && rg_now() < end;)
			;
	}
	return __real_rg__io_park_op(t, op, deadline);
}

static int g_sp[2];
static _Atomic int64_t g_res;
static _Atomic int g_done;

static void reader(void *arg)
{
	(void)arg;
	char c = 0;
	int64_t r = rg_recv(g_sp[0], &c, 1, 0, rg_now() + 5000 * MS);
	atomic_store(&g_res, r == 1 && c != 'x' ? -1000 : r);
	atomic_store(&g_done, 1);
}

static void *closer(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_in_window))
		sched_yield();
	CHECK_EQ(rg_close(g_sp[0]), 0);
	atomic_store(&g_closed, 1);
	CHECK_EQ(send(g_sp[1], "x", 1, MSG_NOSIGNAL), 1); /* the old file is still there */
	return NULL;
}

static int main_fn(void *arg)
{
	(void)arg;
	CHECK(!strcmp(rg_io_backend(), "epoll"));
	int base = t_open_fds();
	for (int round = 0; round < ROUNDS; round++) {
		t_unix_pair(g_sp);
		atomic_store(&g_in_window, 0);
		atomic_store(&g_closed, 0);
		atomic_store(&g_done, 0);
		atomic_store(&g_hold, 1);
		pthread_t th;
		CHECK(pthread_create(&th, NULL, closer, NULL) == 0);
		CHECK(rg_go(reader, NULL) > 0);
		for (int64_t end = rg_now() + 10000 * MS; !atomic_load(&g_done) && rg_now() < end;)
			rg_sleep(MS);
		CHECK(atomic_load(&g_done));
		CHECK(atomic_load(&g_closed)); /* the close came in the window */
		CHECK(pthread_join(th, NULL) == 0);
		int64_t r = atomic_load(&g_res);
		if (r != 1)
			printf("round %d: rg_recv = %lld\n", round, (long long)r), fflush(stdout);
		CHECK_EQ(r, 1);
		char c;
		CHECK_EQ(rg_recv(g_sp[1], &c, 1, 0, rg_now() + 5000 * MS), 0); /* the dup went with the call */
		close(g_sp[1]);
	}
	CHECK_EQ(t_open_fds(), base);
	printf("%d rounds: closed between the wait's link and its park, each call got its byte\n", ROUNDS);
	return 0;
}

int main(void)
{
	CHECK_EQ(t_run(main_fn, 2), 0);
	CHECK_EQ(t_run(main_fn, 1), 0);
	return T_PASS;
}
