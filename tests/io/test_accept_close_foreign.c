/* rg_close of a listener from a thread outside the runtime while its owner
 * waits in the multishot rg_accept (the owner's second call in a row on
 * it).  The owner must return -EBADF, as when a task closes it.  It used to
 * be woken by the multishot's end without the closed mark, re-arm on the
 * fd number, which the thread had meanwhile reused for a new listener, and
 * accept a connection made to that one (found by the io review).
 * test_accept_close_foreign_epoll.c runs it on the epoll backend, which
 * has no multishot: there the owner waited out its deadline (the close
 * left its readiness wait alone), and then accepted from the new
 * listener that got the number. */
// ctest-timeout: 60
// ctest-needs-uring
#include <pthread.h>

#include "io_test.h"

#define ROUNDS 20

static int g_l1;
static _Atomic int64_t g_owner_res;
static _Atomic int g_parked, g_done;
static _Atomic int64_t g_owner_id;

static void owner(void *arg)
{
	atomic_store(&g_owner_id, rg_self());
	CHECK_EQ(rg_accept(g_l1, NULL, NULL, rg_now() + MS), -ETIMEDOUT);
	atomic_store(&g_parked, 1);
	atomic_store(&g_owner_res, rg_accept(g_l1, NULL, NULL, rg_now() + 5000 * MS));
	atomic_store(&g_done, 1);
}

struct closer {
	int l2, port2, client;
	_Atomic int done;
};

static void *closer_fn(void *arg)
{
	struct closer *c = arg;
	CHECK_EQ(rg_close(g_l1), 0);
	/* the number again, for a new listener, and a connection to it */
	c->l2 = t_listen(AF_INET, &c->port2);
	CHECK(c->l2 >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)c->port2),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	c->client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(c->client >= 0);
	CHECK(connect(c->client, (struct sockaddr *)&sa, sizeof sa) == 0);
	atomic_store(&c->done, 1);
	return NULL;
}

static int main_fn(void *arg)
{
	int reused = 0;
	for (int round = 0; round < ROUNDS; round++) {
		int port;
		g_l1 = t_listen(AF_INET, &port);
		CHECK(g_l1 >= 0);
		atomic_store(&g_parked, 0);
		atomic_store(&g_done, 0);
		CHECK(rg_go(owner, NULL) > 0);
		while (!atomic_load(&g_parked))
			rg_sleep(MS / 4);
		t_wait_parked(atomic_load(&g_owner_id));
		int l1 = g_l1;
		struct closer c = { .done = 0 };
		pthread_t th;
		CHECK(pthread_create(&th, NULL, closer_fn, &c) == 0);
		/* not pthread_join at once: it would hold the P, which
		 * rg_close's flush of queued SQEs may wait for */
		while (!atomic_load(&c.done))
			rg_sleep(MS / 4);
		CHECK(pthread_join(th, NULL) == 0);
		reused += c.l2 == l1;
		while (!atomic_load(&g_done))
			rg_sleep(MS / 2);
		int64_t r = atomic_load(&g_owner_res);
		if (r != -EBADF)
			printf("round %d: the owner's rg_accept on the closed listener returned %lld\n", round,
			       (long long)r);
		CHECK_EQ(r, -EBADF);
		close(c.client);
		close(c.l2);
	}
	printf("%s, %d P: %d rounds (the number reused in %d), each -EBADF\n", rg_io_backend(), rg_procs(), ROUNDS,
	       reused);
	return 0;
}

int main(void)
{
	CHECK_EQ(t_run(main_fn, 1), 0);
	CHECK_EQ(t_run(main_fn, 2), 0);
	return T_PASS;
}
