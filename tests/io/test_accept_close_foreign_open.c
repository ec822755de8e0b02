/* rg_close of a listener from a thread outside the runtime, while its
 * owner waits in the multishot rg_accept and the owner's P is busy (one
 * P, running a task that computes for 400 ms).
 *
 * rg_close: "close a listener with rg_close, not close(2) -- a multishot
 * keeps the listening socket open" (io.h, rg_accept); io/accept.c
 * (rg__accept_close): "so the listener is closed when rg_close returns".
 * From a task that holds: the closer waits for the multishot's final CQE.
 * From a thread that cannot park, rg_close posted the retirement to the
 * home P and returned at once, close(2) included: the kernel's multishot
 * still held the listening socket, which went on completing handshakes
 * (and the port stayed bound) until that P got round to the request.  A
 * connect right after rg_close returned succeeded, every run (0 = the
 * connect went through; the fix: -ECONNREFUSED).
 * test_accept_close_foreign_open_epoll.c: the same on the epoll backend,
 * where rg_close hands calls waiting on the fd a dup of their own (they
 * keep the file), but a waiting accept -EBADF: a dup would keep the
 * listener listening. */
// ctest-timeout: 60
// ctest-needs-uring
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>

#include "io_test.h"

static int g_l, g_port;
static _Atomic int g_go, g_closed;
static _Atomic int64_t g_owner_res = 1;
static _Atomic int g_connect_res = 1;

static void owner(void *arg)
{
	(void)arg;
	CHECK_EQ(rg_accept(g_l, NULL, NULL, rg_now() + MS), -ETIMEDOUT);
	atomic_store(&g_owner_res, rg_accept(g_l, NULL, NULL, rg_now() + 5000 * MS)); /* multishot */
}

static void *closer(void *arg)
{
	(void)arg;
	while (!atomic_load(&g_go))
		sched_yield();
	usleep(20 * 1000); /* the P is busy with main's computation */
	CHECK_EQ(rg_close(g_l), 0);
	atomic_store(&g_closed, 1);
	atomic_store(&g_connect_res, t_try_connect(g_port, 200));
	return NULL;
}

static intptr_t join(void *arg) { return pthread_join(*(pthread_t *)arg, NULL); }

static int main_fn(void *arg)
{
	(void)arg;
	g_l = t_listen(AF_INET, &g_port);
	CHECK(g_l >= 0);
	int64_t id = rg_go(owner, NULL);
	CHECK(id > 0);
	rg_sleep(10 * MS);
	t_wait_parked(id);
	rg_sleep(10 * MS); /* the P sleeps: the multishot is in the kernel */
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, closer, NULL), 0);
	atomic_store(&g_go, 1);
	/* keep the only P busy (no scheduling point) */
	int64_t t0 = rg_now();
	while (rg_now() - t0 < 400 * MS)
		;
	CHECK_EQ(rg_blocking(join, &th), 0);
	/* the owner's wake may still be on its way (epoll: its P wakes it) */
	for (int64_t end = rg_now() + 10000 * MS; atomic_load(&g_owner_res) == 1 && rg_now() < end;)
		rg_sleep(MS);
	printf("rg_close from the thread, then connect(2) to the port: %d (%s)\n", atomic_load(&g_connect_res),
	       atomic_load(&g_connect_res) == -ECONNREFUSED ? "refused: the listener is closed" : "the listener still listens");
	printf("the owner's rg_accept: %lld\n", (long long)atomic_load(&g_owner_res));
	fflush(stdout);
	CHECK_EQ(atomic_load(&g_connect_res), -ECONNREFUSED);
	CHECK_EQ(atomic_load(&g_owner_res), -EBADF);
	return 0;
}

int main(void)
{
	CHECK_EQ(t_run(main_fn, 1), 0);
	return T_PASS;
}
