/* rg_run's end retires every acceptor of a P, however many are alive.
 * Retired acceptors stay alive while their owner's list holds them (a
 * task that looped on many listeners, each closed since); rg_run's end
 * handled at most 128 a P, newest first, so with more than that an older
 * acceptor still registered kept its registry entry into the next run,
 * naming the P rg_run had freed: the next run's rg_close of that fd hopped
 * to it (ASan: heap-use-after-free; io_uring only, where acceptors are). */
// ctest-timeout: 120
// ctest-needs-uring
#include <fcntl.h>

#include "io_test.h"

enum { CHURN = 140 };
static int g_lfd;
static _Atomic int churned;

static void owner(void *arg)
{
	/* two calls in a row on one listener: the second makes the
	 * acceptor, and waits in it until the run ends */
	CHECK_EQ(rg_accept(g_lfd, NULL, NULL, rg_now() + MS), -ETIMEDOUT);
	rg_accept(g_lfd, NULL, NULL, -1);
}

static void churner(void *arg)
{
	for (int i = 0; i < CHURN; i++) {
		int port;
		int l = t_listen(AF_INET, &port);
		CHECK(l >= 0);
		CHECK_EQ(rg_accept(l, NULL, NULL, rg_now() + MS / 10), -ETIMEDOUT);
		CHECK_EQ(rg_accept(l, NULL, NULL, rg_now() + MS / 10), -ETIMEDOUT);
		CHECK_EQ(rg_close(l), 0);
		/* the next listener gets another number: this task's list
		 * keeps each retired acceptor (it is pruned only by a later
		 * accept on the same number) */
		CHECK(open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0);
	}
	atomic_store(&churned, 1);
	rg_sleep(3600 * 1000 * MS); /* alive, with its list, until discarded */
}

static int run1(void *arg)
{
	int port;
	g_lfd = t_listen(AF_INET, &port);
	CHECK(g_lfd >= 0);
	int64_t id = rg_go(owner, NULL);
	CHECK(id > 0);
	t_wait_parked(id);
	rg_sleep(5 * MS);
	CHECK(rg_go(churner, NULL) > 0);
	while (!atomic_load(&churned))
		rg_sleep(MS);
	return 0; /* the owner and the churner are discarded */
}

static int run2(void *arg)
{
	/* the listener is still open; no acceptor of this run is on it */
	CHECK_EQ(rg_close(g_lfd), 0);
	int port;
	int l = t_listen(AF_INET, &port);
	CHECK(l >= 0);
	CHECK_EQ(rg_accept(l, NULL, NULL, rg_now() + MS), -ETIMEDOUT);
	CHECK_EQ(rg_accept(l, NULL, NULL, rg_now() + MS), -ETIMEDOUT);
	CHECK_EQ(rg_close(l), 0);
	return 0;
}

int main(void)
{
	if (getenv("RINGO_IO") && !strcmp(getenv("RINGO_IO"), "epoll"))
		SKIP("acceptors are io_uring's");
	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < 4 * CHURN)
		SKIP("needs %d file descriptors", 4 * CHURN);
	CHECK_EQ(t_run(run1, 1), 0);
	CHECK_EQ(t_run(run2, 1), 0);
	printf("accept_many_fini: ok\n");
	return T_PASS;
}
